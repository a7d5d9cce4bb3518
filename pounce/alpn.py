"""Which protocol serves a TLS connection: the one the client chose by ALPN.

The server offers ALPN ``h2, http/1.1`` (RFC 9113 §3.2, RFC 7301); once the handshake is done,
``AlpnSelector`` hands the connection to ``H2Protocol`` or ``H1Protocol``. It sits above both
protocols (each of which may hand a cleartext connection over to HTTP/2 itself:
``pounce/http2/negotiate.py``).
"""

from __future__ import annotations

import asyncio
from typing import cast

from pounce.asgi.limits import H2_REFUSE_CONNECTION, over_connection_limit
from pounce.asgi.scope import Address
from pounce.http1.protocol import H1Protocol
from pounce.http2.protocol import H2Protocol
from pounce.state import ServerState

__all__ = ["AlpnSelector"]


class AlpnSelector(asyncio.Protocol):
    """The first protocol of a TLS connection: picks HTTP/2 or HTTP/1.1 by ALPN."""

    def __init__(self, state: ServerState, parser: str, client: Address = None) -> None:
        self.state = state
        self.parser = parser
        self.client = client  # handed on: see H1Protocol's

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        ssl_object = transport.get_extra_info("ssl_object")
        chosen = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
        if chosen == "h2" and over_connection_limit(self.state):
            # Past --limit-connections on HTTP/2: SETTINGS then GOAWAY(last stream 0,
            # NO_ERROR), so the client knows no request was processed and may retry. An
            # HTTP/1.1 connection gets H1Protocol's 503 instead.
            transport.write(H2_REFUSE_CONNECTION)  # type: ignore[attr-defined]  # a write transport (TLS)
            transport.close()
            return
        # (H1Protocol is an asyncio.Protocol by its methods: its base is the cycle's
        # CompiledWriter, which the compiled build needs as its only base.)
        protocol = cast(
            asyncio.Protocol,
            H2Protocol(self.state, client=self.client)
            if chosen == "h2"
            else H1Protocol(self.state, self.parser, self.client),
        )
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
