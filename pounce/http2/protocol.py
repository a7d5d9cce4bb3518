"""The HTTP/2 connection: an ``asyncio.Protocol`` driving a sans-I/O ``H2Connection``.

Every stream is one ``RequestResponseCycle`` (the same cycle HTTP/1.1 uses) with an
``H2Stream`` as its ``ResponseWriter``, and one ASGI task. This module sees only pounce's
H2 events and methods (``pounce.http2.connection``), never an h2 type.

Rules and where they come from:
- Request bodies: a stream's WINDOW_UPDATE is sent only as its app consumes the body
  (``body_consumed``), so a slow consumer holds back only its own stream; the connection
  window is replenished on receipt (RFC 9113 §5.2, §6.9).
- Responses wait for both the stream and connection send windows (RFC 9113 §6.9.1) and for
  the transport (``pause_writing``); streams share the connection window in turn.
- RST_STREAM from the client cancels the stream: its app gets ``http.disconnect``
  (RFC 9113 §6.4).
- Shutdown (RFC 9113 §6.8): one GOAWAY(NO_ERROR), sent when no stream is open (and on the
  ACK of a PING sent then), naming the last stream processed; nothing follows it, and the
  connection closes (a short lingering half-close, see ``_linger``).
  Until then the streams in flight, and those the client opens meanwhile, are answered; once
  the streams in flight at shutdown are done, newer ones are left unprocessed (above the
  GOAWAY's last stream id: the client retries them). See ``shutdown``. Idle connections close
  with GOAWAY(NO_ERROR) (RFC 9113 §9.1).
- Request trailers end the stream and are kept apart from the headers (RFC 9113 §8.1); the
  app finds them in ``scope["extensions"]["http.request.trailers"]["headers"]`` once the
  body is complete.
- Request limits (``--limit-request-*``, pounce.asgi.limits; request trailers are held
  to the field limits too) give the same status as on HTTP/1.1 (414, 431, 413) as a complete
  response, followed by RST_STREAM(NO_ERROR) while
  the client is still sending (RFC 9113 §8.1: it may stop without error). A body that
  crosses ``--limit-request-body`` mid-stream gets that 413 if the response has not started,
  otherwise RST_STREAM(CANCEL) (§8.7: the stream is no longer needed); the app's
  ``receive()`` gets ``http.disconnect`` either way. The connection and its other streams
  carry on: these are stream errors, not connection errors (§5.4.2).
- A response that cannot make progress for ``--h2-write-timeout`` seconds (zero windows or a
  peer that stopped reading) is reset, or the connection closed if the connection is stuck.
- Slow requests, as on HTTP/1.1: a header block (HEADERS and its CONTINUATION frames) gets
  ``--timeout-request-header`` from when its frame header arrived, however slowly the rest
  trickles in. Past it, the stream gets a bare 408, GOAWAY(NO_ERROR) names it as the last
  stream, and nothing more is read: until the block is complete the client can send no other
  frame (RFC 9113 §6.10). A request body that makes no progress for ``--timeout-request-body``
  (while the client has window to send it: a body the app has not read yet stops the clock)
  gets 408 on the stream, or RST_STREAM(CANCEL) once the response has started, and the app's
  ``receive()`` gets ``http.disconnect``; the connection and its other streams carry on.
"""

from __future__ import annotations

import asyncio
import logging
from time import perf_counter
from typing import Any

from pounce._headers import get_header
from pounce._url import decode_path, split_target
from pounce.asgi.cycle import AppRunner, RequestResponseCycle
from pounce.asgi.limits import (
    BODY_TIMEOUT,
    BODY_TOO_LARGE,
    HEADER_TIMEOUT,
    h2_request_error,
    trailers_error,
)
from pounce.asgi.response import OUT_BATCH
from pounce.asgi.scope import (
    METHODS,
    Address,
    describe_connection,
    http2_extensions,
    http_connection_scope,
    http_request_scope,
)
from pounce.errors import BadRequest
from pounce.http2.connection import H2Connection
from pounce.http2.constants import (
    CANCEL,
    ENHANCE_YOUR_CALM,
    INTERNAL_ERROR,
    NO_ERROR,
    PROTOCOL_ERROR,
)
from pounce.http2.events import (
    H2BodyReceived,
    H2GoAway,
    H2ProtocolError,
    H2RequestReceived,
    H2Settings,
    H2StreamReset,
    H2TrailersReceived,
    H2WebSocketRequest,
    H2WindowUpdated,
    RequestReceived,
    StreamGone,
)
from pounce.http2.stream import STREAM_HIGH_WATER, H2Stream
from pounce.state import ServerState
from pounce.websocket.over_http2 import handle_h2_websocket_stream

logger = logging.getLogger("pounce.error")

# Shutdown: how long the GOAWAY waits for the ACK of the PING sent before it (see shutdown).
GOAWAY_GRACE = 1.0
# Shutdown: at most this many PING rounds more before the GOAWAY (one per held stream).
MAX_PING_ROUNDS = 16
# After the shutdown GOAWAY: how long the connection stays half-closed, reading and discarding,
# at most (see _linger).
GOAWAY_LINGER = 1.0
_UPGRADE_RESPONSE = (
    b"HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: h2c\r\n\r\n"
)


# Request targets seen before, split and decoded (bounded): most requests repeat a few paths.
_TARGETS_MAX = 1024
_TARGET_CACHE_LEN = 256  # longer targets are split every time
_targets: dict[bytes, tuple[bytes, bytes, str]] = {}


def _split(target: bytes) -> tuple[bytes, bytes, str]:
    """``(raw_path, query_string, path)`` of a request target; BadRequest or
    UnicodeDecodeError for an invalid one (never cached)."""
    raw_path, query = split_target(target)
    result = (raw_path, query, decode_path(raw_path))
    if len(target) <= _TARGET_CACHE_LEN and len(_targets) < _TARGETS_MAX:
        _targets[target] = result
    return result


def settings_from_state(state: ServerState) -> H2Settings:
    config = state.config
    return H2Settings(
        max_concurrent_streams=config.h2_max_concurrent_streams,
        initial_window_size=config.h2_initial_window_size,
        connection_window_size=config.h2_initial_connection_window_size,
        max_header_list_size=config.h2_max_header_list_size,
    )


class H2Protocol(asyncio.Protocol):
    """One HTTP/2 connection."""

    def __init__(
        self,
        state: ServerState,
        upgrade: tuple[bytes, dict[str, Any]] | None = None,
        client: Address = None,
    ) -> None:
        self.state = state
        self.loop = state.loop
        self.transport: asyncio.Transport = None  # type: ignore[assignment]  # set in connection_made
        self.conn = H2Connection(settings_from_state(state))
        self.streams: dict[int, H2Stream] = {}
        # Streams with response bytes (or an end) waiting for a window, in turn order.
        self.writable: dict[int, H2Stream] = {}
        self.server: tuple[str, int] | None = None
        # Not None when handed over with a client other than the socket's peer (a PROXY
        # header's source, kept from HTTP/1.1); connection_made sets the connection's client.
        self.client = client
        self.scheme = "http"
        self.proxy_trusted = False
        self._scope_template: dict[str, Any] = {}  # its requests' shared keys (connection_made)
        self.deadline = 0.0
        self._idle_mark = 0.0  # the sweep time that marked this connection idle (state.py)
        # The header block in progress (its stream, as the core reports it) and its deadline.
        self._head_stream = 0
        self._head_deadline = 0.0
        self.closing = False
        self.disconnected = False
        self.write_paused = False
        self.write_paused_since = 0.0
        self.write_timeout = state.config.h2_write_timeout
        self.write_scheduled = False
        # Streams whose response head waits for their first body part (H2Stream.write_start).
        self.pending_heads: list[H2Stream] = []
        self._unwritten = 0  # DATA bytes queued in the connection since the last write
        # Shutdown (see shutdown()): the highest stream id in flight when it began and how many
        # of those streams are still open; (drain() of an idle connection) until when a next
        # stream is waited for, 0: not waiting; and, once those streams are done, the last
        # stream processed: later ones are held (never started) for the GOAWAY to refuse.
        self._drain_upto = 0
        self._drain_open = 0
        self._idle_wait_until = 0.0
        self._hold_after = 0
        self._lingering = False  # our shutdown GOAWAY is out: input is discarded (_linger)
        # The PING before the GOAWAY: 1 + the last stream processed when it went out (0: none
        # yet), and until when its ACK is waited for.
        self._ping_mark = 0
        self._ping_due = 0.0
        self._held = 0  # streams held (see shutdown)
        self._pings_left = 0  # PING rounds still to go before the GOAWAY
        self._upgrade = upgrade
        self._defaults_key: bytes | None = None
        self._defaults: list[tuple[bytes, bytes]] = []
        self._runner: Any = None

    # asyncio.Protocol ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # asyncio hands a BaseTransport
        state = self.state
        state.connections.add(self)
        self.server, self.client, self.scheme, self.proxy_trusted = describe_connection(
            transport, state, self.client
        )
        self._scope_template = http_connection_scope(
            "2", self.server, self.client, self.scheme, state.root_path
        )
        upgrade = self._upgrade
        if upgrade is None:
            self.conn.initiate_connection()
            self._write_now()
        else:
            # RFC 7540 §3.2: 101, then the server preface, then the answer on stream 1.
            self._upgrade = None
            settings_header, scope = upgrade
            self.transport.write(_UPGRADE_RESPONSE)
            self.conn.initiate_upgrade_connection(settings_header)
            self._write_now()
            self._start_stream(1, scope, more_body=False)
        self._update_idle()

    def connection_lost(self, exc: Exception | None) -> None:
        self.disconnected = True
        if self._runner is not None:
            self._runner.close()
        self.deadline = 0.0
        self.state.connections.discard(self)
        for stream in list(self.streams.values()):
            stream.cycle.disconnect()
            stream.wake()
        self.streams.clear()
        self.writable.clear()

    def eof_received(self) -> bool | None:
        return None

    def pause_writing(self) -> None:
        self.write_paused = True
        self.write_paused_since = self.loop.time()
        self._arm_write_timeout()

    def resume_writing(self) -> None:
        self.write_paused = False
        self.write_paused_since = 0.0
        self.flush_all()
        for stream in list(self.streams.values()):
            if stream.waiter is not None and stream.buffered <= STREAM_HIGH_WATER:
                stream.wake()

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return
        # The write at the end of this call sends whatever the events produce: nothing needs
        # to schedule one meanwhile (a direct _write_now() clears the flag again).
        self.write_scheduled = True
        try:
            for event in self.conn.receive_data(data):
                if type(event) is H2RequestReceived:
                    self._on_request(event)
                else:
                    self._handle(event)
        except Exception:  # a bug of ours: the client gets a GOAWAY, the worker lives on
            logger.exception("Unexpected error on an HTTP/2 connection")
            self.conn.close_connection(INTERNAL_ERROR)
            self._write_now()
            self.transport.close()
            return
        if self.conn.head_pending != self._head_stream:
            self._head_changed()
        self._write_now()
        if self.closing:
            self._close_if_done()  # (the client's GOAWAY, or our drain with no stream left)

    def _handle(self, event: object) -> None:
        """Every event but H2RequestReceived (data_received takes that one first)."""
        tp = type(event)
        if tp is H2BodyReceived:
            self._on_body(event)  # type: ignore[arg-type]  # narrowed by type(event)
        elif tp is H2WindowUpdated:
            self._on_window(event)  # type: ignore[arg-type]  # narrowed by type(event)
        elif tp is H2StreamReset:
            metrics = self.state.metrics
            if metrics is not None:  # a client's RST_STREAM: not on a request's path
                metrics.h2_resets_received += 1
            stream = self.streams.get(event.stream_id)  # type: ignore[attr-defined]  # narrowed by type(event)
            if stream is not None:
                stream.end_sent = True
                self._close_stream(stream)
                # One loop turn later: body that arrived with the reset reaches an app waiting
                # in receive() first, and its next receive() returns http.disconnect (rather
                # than the app being cancelled with a message in hand).
                self.loop.call_soon(stream.cycle.disconnect)
        elif tp is H2TrailersReceived:
            stream = self.streams.get(event.stream_id)  # type: ignore[attr-defined]  # narrowed by type(event)
            if stream is not None:
                error = trailers_error(self.state, event.headers)  # type: ignore[attr-defined]  # narrowed by type(event)
                if error is not None:
                    self._give_up_body(stream, error[0])
                    return
                ext = stream.cycle.scope["extensions"]
                ext["http.request.trailers"] = {"headers": event.headers}  # type: ignore[attr-defined]  # narrowed by type(event)
                stream.body_deadline = 0.0
                stream.cycle.end_body()
                self._maybe_finish(stream)
        elif tp is H2GoAway:
            self.closing = True
            self._close_if_done()
        elif tp is H2ProtocolError:
            logger.debug(
                "HTTP/2 connection error from %s: %s (code %d)",
                self.client,
                event.message,  # type: ignore[attr-defined]  # narrowed by type(event)
                event.error_code,  # type: ignore[attr-defined]  # narrowed by type(event)
            )
            metrics = self.state.metrics
            if metrics is not None:
                metrics.h2_connection_error(event.error_code, event.message)  # type: ignore[attr-defined]  # narrowed by type(event)
            self._abandon()
        elif tp is H2WebSocketRequest:
            self._on_websocket(event)  # type: ignore[arg-type]  # narrowed by type(event)

    # Requests --------------------------------------------------------------------------------

    def _on_request(self, event: H2RequestReceived) -> None:
        if self._hold_after:
            # Shutting down: above the coming GOAWAY's last stream id, never started (see
            # shutdown). The core decoded its header block, and from now on drops its DATA
            # but counts it against the connection window, returning the credit (§6.8).
            self.conn.remove_stream(event.stream_id)
            self._held += 1
            return
        error = h2_request_error(self.state, event.request.path, event.request.headers)
        if error is not None:
            self._refuse_stream(event.stream_id, error[0], event.end_stream)
            return
        try:
            scope = self._build_scope(event.request)
        except (BadRequest, UnicodeDecodeError):
            # RFC 9113 §8.1.1: a malformed request is a stream error of type PROTOCOL_ERROR.
            self.conn.reset_stream(event.stream_id, PROTOCOL_ERROR)
            return
        self._start_stream(event.stream_id, scope, more_body=not event.end_stream)

    def _build_scope(self, request: RequestReceived) -> dict[str, Any]:
        target = _targets.get(request.path)
        if target is None:
            target = _split(request.path)
        raw_path, query, path = target
        headers = request.headers
        authority = request.authority
        if authority is not None:
            # RFC 9113 §8.3.1: :authority stands in for Host; apps expect a host header.
            for name, _ in headers:
                if name == b"host":
                    break
            else:
                headers.insert(0, (b"host", authority))
        method = request.method
        state = self.state
        return http_request_scope(
            self._scope_template,
            state,
            None,
            self.proxy_trusted,
            METHODS.get(method) or method.decode("ascii"),
            path,
            raw_path,
            query,
            headers,
            state.lifespan_state,
            http2_extensions(),
        )

    def _start_stream(self, stream_id: int, scope: dict[str, Any], more_body: bool) -> None:
        state = self.state
        loop = self.loop
        stream = H2Stream(self, stream_id)
        if more_body:
            expect = get_header(scope["headers"], b"expect")
            expect_continue = expect is not None and expect.lower() == b"100-continue"
        else:
            expect_continue = False
        cycle = stream.cycle = RequestResponseCycle(scope, stream, loop, more_body, expect_continue)
        # open_stream(), inline: the call costs 0.8k of the ~65k instructions per request
        # (callgrind, /tmp/prof/cg2.sh) on this per-request path.
        streams = self.streams
        if not streams and self.deadline and not self.write_paused and not self.closing:
            self.deadline = 0.0
        if self._idle_wait_until:
            self._drain_first(stream_id)
        streams[stream_id] = stream
        if more_body:
            stream.body_deadline = at = loop.time() + state.body_timeout
            self._arm(at)
        if state.time_requests:
            cycle.start_time = perf_counter()  # the access record's or the metrics' duration
        coro = cycle.run_asgi(state.app_for_request())
        runner = self._runner
        if runner is None and AppRunner is not None:
            runner = self._runner = AppRunner(loop, state.tasks)
        # The app's first step runs now, in the connection's runner task; an app that waits
        # goes on in that task (or, while it is busy with another stream, in a task of its own).
        if runner is not None and runner.start(cycle, coro):
            return
        task = self.loop.create_task(coro)
        cycle.task = task
        state.track(task)

    def open_stream(self, stream: H2Stream) -> None:
        """Track a new stream (a request's or a WebSocket's)."""
        streams = self.streams
        if not streams and self.deadline and not self.write_paused and not self.closing:
            self.deadline = 0.0  # the keep-alive wait is over (write or drain timeouts stay)
        streams[stream.stream_id] = stream

    def _refuse_stream(self, stream_id: int, status: int, end_stream: bool) -> None:
        """Answer a request the app never sees with a bodyless ``status``."""
        try:
            self.conn.send_response_headers(stream_id, status, [], end_stream=True)
        except StreamGone:
            pass
        if end_stream:
            self.conn.remove_stream(stream_id)
        else:
            self.conn.reset_stream(stream_id, NO_ERROR)  # RFC 9113 §8.1

    def _give_up_body(self, stream: H2Stream, status: int) -> None:
        """Stop receiving the request body (over --limit-request-body, or stalled): ``status``
        on the stream, or CANCEL once the response has started; the app's receive() gets
        http.disconnect."""
        if stream.cycle.response_started:
            self.conn.reset_stream(stream.stream_id, CANCEL)
        else:
            self._refuse_stream(stream.stream_id, status, end_stream=False)
        self._stream_gone(stream)

    def _on_body(self, event: H2BodyReceived) -> None:
        stream = self.streams.get(event.stream_id)
        if stream is None:
            return
        limit = self.state.limit_body
        if limit:
            stream.received += len(event.data)
            if stream.received > limit:
                self._give_up_body(stream, BODY_TOO_LARGE[0])
                return
        cycle = stream.cycle
        if event.data:
            cycle.feed_body(event.data)
        if event.end_stream:
            stream.body_deadline = 0.0
            cycle.end_body()
            self._maybe_finish(stream)
        elif stream.body_deadline:
            # Progress: the --timeout-request-body clock starts again (the deadline armed
            # earlier comes first; check_deadline moves it on).
            stream.body_deadline = self.loop.time() + self.state.body_timeout

    def _on_websocket(self, event: H2WebSocketRequest) -> None:
        # RFC 8441: the stream carries a WebSocket session (pounce.websocket.over_http2).
        if self._hold_after:
            self.conn.remove_stream(event.stream_id)  # held, as in _on_request
            self._held += 1
            return
        if self.state.config.ws == "none" or self.closing:
            # --ws none: not implemented; shutting down: a new session would only be closed.
            status = 501 if self.state.config.ws == "none" else 503
            self._refuse_stream(event.stream_id, status, event.end_stream)
            return
        try:
            handle_h2_websocket_stream(self, event)
        except (BadRequest, UnicodeDecodeError):
            self.conn.reset_stream(event.stream_id, PROTOCOL_ERROR)

    def body_consumed(self, stream: H2Stream, nbytes: int) -> None:
        if stream.stream_id in self.streams:
            self.conn.acknowledge_consumed(stream.stream_id, nbytes)
            self._schedule_write()

    # Responses -------------------------------------------------------------------------------

    @property
    def debug_errors(self) -> bool:
        return self.state.debug

    def default_headers(self) -> list[tuple[bytes, bytes]]:
        """The server's date/server/extra response headers, as HTTP/2 fields."""
        lines = self.state.default_headers[0]
        if lines is not self._defaults_key:
            self._defaults_key = lines
            pairs = []
            for line in lines.split(b"\r\n"):
                name, sep, value = line.partition(b": ")
                if sep:
                    pairs.append((name, value))
            self._defaults = pairs
        return self._defaults

    def send_head(self, stream: H2Stream, end_stream: bool) -> None:
        head = stream.head
        if head is None:
            return
        stream.head = None
        stream.head_sent = True
        try:
            self.conn.send_response_headers(
                stream.stream_id, head[0], head[1], end_stream=end_stream
            )
        except StreamGone:
            self._stream_gone(stream)
            return
        if end_stream:
            stream.end_sent = True
            self._maybe_finish(stream)
        self._schedule_write()

    def send_whole(self, stream: H2Stream, body: bytes, size: int) -> None:
        """A whole response at once: the held-back head and its only body part (which the
        caller checked against content-length), END_STREAM on the last frame."""
        head = stream.head
        stream.head = None
        stream.head_sent = True
        conn = self.conn
        sid = stream.stream_id
        try:
            conn.send_response_headers(sid, head[0], head[1], end_stream=not size)  # type: ignore[index]  # head is set before the body
            sent = conn.send_data(sid, body, end_stream=True) if size else 0
        except StreamGone:
            self._stream_gone(stream)
            return
        if not self.write_scheduled:
            self.schedule_write()
        # Counted as in _flush_stream: many whole responses in one loop turn still reach the
        # transport every OUT_BATCH bytes, so that its pause_writing() can act.
        self._unwritten += sent
        if self._unwritten >= OUT_BATCH:
            self._write_now()
        if sent == size:
            stream.end_sent = True
            if stream.cycle.request_complete:
                self._close_stream(stream)
            else:
                self._maybe_finish(stream)
            return
        # The windows took only part of it: the rest waits in the stream's queue.
        stream.buffer.append(memoryview(body)[sent:] if sent else body)
        stream.buffered += size - sent
        self.flush_stream(stream)

    def send_informational(self, stream: H2Stream, status: int) -> None:
        if stream.head_sent or stream.end_sent or self.disconnected:
            return
        try:
            self.conn.send_response_headers(stream.stream_id, status, [])
        except StreamGone:
            return
        self._schedule_write()

    def flush_stream(self, stream: H2Stream) -> None:
        """Send what the windows allow of this stream's queued body, then its end."""
        if stream.end_sent or self.disconnected:
            return
        try:
            self._flush_stream(stream)
        except StreamGone:
            self._stream_gone(stream)

    def _stream_gone(self, stream: H2Stream) -> None:
        """The stream cannot be written any more: its app is told the client went away."""
        stream.end_sent = True
        self._close_stream(stream)
        stream.cycle.disconnect()
        self._schedule_write()

    def _flush_stream(self, stream: H2Stream) -> None:
        if stream.head is not None:
            self.send_head(stream, end_stream=False)
            if stream.end_sent:
                return
        conn = self.conn
        sid = stream.stream_id
        buffer = stream.buffer
        progress = False
        while buffer and not self.write_paused:
            chunk = buffer[0]
            size = len(chunk)
            last = stream.end_pending and len(buffer) == 1 and not stream.trailers_expected
            sent = conn.send_data(sid, chunk, end_stream=last)
            if sent:
                progress = True
                stream.buffered -= sent
                self._unwritten += sent
                if self._unwritten >= OUT_BATCH:
                    # Hand it to the transport now: its pause_writing() must be able to stop
                    # an app that sends without ever yielding to the loop.
                    self._write_now()
            if sent < size:
                buffer[0] = memoryview(chunk)[sent:]
                break
            buffer.popleft()
            if last:
                stream.end_sent = True
        if progress:
            stream.blocked_since = 0.0
            self._schedule_write()
        if buffer:
            self.writable[sid] = stream
            if not stream.blocked_since and not self.write_paused:
                stream.blocked_since = self.loop.time()
                self._arm_write_timeout()
            return
        self.writable.pop(sid, None)
        if stream.end_pending and not stream.end_sent:
            if not stream.trailers_expected:
                conn.end_stream(sid)
                stream.end_sent = True
            elif stream.cycle.response_complete:
                # RFC 9113 §8.1: trailers are a HEADERS frame that ends the stream.
                if stream.trailers:
                    conn.send_trailers(sid, stream.trailers)
                else:
                    conn.end_stream(sid)
                stream.end_sent = True
            self._schedule_write()
        if stream.waiter is not None and not self.write_paused:
            stream.wake()
        if stream.end_sent:
            self._maybe_finish(stream)

    def flush_all(self) -> None:
        for stream in list(self.writable.values()):
            if self.write_paused or self.conn.connection_window <= 0:
                break
            self.flush_stream(stream)

    def _on_window(self, event: H2WindowUpdated) -> None:
        if event.stream_id == 0:
            self.flush_all()
        else:
            stream = self.writable.get(event.stream_id)
            if stream is not None:
                self.flush_stream(stream)

    def reset(self, stream: H2Stream, error_code: int) -> None:
        if stream.end_sent and stream.stream_id not in self.streams:
            return
        stream.end_sent = True
        self.conn.reset_stream(stream.stream_id, error_code)
        self._close_stream(stream)
        self._schedule_write()

    # Stream and connection ends ----------------------------------------------------------------

    def _maybe_finish(self, stream: H2Stream) -> None:
        """A stream is done when its response is out and the client finished sending."""
        if not stream.end_sent or stream.stream_id not in self.streams:
            return
        if not stream.cycle.request_complete:
            # RFC 9113 §8.1: a complete response may end the request with RST_STREAM(NO_ERROR).
            self.conn.reset_stream(stream.stream_id, NO_ERROR)
            # After the cycle has marked its response complete: only receive() is woken.
            self.loop.call_soon(stream.cycle.disconnect)
            self._schedule_write()
        self._close_stream(stream)

    def _close_stream(self, stream: H2Stream) -> None:
        sid = stream.stream_id
        if stream.buffer:
            stream.buffer.clear()
            stream.buffered = 0
        if stream.waiter is not None:
            stream.wake()
        if self.writable:
            self.writable.pop(sid, None)
        streams = self.streams
        if streams.pop(sid, None) is not None:
            self.conn.remove_stream(sid)
            if self.closing and not self.conn.is_closed:
                self._drain_stream_closed(sid)
            elif not streams:
                self._close_if_done()
                self._update_idle()

    def _close_if_done(self, now: float = 0.0) -> None:
        """Close once no stream is open: after a GOAWAY (ours or the client's), or, while
        shutting down, after the PING's ACK (or ``GOAWAY_GRACE``, checked against ``now``)
        and the GOAWAY that names the last stream processed."""
        if self.streams or self.disconnected:
            return
        conn = self.conn
        if not conn.is_closed:
            if not self.closing or self._idle_wait_until:
                return
            last = self._hold_after or conn.highest_stream_id
            if self._ping_mark != last + 1:
                # First a PING (see shutdown): its ACK shows that the client has read every
                # response before the GOAWAY can reach it. Again if a stream came since. One
                # more round per held stream (at most MAX_PING_ROUNDS): each lets one client
                # task blocked reading for a held stream go round, see shutdown.
                self._ping_mark = last + 1
                self._pings_left = min(self._held, MAX_PING_ROUNDS)
                self._drain_ping()
                return
            if not conn.drain_acked:
                if (now or self.loop.time()) < self._ping_due:
                    return
            elif self._pings_left:
                self._pings_left -= 1
                self._drain_ping()
                return
            # RFC 9113 §6.8: "the last stream identifier ... processed": every stream up to it
            # is complete. Held streams, and any the client opens from now on, are above it:
            # "not processed", so they "can be retried"; and nothing follows this GOAWAY,
            # which some clients (h2, so httpx) require: they accept no frame after one.
            conn.close_connection(NO_ERROR, last)
            self._write_now()
            self._linger()
            return
        self._write_now()
        self.transport.close()

    def _drain_ping(self) -> None:
        self.conn.drain_ping()
        self._write_now()
        self._ping_due = self.loop.time() + GOAWAY_GRACE
        self._arm(self._ping_due)

    def _linger(self) -> None:
        """After our shutdown GOAWAY: half-close (FIN after it, where the transport can) and
        read and discard until the client closes, or for GOAWAY_LINGER at most (the sweep's
        check_deadline closes it). Closing at once would make the kernel answer the client's
        late frames (WINDOW_UPDATEs for the last DATA) with a reset that can destroy the end
        of the responses and the GOAWAY before they are delivered. Nothing is parsed or
        written any more: a frame after the GOAWAY would be fatal to h2's client (see
        shutdown), and frames on streams above its last stream id may be ignored (§6.8)."""
        self._lingering = True
        transport = self.transport
        if transport.can_write_eof():
            transport.write_eof()
        self.deadline = self.loop.time() + GOAWAY_LINGER

    def _abandon(self) -> None:
        """A connection error: GOAWAY is queued; send it and close."""
        self._write_now()
        for stream in list(self.streams.values()):
            stream.cycle.disconnect()
        if not self.disconnected:
            self.transport.close()

    # Writing -----------------------------------------------------------------------------------

    def _schedule_write(self) -> None:
        if not self.write_scheduled:
            self.write_scheduled = True
            self.loop.call_soon(self._write_now)

    def schedule_write(self) -> None:
        """_schedule_write for a caller that checked ``write_scheduled`` itself."""
        self.write_scheduled = True
        self.loop.call_soon(self._write_now)

    def _write_now(self) -> None:
        if self.pending_heads:
            self._send_pending_heads()
        self.write_scheduled = False
        self._unwritten = 0
        if self.disconnected:
            return
        data = self.conn.data_to_send()
        if data:
            self.transport.write(data)

    def _send_pending_heads(self) -> None:
        """Heads of responses whose app paused before its first body part."""
        heads = self.pending_heads
        self.pending_heads = []
        if self.disconnected:
            return
        conn = self.conn
        for stream in heads:
            head = stream.head
            if head is None or stream.end_sent:
                continue
            stream.head = None
            stream.head_sent = True
            try:
                conn.send_response_headers(stream.stream_id, head[0], head[1])
            except StreamGone:
                self._stream_gone(stream)

    # Server controls, timeouts -----------------------------------------------------------------

    def is_idle(self) -> bool:
        return not self.streams

    def shutdown(self) -> None:
        """Graceful stop (RFC 9113 §6.8), as one GOAWAY(NO_ERROR) sent at a moment when no
        stream is open, so that every stream up to its last stream id is already complete,
        and nothing after it: the connection closes (``_linger``).

        - No stream open: the GOAWAY (naming the last stream processed) and close, now. A
          stream on its way is above that id: "not processed", which the client may retry.
        - Streams in flight: no GOAWAY yet. They are answered, and so are streams the client
          opens meanwhile (it cannot know not to); the moment none is open, the GOAWAY goes
          out and the connection closes.
        - The bound, for a client that keeps streams open all the time: once the streams in
          flight at shutdown are done, streams still open finish, but newer ones are held,
          never started and never answered. When the last started one ends, the GOAWAY names
          it, so the held ones are above its last stream id ("not processed", to be retried
          elsewhere). ``--timeout-graceful-shutdown`` still bounds the whole wait.
        - Before the GOAWAY, a PING; the GOAWAY goes out on its ACK (or after GOAWAY_GRACE).
          Frames are read in order, so the ACK shows that the client has parsed every
          response, and the GOAWAY cannot share a read with them. That matters to httpcore,
          whose tasks share one read lock and which fails a stream whose task waits for that
          lock (its response already parsed) when another task has read a GOAWAY. A held
          stream leaves an httpcore task blocked reading ahead of others; each PING round
          lets one such task go round the lock, so there is one more round per held stream
          (at most MAX_PING_ROUNDS). A PING before any GOAWAY is fine for h2's client.

        §6.8 says such a server "SHOULD send an initial GOAWAY frame with the last stream
        identifier set to 2^31-1", then the real one at least a round trip later (pounce did,
        timed by a PING). Not here: h2's client (so httpx) goes to CLOSED on the first GOAWAY
        and raises ProtocolError for any later frame but a GOAWAY (a PING, or the DATA of the
        very streams that GOAWAY lets finish; python-hyper/h2 issue 1199), and httpcore fails
        every stream at or below a GOAWAY's last stream id whose response has not fully
        arrived; a RST_STREAM(REFUSED_STREAM) fails its stream too. What the initial GOAWAY
        is for (a stream the client opens while the final one is on its way is not lost) holds
        without it: streams arriving before our only GOAWAY are answered, and those after it
        are above its last stream id, so "not ... processed" and the client "can treat the
        streams as though they had never been created at all, thereby allowing those streams
        to be retried later on a new connection" (§6.8; httpcore does: ConnectionNotAvailable).
        """
        if self.disconnected or self.closing:
            return
        self.closing = True
        self._idle_wait_until = 0.0
        if not self.streams:
            self._close_if_done()
            return
        self._drain_upto = self.conn.highest_stream_id
        self._drain_open = len(self.streams)

    def drain(self, grace: float) -> None:
        """Worker drain (rolling restart), as on HTTP/1.1: like ``shutdown``, but an idle
        connection waits up to ``grace`` seconds for a next stream, which is answered (it then
        plays the stream in flight) rather than refused. The tick closes it (GOAWAY) after."""
        if self.streams or self.disconnected or self.closing:
            self.shutdown()
            return
        self.closing = True
        self._idle_wait_until = limit = self.loop.time() + grace
        self.deadline = min(self.deadline, limit) if self.deadline else limit

    def _drain_first(self, stream_id: int) -> None:
        """A drained idle connection got its next stream."""
        self._idle_wait_until = 0.0
        self._drain_upto = stream_id
        self._drain_open = 1

    def _drain_stream_closed(self, stream_id: int) -> None:
        """A stream ended during shutdown, before our GOAWAY."""
        if stream_id <= self._drain_upto:
            self._drain_open -= 1
        if not self.streams or (not self._drain_open and not self._hold_after):
            # Decided one loop iteration later, after the frames being read now: a HEADERS read
            # in the same data_received as this stream's end opened a stream before any
            # GOAWAY, to be answered (and the core counts it in its last stream id already).
            self.loop.call_soon(self._drain_check)

    def _drain_check(self) -> None:
        if self.disconnected:
            return
        if not self.streams:
            self._close_if_done()
            self._update_idle()
        elif not self._drain_open and not self._hold_after:
            # The bound (see shutdown): from here on new streams are held; every stream the
            # core has seen so far is started (or was answered already).
            self._hold_after = self.conn.highest_stream_id

    def _update_idle(self) -> None:
        if not self.streams and not self.disconnected and not self._lingering:
            at = self.loop.time() + self.state.keep_alive_timeout
            if self._idle_wait_until:
                at = min(at, self._idle_wait_until)
            if self._ping_due and self.closing and not self.conn.is_closed:
                at = min(at, self._ping_due)
            if self._head_deadline:
                at = min(at, self._head_deadline)
            self.deadline = at

    def _head_changed(self) -> None:
        """The read ended in a different header block than the last one did (or in none):
        a new block starts its --timeout-request-header clock, which the rest of the block
        arriving slowly does not push back."""
        sid = self._head_stream = self.conn.head_pending
        self._head_deadline = self.loop.time() + self.state.header_timeout if sid else 0.0
        if not self.streams:
            self._update_idle()  # (a head in progress is not idle: check_deadline skips it)
        elif sid:
            self._arm(self._head_deadline)

    def _head_timed_out(self) -> None:
        """--timeout-request-header passed with the header block unfinished (see the module
        docstring). Trailers in progress are a stalled body: their stream is answered here."""
        sid = self._head_stream
        logger.debug("HTTP/2 request header timeout (stream %d) for %s", sid, self.client)
        self._head_stream = 0
        self._head_deadline = 0.0
        stream = self.streams.get(sid)
        if stream is not None:
            self._give_up_body(stream, BODY_TIMEOUT[0])
        self.conn.abandon_head(HEADER_TIMEOUT[0])
        self._write_now()
        self._close_if_done()

    def _body_timeouts(self, now: float) -> float:
        """Give up the request bodies that made no progress for --timeout-request-body; the
        earliest deadline left (0.0: none)."""
        earliest = 0.0
        timeout = self.state.body_timeout
        for stream in list(self.streams.values()):
            due = stream.body_deadline
            if not due:
                continue
            if due <= now:
                if stream.cycle.request_complete:
                    stream.body_deadline = 0.0
                    continue
                if stream.cycle.buffered or self.conn.credit_held:
                    # The app has not read what came (this stream's or, with connection
                    # credit held back, others'): the window is ours to reopen, so the wait
                    # is ours, not the client's.
                    due = stream.body_deadline = now + timeout
                else:
                    sid = stream.stream_id
                    logger.debug("HTTP/2 request body timeout (stream %d) for %s", sid, self.client)
                    stream.body_deadline = 0.0
                    self._give_up_body(stream, BODY_TIMEOUT[0])
                    continue
            if not earliest or due < earliest:
                earliest = due
        return earliest

    def _arm_write_timeout(self) -> None:
        self._arm(self.loop.time() + self.write_timeout)

    def _arm(self, at: float) -> None:
        if not self.deadline or at < self.deadline:
            self.deadline = at

    def check_deadline(self, now: float) -> bool:
        """Called by the server's sweep once ``deadline`` has passed.

        True: idle, marked, and to be closed by the sweep's second look (see pounce/state.py).
        """
        due = self.deadline
        self.deadline = 0.0
        if self.disconnected:
            return False
        if self._lingering:
            self.transport.close()
            return False
        if self._ping_due and now >= self._ping_due and self.closing and not self.streams:
            self._close_if_done(now)  # no PING ACK in time: the GOAWAY goes out anyway
            if self._lingering or self.disconnected:
                return False
        head = self._head_deadline
        if head and head <= now:
            self._head_timed_out()
            if self.disconnected or not self.streams:
                return False  # (closed by _head_timed_out once no stream is left)
            head = 0.0
        if not self.streams and not head:
            # Idle (RFC 9113 §9.1: GOAWAY, then close). A HEADERS frame may be waiting in the
            # socket unread: close only on a second look, if no stream started since this
            # sweep marked it (a stream that came and went re-armed ``deadline``).
            if not due or due != self._idle_mark:
                self._idle_mark = self.deadline = now
                return True
            self.conn.close_connection(NO_ERROR)
            self._write_now()
            self.transport.close()
            return False
        timeout = self.write_timeout
        if self.write_paused and now - self.write_paused_since >= timeout:
            # The peer stopped reading: nothing more can be written, not even a GOAWAY.
            logger.debug("HTTP/2 write timeout (transport) for %s", self.client)
            self.transport.abort()
            return False
        stalled = [
            s
            for s in self.writable.values()
            if s.blocked_since and now - s.blocked_since >= timeout
        ]
        if stalled and self.conn.connection_window <= 0:
            logger.debug("HTTP/2 write timeout (connection window) for %s", self.client)
            self.conn.close_connection(ENHANCE_YOUR_CALM)
            self._abandon()
            return False
        for stream in stalled:
            logger.debug("HTTP/2 write timeout (stream %d) for %s", stream.stream_id, self.client)
            stream.cycle.disconnect()
            self.reset(stream, CANCEL)
        pending = [s.blocked_since + timeout for s in self.writable.values() if s.blocked_since]
        if self.write_paused:
            pending.append(self.write_paused_since + timeout)
        if head:
            pending.append(head)
        if self._ping_due > now and not self.conn.is_closed:
            pending.append(self._ping_due)
        body = self._body_timeouts(now)
        if body:
            pending.append(body)
        if pending:
            self.deadline = min(pending)
        elif not self.streams:
            self._update_idle()
        return False
