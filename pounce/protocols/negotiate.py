"""How a connection becomes HTTP/2: ALPN on TLS, the preface on cleartext, ``Upgrade: h2c``.

- TLS: the server offers ALPN ``h2, http/1.1`` (RFC 9113 §3.2, RFC 7301); ``AlpnSelector``
  hands the connection to the protocol the client chose once the handshake is done.
- Prior knowledge (RFC 9113 §3.3): an HTTP/1.1 connection whose first bytes are the client
  preface is switched to ``H2Protocol`` with those bytes (``switch_to_h2``).
- ``Upgrade: h2c`` (RFC 7540 §3.2; removed from RFC 9113 but still sent by curl): a bodyless
  HTTP/1.1 request with a valid ``HTTP2-Settings`` header is answered ``101`` and then, over
  HTTP/2, on stream 1 (``try_h2c_upgrade``).
``--no-http2`` disables all three.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from ..h2connection import CONNECTION_HEADERS, PREFACE
from ..state import ServerState
from .h1_limits import H2_REFUSE_CONNECTION, over_connection_limit
from .h2 import H2Protocol

if TYPE_CHECKING:
    from .h1 import H1Protocol

__all__ = ["PREFACE", "AlpnSelector", "switch_to_h2", "try_h2c_upgrade"]


class AlpnSelector(asyncio.Protocol):
    """The first protocol of a TLS connection: picks HTTP/2 or HTTP/1.1 by ALPN."""

    def __init__(self, state: ServerState, parser: str) -> None:
        self.state = state
        self.parser = parser

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        from .h1 import H1Protocol

        ssl_object = transport.get_extra_info("ssl_object")
        chosen = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
        if chosen == "h2" and over_connection_limit(self.state):
            # Past --limit-connections on HTTP/2: SETTINGS then GOAWAY(last stream 0,
            # NO_ERROR), so the client knows no request was processed and may retry. An
            # HTTP/1.1 connection gets H1Protocol's 503 instead.
            transport.write(H2_REFUSE_CONNECTION)  # type: ignore[attr-defined]
            transport.close()
            return
        protocol: asyncio.Protocol = (
            H2Protocol(self.state) if chosen == "h2" else H1Protocol(self.state, self.parser)
        )
        transport.set_protocol(protocol)
        protocol.connection_made(transport)


def _retire(h1: H1Protocol) -> asyncio.Transport:
    """Detach an HTTP/1.1 protocol (either twin) before HTTP/2 takes over its transport."""
    return h1.detach()


def switch_to_h2(h1: H1Protocol, data: bytes) -> None:
    """Prior knowledge: ``data`` starts with the preface; HTTP/2 takes the connection."""
    transport = _retire(h1)
    h2 = H2Protocol(h1.state)
    transport.set_protocol(h2)
    h2.connection_made(transport)
    h2.data_received(data)


def _tokens(value: bytes) -> set[bytes]:
    return {item.strip(b" \t") for item in value.lower().split(b",")}


def try_h2c_upgrade(
    h1: H1Protocol, scope: dict[str, Any], headers: list[tuple[bytes, bytes]], more_body: bool
) -> bool:
    """Switch to HTTP/2 for an ``Upgrade: h2c`` request; False to answer it as HTTP/1.1.

    RFC 7540 §3.2: the request must carry exactly one HTTP2-Settings header, named in
    Connection. Requests with a body are answered over HTTP/1.1 (a server may ignore the
    upgrade), which avoids reading a body before the switch.
    """
    if more_body or h1.cycle is not None or h1.pipeline or h1.scheme != "http":
        return False
    upgrade = connection = b""
    settings: list[bytes] = []
    for name, value in headers:
        if name == b"upgrade":
            upgrade = value
        elif name == b"connection":
            connection += b"," + value
        elif name == b"http2-settings":
            settings.append(value)
    if len(settings) != 1 or b"h2c" not in _tokens(upgrade):
        return False
    if not {b"upgrade", b"http2-settings"} <= _tokens(connection):
        return False
    h2_scope = dict(scope)
    h2_scope["http_version"] = "2"
    h2_scope["headers"] = [
        (n, v) for n, v in headers if n not in CONNECTION_HEADERS and n != b"http2-settings"
    ]
    h2_scope["extensions"] = {"http.response.trailers": {}}
    # Validate the settings before anything is written (base64url SETTINGS payload).
    from ..h2connection import H2Connection
    from .h2 import settings_from_state

    if not H2Connection(settings_from_state(h1.state)).initiate_upgrade_connection(settings[0]):
        return False
    transport = _retire(h1)
    h2 = H2Protocol(h1.state, upgrade=(settings[0], h2_scope))
    transport.set_protocol(h2)
    h2.connection_made(transport)
    return True
