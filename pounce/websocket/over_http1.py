"""WebSocket over HTTP/1.1: the Upgrade handshake (RFC 6455 §4.2) and the connection after it.

Both HTTP/1.1 twins call ``try_ws_upgrade`` from ``on_headers_complete``. When it returns
True the transport already belongs to a ``WSProtocol``; the parser then stops at the upgrade
(httptools raises ``HttpParserUpgrade``, the h11 adapter ``ParserUpgrade``) with the offset of
the first byte after the request head, and ``forward_leftover`` hands those bytes on, so
frames sent right behind the handshake are not lost.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pounce._headers import build_response_head
from pounce.asgi.scope import header_tokens, websocket_scope
from pounce.http1.handover import H1Handover
from pounce.http1.support import error_response
from pounce.state import ServerState
from pounce.websocket.session import WebSocketSession, accept_token, valid_key


def try_ws_upgrade(
    h1: H1Handover, scope: dict[str, Any], headers: list[tuple[bytes, bytes]], more_body: bool
) -> bool:
    """Take the connection over for a WebSocket handshake; False to answer it as HTTP."""
    state: ServerState = h1.state
    if state.config.ws == "none":
        return False
    if "websocket" not in (t.lower() for t in header_tokens(headers, b"upgrade")):
        return False
    if "upgrade" not in (t.lower() for t in header_tokens(headers, b"connection")):
        return False
    if h1.cycle is not None or h1.pipeline:
        return False  # pipelined behind another request: answered as plain HTTP
    transport = h1.detach()
    proto = WSProtocol(state, transport, h1.server, h1.client)
    transport.set_protocol(proto)
    # RFC 6455 §4.2.1: GET, HTTP/1.1, a 16-byte key, version 13.
    key = None
    versions = []
    for name, value in headers:
        if name == b"sec-websocket-key":
            key = value.strip() if key is None else b""
        elif name == b"sec-websocket-version":
            versions.append(value.strip())
    if versions != [b"13"]:
        # RFC 6455 §4.4: 426 naming the version the server speaks.
        proto.respond(426, [(b"sec-websocket-version", b"13")], b"")
        return True
    if (
        scope["method"] != "GET"
        or scope["http_version"] != "1.1"
        or more_body
        or key is None
        or not valid_key(key)
    ):
        proto.respond(400, [], b"")
        return True
    proto.key = key
    session = proto.session = WebSocketSession(state, proto, websocket_scope(scope, "1.1"))
    session.start()
    return True


def forward_leftover(h1: H1Handover, data: bytes, offset: int) -> None:
    """Bytes after the handshake head (same read) go to the WebSocket that took over."""
    transport = h1.transport
    if transport is None or offset >= len(data):
        return
    proto = transport.get_protocol()
    if isinstance(proto, WSProtocol):
        proto.data_received(data[offset:])


class WSProtocol(asyncio.Protocol):
    """The HTTP/1.1 connection after a WebSocket upgrade: a ``Carrier`` for one session."""

    def __init__(
        self,
        state: ServerState,
        transport: asyncio.Transport,
        server: tuple[str, int] | None,
        client: tuple[str, int] | None,
    ) -> None:
        self.state = state
        self.transport = transport
        self.server = server
        self.client = client
        self.key = b""
        self.session: WebSocketSession | None = None
        self.closed = False
        self._write_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None

    # asyncio.Protocol (the transport was handed over: no connection_made) -----------------

    def data_received(self, data: bytes) -> None:
        if self.session is not None:
            self.session.feed(data)

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.session is not None:
            self.session.connection_lost()
        self._wake()

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake()

    def _wake(self) -> None:
        waiter = self._drain_waiter
        if waiter is not None:
            self._drain_waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # Carrier -----------------------------------------------------------------------------

    def accept(self, headers: list[tuple[bytes, bytes]]) -> None:
        if self.closed:
            return
        fields = [
            (b"upgrade", b"websocket"),
            (b"connection", b"Upgrade"),
            (b"sec-websocket-accept", accept_token(self.key)),
            *headers,
        ]
        head, _, flags = build_response_head(101, fields)
        defaults = self.state.default_headers[(flags >> 2) & 3]
        self.transport.write(b"".join((head, defaults, b"\r\n")))

    def respond(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        if self.closed:
            return
        if status in (400, 403, 500, 503) and not body and not headers:
            self.transport.write(error_response(status, "", self.state.default_headers[0]))
        else:
            fields = [
                (n, v) for n, v in headers if n.lower() not in (b"content-length", b"connection")
            ]
            fields.append((b"content-length", b"%d" % len(body)))
            fields.append((b"connection", b"close"))
            if status == 426 and not body:
                fields.append((b"upgrade", b"websocket"))
            head, _, flags = build_response_head(status, fields)
            defaults = self.state.default_headers[(flags >> 2) & 3]
            self.transport.write(b"".join((head, defaults, b"\r\n", body)))
        self.finish()

    def write(self, data: bytes) -> asyncio.Future[None] | None:
        if self.closed:
            return None
        self.transport.write(data)
        return self._drained()

    def writelines(self, parts: list[bytes]) -> asyncio.Future[None] | None:
        if self.closed:
            return None
        self.transport.writelines(parts)  # uvloop: one writev, the buffers not joined
        return self._drained()

    def _drained(self) -> asyncio.Future[None] | None:
        """What a write returns: the future of the drain while the write side is paused."""
        if self._write_paused:
            if self._drain_waiter is None:
                self._drain_waiter = self.state.loop.create_future()
            return self._drain_waiter
        return None

    def finish(self) -> None:
        # RFC 6455 §7.1.1: after the closing handshake the server closes the TCP connection.
        if not self.closed:
            self.closed = True
            self.transport.close()

    def pause_reading(self) -> None:
        if not self.closed:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if not self.closed:
            self.transport.resume_reading()
