"""WebSocket over HTTP/2 (RFC 8441): one session inside the stream of an extended CONNECT.

``H2Protocol`` calls ``handle_h2_websocket_stream`` for an ``H2WebSocketRequest`` (a CONNECT
with ``:protocol websocket``, RFC 8441 §4). The stream is an ``H2Stream`` as for any request;
in place of a ``RequestResponseCycle`` it gets an ``H2WebSocketStream``, which is the
session's ``Carrier`` and what ``H2Protocol`` sees as the stream's cycle:
- The handshake answer is ``:status 200`` (RFC 8441 §5); WebSocket frames travel in DATA
  frames, and sends wait on the stream and connection windows like any response body.
- Received DATA is acknowledged (WINDOW_UPDATE) only while the session reads, so a full
  message queue holds back only this stream.
- Closing the WebSocket ends the stream (END_STREAM, RFC 8441 §5.2 referring to RFC 6455's
  closing handshake); a reset stream reaches the app as 1006.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from pounce.asgi.scope import websocket_scope
from pounce.http2.constants import CANCEL
from pounce.http2.events import H2WebSocketRequest, RequestReceived
from pounce.http2.stream import H2Stream, StreamConnection
from pounce.state import ServerState
from pounce.websocket.session import WebSocketSession


class H2WebSocketConnection(StreamConnection, Protocol):
    """What a WebSocket stream needs of its HTTP/2 connection (``H2Protocol``, which imports
    this module to hand it extended CONNECT streams: named here, not imported, so that the
    import graph stays acyclic)."""

    @property
    def state(self) -> ServerState: ...

    @property
    def transport(self) -> asyncio.Transport: ...

    def _build_scope(self, request: RequestReceived) -> dict[str, Any]: ...

    def open_stream(self, stream: H2Stream) -> None: ...


class H2WebSocketStream:
    """The stream's "cycle" for H2Protocol, and the ``Carrier`` of the WebSocket session."""

    def __init__(self, proto: H2WebSocketConnection, stream: H2Stream) -> None:
        self.proto = proto
        self.stream = stream
        self.scope = {"method": "CONNECT", "extensions": {}}  # what H2Stream looks at
        self.session: WebSocketSession = None  # type: ignore[assignment]  # set when the app accepts
        self.bytes_sent = 0
        self.start_time = 0.0
        self.task: Any = None
        self.response_started = False
        self.response_complete = False
        self.request_complete = False
        self._paused = False
        self._unacked = 0

    @property
    def transport(self) -> Any:
        return self.proto.transport

    # What H2Protocol calls on a stream's cycle ----------------------------------------------

    def feed_body(self, data: bytes) -> int:
        if self._paused:
            self._unacked += len(data)
        else:
            self.proto.body_consumed(self.stream, len(data))
        self.session.feed(data)
        return 0

    def end_body(self) -> None:
        # The client ended its side: after its close frame that is the orderly end; without
        # one the WebSocket was cut short (1006).
        self.request_complete = True
        self.session.connection_lost()
        self.finish()  # our side of the stream ends too

    def disconnect(self) -> None:
        self.request_complete = True
        self.session.connection_lost()

    # Carrier ---------------------------------------------------------------------------------

    def accept(self, headers: list[tuple[bytes, bytes]]) -> None:
        self.response_started = True
        self.stream.write_start(self, 200, headers, False)  # type: ignore[arg-type]  # stands in for the cycle
        self.proto.send_head(self.stream, end_stream=False)

    def respond(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.response_started = self.response_complete = True
        stream = self.stream
        if not headers and not body and status >= 400:
            stream.write_error(self, status)  # type: ignore[arg-type]  # stands in for the cycle
            return
        fields = [(n, v) for n, v in headers if n.lower() != b"content-length"]
        fields.append((b"content-length", b"%d" % len(body)))
        stream.write_start(self, status, fields, False)  # type: ignore[arg-type]  # stands in for the cycle
        stream.write_body(self, body, False)  # type: ignore[arg-type]  # stands in for the cycle

    def write(self, data: bytes) -> Any:
        return self.stream.write_body(self, data, True)  # type: ignore[arg-type]  # stands in for the cycle

    def writelines(self, parts: list[bytes]) -> Any:
        # The stream's DATA frames are built from one buffer.
        return self.write(b"".join(parts))

    def finish(self) -> None:
        if not self.response_complete:
            self.response_complete = True
            self.stream.write_body(self, b"", False)  # type: ignore[arg-type]  # stands in for the cycle

    def abort(self) -> None:
        self.response_complete = True
        self.proto.reset(self.stream, CANCEL)

    def pause_reading(self) -> None:
        self._paused = True

    def resume_reading(self) -> None:
        self._paused = False
        if self._unacked:
            nbytes, self._unacked = self._unacked, 0
            self.proto.body_consumed(self.stream, nbytes)


def handle_h2_websocket_stream(proto: H2WebSocketConnection, event: H2WebSocketRequest) -> None:
    """Start the WebSocket session of an extended CONNECT stream (RFC 8441 §4)."""
    http_scope = proto._build_scope(event.request)
    stream = H2Stream(proto, event.stream_id)
    carrier = H2WebSocketStream(proto, stream)
    stream.cycle = carrier  # type: ignore[assignment]  # stands in for the cycle
    proto.open_stream(stream)
    carrier.session = WebSocketSession(proto.state, carrier, websocket_scope(http_scope, "2"))
    if event.end_stream:
        carrier.request_complete = True
    carrier.session.start()
