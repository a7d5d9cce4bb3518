"""``--proxy-protocol``: read the PROXY header of a connection, then hand it to HTTP or TLS.

With the option on, every accepted connection starts with ``ProxyHeaderReader`` (the option
off, the listener never creates it: nothing is added to a connection or a request). It:

1. closes the connection at once when the peer is not in ``--forwarded-allow-ips`` (only a
   trusted proxy may say who the client is);
2. reads the header (``pounce/proxy_protocol.py``) within ``--timeout-request-header``, swept
   by the server's tick like any other connection deadline;
3. on a complete header, hands the transport and the bytes after the header to the protocol
   the listener would have started without the option (HTTP/1.1, which may become h2c or a
   WebSocket), or, on a TLS listener, starts TLS first (``loop.start_tls``) and then hands the
   TLS transport to ``AlpnSelector``. The header's source address is handed to that protocol
   as the connection's client: in every scope and the access log.

A missing, malformed, oversized or truncated header (EOF, or the timeout) closes the
connection without a response (the proxy's peer gets nothing it could take for an answer),
counted in ``ServerState.proxy_protocol_rejected`` by kind and logged: the first time for
each kind at INFO (a misconfigured proxy is visible), then at DEBUG.

Why TLS goes through ``loop.start_tls`` rather than the listener's ``ssl=``: the header comes
before the ClientHello (the proxy relays the client's TLS bytes untouched), so the loop's own
TLS wrapping would read it as a broken handshake. ``start_tls`` upgrades the connection after
the header on both asyncio and uvloop, keeping their TLS code (and the handshake timeout).
The bytes that came after the header in the same read (the start of the ClientHello) are fed
to the TLS protocol before its ``connection_made``, while the transport is paused: they go to
its incoming buffer, ahead of anything read later.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from typing import Any

from pounce.asgi.scope import Address
from pounce.proxy import ProxyTrust
from pounce.proxy_protocol import Rejected, parse
from pounce.state import ServerState

__all__ = ["ProxyHeaderReader"]

logger = logging.getLogger("pounce.error")

# Makes the protocol after the header, given the client it names (None: the peer's own).
ProtocolFactory = Callable[[Address], asyncio.Protocol]


class ProxyHeaderReader(asyncio.Protocol):
    """The first protocol of a connection under ``--proxy-protocol``."""

    def __init__(
        self,
        state: ServerState,
        trust: ProxyTrust,
        next_protocol: ProtocolFactory,
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        self.state = state
        self.trust = trust
        self.next_protocol = next_protocol
        self.ssl_context = ssl_context
        self.transport: asyncio.Transport | None = None
        self.deadline = 0.0
        self._buffer = b""
        self._client: tuple[str, int] | None = None
        # After the header on TLS: the bytes read before start_tls takes the transport, then
        # the decrypted bytes that arrive before the hand-over.
        self._raw_ahead: bytes | None = None
        self._tls_pending: bytes | None = None
        self._tls_task: asyncio.Task[None] | None = None
        self._done = False

    # asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream transport
        peer = transport.get_extra_info("peername")
        client = (str(peer[0]), int(peer[1])) if isinstance(peer, tuple) else None
        if not self.trust.trusts_peer(client, transport.get_extra_info("socket")):
            self._reject("untrusted", f"{client or 'a UNIX socket peer'} is not a trusted proxy")
            return
        self.state.connections.add(self)
        self.deadline = self.state.loop.time() + self.state.header_timeout

    def data_received(self, data: bytes) -> None:
        if self._tls_pending is not None:
            self._tls_pending += data  # decrypted, before the hand-over
            return
        if self._raw_ahead is not None:
            self._raw_ahead += data  # the ClientHello, before start_tls takes over
            return
        if self._done:
            return
        self._buffer += data
        result = parse(self._buffer)
        if result is None:
            return
        if isinstance(result, Rejected):
            self._reject(result.kind, result.reason)
            return
        self._finish_header()
        rest = self._buffer[result.consumed :]
        self._buffer = b""
        if self.ssl_context is None:
            self._hand_over(self.transport, result.client, rest)  # type: ignore[arg-type]  # set in connection_made
        else:
            self._client = result.client
            self._raw_ahead = rest
            self._tls_task = self.state.loop.create_task(self._start_tls())

    def eof_received(self) -> bool:
        if not self._done:
            self._reject("truncated", "the connection ended inside the PROXY header")
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._done:  # a reset inside the header (an EOF is seen by eof_received)
            self._reject("truncated", f"the connection was lost inside the PROXY header: {exc}")
        if self._tls_task is not None and not self._tls_task.done():
            self._tls_task.cancel()

    # What the server asks of every connection (pounce/state.py) ------------------------------

    def check_deadline(self, now: float) -> bool:
        self._reject("timeout", "no complete PROXY header within --timeout-request-header")
        return False

    def shutdown(self) -> None:
        self._finish_header()
        if self.transport is not None:
            self.transport.close()

    def is_idle(self) -> bool:
        return True

    # ---------------------------------------------------------------------------------------

    def _finish_header(self) -> None:
        self._done = True
        self.deadline = 0.0
        self.state.connections.discard(self)

    def _reject(self, kind: str, reason: str) -> None:
        self._finish_header()
        counts = self.state.proxy_protocol_rejected
        first = kind not in counts
        counts[kind] = counts.get(kind, 0) + 1
        peer = self.transport.get_extra_info("peername") if self.transport else None
        logger.log(
            logging.INFO if first else logging.DEBUG,
            "PROXY protocol: closing the connection from %s (%s): %s",
            peer,
            kind,
            reason,
        )
        if self.transport is not None:
            self.transport.close()

    def _hand_over(
        self, transport: asyncio.Transport, client: tuple[str, int] | None, rest: bytes
    ) -> None:
        # None (LOCAL, UNKNOWN, AF_UNSPEC, AF_UNIX) keeps the peer's own address.
        protocol = self.next_protocol(client)
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        if rest and not transport.is_closing():
            transport.get_protocol().data_received(rest)  # type: ignore[attr-defined]  # a stream protocol

    async def _start_tls(self) -> None:
        transport = self.transport
        assert transport is not None and self.ssl_context is not None
        loop = self.state.loop
        rest, self._raw_ahead = self._raw_ahead, None
        self._tls_pending = b""
        if rest:
            # Runs after start_tls has installed its protocol and paused reading, and before
            # that protocol's connection_made (which start_tls schedules after this).
            loop.call_soon(_feed_ahead, transport, self, rest)
        try:
            tls = await loop.start_tls(
                transport,
                self,
                self.ssl_context,
                server_side=True,
                ssl_handshake_timeout=self.state.config.timeout_tls_handshake,
            )
        except (OSError, ssl.SSLError, asyncio.TimeoutError, ConnectionError) as exc:
            logger.debug("TLS handshake after a PROXY header failed: %r", exc)
            transport.abort()
            return
        if tls is None or tls.is_closing():
            return
        if self.state.shutting_down:
            # The server stopped during the handshake: it no longer takes new connections.
            tls.close()
            return
        pending, self._tls_pending = self._tls_pending, None
        self._hand_over(tls, self._client, pending)


def _feed_ahead(transport: asyncio.Transport, reader: ProxyHeaderReader, data: bytes) -> None:
    """Give ``data`` (read with the header) to the TLS protocol ``start_tls`` installed."""
    protocol: Any = transport.get_protocol()
    if protocol is reader or transport.is_closing():
        return  # start_tls failed before installing it
    if not hasattr(protocol, "get_buffer"):
        # Python 3.10's asyncio TLS protocol is a plain Protocol that drops what it is given
        # before its connection_made (queued by start_tls after this call): feed it after.
        # call_soon puts this ahead of any read from the socket in the next loop turn.
        reader.state.loop.call_soon(protocol.data_received, data)
        return
    # uvloop's TLS protocol, and asyncio's from 3.11, are buffered protocols (get_buffer /
    # buffer_updated); before connection_made they only store what they are given.
    view = memoryview(data)
    while view:
        buffer = protocol.get_buffer(len(view))
        size = min(len(buffer), len(view))
        buffer[:size] = view[:size]
        protocol.buffer_updated(size)
        view = view[size:]
