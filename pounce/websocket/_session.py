# cython: language_level=3, annotation_typing=False
"""One WebSocket session (ASGI WebSocket spec 2.4), independent of its carrier and frame core:
the one source.

This file runs as it is in the pure build (``pounce.websocket._session``), and Cython compiles
the same file a second time as ``pounce._speedups._wssession`` (``_speedups/_wssession.py`` is a
link to it) with ``_speedups/_wssession.pxd`` declaring the session as a ``cdef`` class, its
attributes as C slots and its hot methods as C methods, as ``asgi/_cycle.py`` is compiled.
``pounce.websocket.session`` picks one. Imports are absolute: relative ones would resolve
differently under ``_speedups``. Type hints are for mypy only (``annotation_typing=False``):
the ``.pxd`` is what types the compiled build.

The carrier is an HTTP/1.1 connection after an ``Upgrade`` (``over_http1.py``, RFC 6455 §4)
or one HTTP/2 stream opened by an extended CONNECT (``over_http2.py``, RFC 8441). The carrier
feeds the bytes it receives to ``WebSocketSession.feed`` and offers a small ``Carrier``
interface for writing; frames are parsed and produced by a frame core (sans-I/O, the API in
``frames.py``): the compiled one or its wsproto twin (``core.py``).

Rules and where they come from:
- The app must answer ``websocket.connect`` with ``websocket.accept``; ``websocket.close``
  before that refuses the handshake with 403 (ASGI spec), and ``websocket.http.response.*``
  lets the app send its own response instead (the denial extension).
- Close codes (RFC 6455 §7.4.1): a lost connection is 1006 (§7.1.5), an app exception 1011,
  server shutdown 1012, a message over ``--ws-max-size`` 1009, a missing pong 1011.
- Closing handshake (RFC 6455 §7.1.2): on a close frame from the client the session echoes
  it and ends the carrier; after its own close frame it waits for the client's, bounded by
  ``CLOSE_TIMEOUT``.
- Backpressure: received messages wait in a queue of at most ``--ws-max-queue`` entries;
  when it is full the carrier stops reading (TCP) or withholds WINDOW_UPDATE (HTTP/2). A send
  waits while the carrier's write side is paused.
- Writes: the frames of the messages the app sends in one turn of the event loop go to the
  carrier together, in one write at the end of the turn (one ``send()`` system call on
  HTTP/1.1, one DATA frame on HTTP/2, in place of one per message), or at once when
  ``FLUSH_BYTES`` are waiting. A control frame (pong, ping, close) goes at once, behind them:
  the frames keep their order. A send that finds the carrier paused by an earlier write waits
  for it to drain, so at most ``FLUSH_BYTES`` wait here beyond what the carrier holds.
- Keep-alive pings (RFC 6455 §5.5.2) run from the server's periodic tick via ``deadline`` /
  ``check_deadline``: no timer per connection. The tick runs often enough for the ping timings
  (``ServerState.sweep_interval``), and each ping is due one interval after the previous one
  was due (not after it went out), so the tick's lateness never adds up from ping to ping.
- Server shutdown: an open WebSocket is closed with 1012 (Service Restart, as uvicorn does);
  a handshake still waiting for the app's accept is refused with 503, like a handshake that
  arrives while the server shuts down (RFC 9110 §15.6.4: a temporary condition; a proxy or
  client may retry it on another server). The app's ``receive()`` then returns the
  disconnect, so an app awaiting it ends and the server can exit.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
from collections import deque
from collections.abc import Awaitable
from time import perf_counter
from types import SimpleNamespace
from typing import Any, Protocol

from pounce.access_log import log_websocket
from pounce.asgi.scope import header_tokens
from pounce.errors import ClientDisconnected
from pounce.state import ServerState
from pounce.websocket.core import open_core
from pounce.websocket.frames import Close, ConnectionClosed, Failure, Ping, Pong
from pounce.websocket.frames import FrameCore as FrameCoreAPI

try:
    import cython  # type: ignore[import-untyped]  # Cython ships no type information
except ImportError:  # a pure install without Cython: only ``cython.compiled`` is read
    cython = SimpleNamespace(compiled=False)

if not cython.compiled:
    # The pure build. Compiled, _wssession.pxd cimports the compiled cycle's class (a
    # cimported name may not be assigned here: Cython drops this block).
    from pounce.asgi._cycle import _ReadyAwaitable

logger = logging.getLogger("pounce.error")

# RFC 6455 §1.3: the GUID appended to Sec-WebSocket-Key for Sec-WebSocket-Accept.
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# How long the server waits for the client's close frame after sending its own.
CLOSE_TIMEOUT = 5.0
# Message frames waiting for the end of the loop turn are written at once past this many bytes
# (uvloop's and asyncio's default write high-water mark): a large message is written as it is,
# without a copy into a joined buffer, and what waits here stays bounded.
FLUSH_BYTES = 64 * 1024
# A binary message from this size goes to the carrier as its frame header and the app's bytes
# object, written together (writelines: one writev on uvloop), not copied into one frame: the
# copy of a large payload costs more than one more buffer in the write.
WRITEV_BYTES = 16 * 1024

# RFC 6455 §7.4.1 close codes used by the server.
NORMAL = 1000
ABNORMAL = 1006
INTERNAL_ERROR = 1011
SERVICE_RESTART = 1012

# Session states.
CONNECTING = 0  # waiting for the app's accept (or denial)
RESPONDING = 1  # the app is sending a denial response (websocket.http.response.*)
OPEN = 2
CLOSING = 3  # our close frame is out; waiting for the client's
CLOSED = 4


class Carrier(Protocol):
    """What a session needs from the connection or stream that carries it."""

    @property
    def transport(self) -> Any:
        """The asyncio transport under the carrier (read only here: an attribute or property)."""

    def accept(self, headers: list[tuple[bytes, bytes]]) -> None:
        """Send the handshake response (101 on HTTP/1.1, 200 on HTTP/2) with these headers."""

    def respond(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        """Send a complete HTTP response instead of accepting, then end the carrier."""

    def write(self, data: bytes) -> Awaitable[None] | None:
        """Send WebSocket frame bytes; an awaitable while the write side is paused."""

    def writelines(self, parts: list[bytes]) -> Awaitable[None] | None:
        """Send these buffers in order, as ``write`` their concatenation."""

    def finish(self) -> None:
        """The session is over: close the connection (HTTP/1.1) or end the stream (HTTP/2)."""

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


def accept_token(key: bytes) -> bytes:
    """RFC 6455 §4.2.2: base64(SHA-1(key + GUID))."""
    return base64.b64encode(hashlib.sha1(key + _GUID).digest())


def valid_key(key: bytes) -> bool:
    """RFC 6455 §4.1: Sec-WebSocket-Key is 16 random bytes, base64-encoded."""
    try:
        return len(base64.b64decode(key, validate=True)) == 16
    except ValueError:
        return False


def _disconnect(code: int, reason: str = "") -> dict[str, Any]:
    return {"type": "websocket.disconnect", "code": code, "reason": reason}


# An iterator at its end: an ``await`` whose awaitable hands it over completes at once, with
# None, and nothing is raised.
_EXHAUSTED = iter(())


class _Sent(_ReadyAwaitable):
    """What ``send()`` returns when the message needs no wait (nearly always): awaiting it is
    done at once. Its ``__await__`` gives the interpreter an iterator already at its end, which
    ends the ``await`` with None without a ``StopIteration`` raised: compiled, a raise records
    a traceback, which costs more than the coroutine an ``async def`` would make. As the
    cycle's ``_Ready``, it also speaks the coroutine protocol (``create_task(send(...))``)."""

    def __await__(self) -> Any:
        return _EXHAUSTED

    def __next__(self) -> Any:
        raise StopIteration  # driven as a coroutine (a task made of it): done, with None


_SENT = _Sent()


async def _drain(waiter: Awaitable[None]) -> None:
    """What ``send()`` returns when the carrier's write side is paused: wait for the drain."""
    await waiter


class WebSocketSession:
    """One WebSocket: the ASGI receive/send pair, frames in and out, close codes, pings.

    It is also a server ``Connection`` (``deadline``, ``check_deadline``, ``shutdown``,
    ``is_idle``): it sits in ``state.connections`` while it lives.
    """

    def __init__(self, state: ServerState, carrier: Carrier, scope: dict[str, Any]) -> None:
        config = state.config
        self.state = state
        self.loop = state.loop
        self.carrier = carrier
        self.scope = scope
        self.status = CONNECTING
        self.deadline = 0.0
        self.task: asyncio.Task[None] | None = None
        self.max_size = config.ws_max_size
        self.max_queue = config.ws_max_queue
        self.ping_interval = config.ws_ping_interval or 0.0
        self.ping_timeout = config.ws_ping_timeout or 0.0
        self.deflate = config.ws_per_message_deflate
        self.core: FrameCoreAPI | None = None
        self._pending = bytearray()  # bytes received before accept
        self._queue: deque[dict[str, Any]] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._connect_sent = False
        self._disconnected: dict[str, Any] | None = None  # the disconnect message, once known
        self._read_paused = False
        self._pong_due = 0.0  # when the pong of the ping in flight is late (0: none in flight)
        self._next_ping = 0.0  # when the next ping is due
        self._ping_due_at = 0.0  # when the ping in flight was due (the next one follows it)
        self._response: tuple[int, list[tuple[bytes, bytes]]] | None = None
        self._out: list[bytes] = []  # frames waiting for the end of the loop turn
        self._out_size = 0
        self._out_parts = False  # _out holds a payload apart from its header (writelines)
        self._flush_scheduled = False
        self._blocked: Awaitable[None] | None = None  # the carrier's waiter from the last write
        self._body: list[bytes] = []
        self._started = perf_counter() if state.access_log else 0.0  # for the access record

    @property
    def transport(self) -> Any:
        return self.carrier.transport

    # Lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        state = self.state
        if state.shutting_down or (state.limit_concurrency and state.over_concurrency_limit()):
            # Shutting down (see ``shutdown``), or over --limit-concurrency as for HTTP requests.
            self._respond(503, [], b"")
            return
        state.connections.add(self)
        state.count_request()
        if state.metrics is not None:  # --metrics-bind: once per session, not per message
            state.metrics.websocket_sessions += 1
        task = self.task = self.loop.create_task(self.run_asgi(state.app))
        state.track(task)

    async def run_asgi(self, app: Any) -> None:
        try:
            await app(self.scope, self.receive, self.send)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                self._end_after_app(INTERNAL_ERROR)
                raise
            if not isinstance(exc, ClientDisconnected) or self.status != CLOSED:
                logger.error("Exception in ASGI application", exc_info=exc)
            self._end_after_app(INTERNAL_ERROR)
            if not isinstance(exc, Exception):
                raise
        else:
            if self.status == CONNECTING:
                logger.error("ASGI callable returned without accepting the WebSocket")
            elif self.status == RESPONDING:
                assert self._response is not None
                if not self._body:
                    # A denial response with no body message: the app's status and headers
                    # with an empty body. The extension's messages are those of an HTTP
                    # response (ASGI "WebSocket Denial Response"), where the body is the
                    # content of the body messages: none, so empty.
                    self._respond(self._response[0], self._response[1], b"")
                    self._set_disconnected(_disconnect(ABNORMAL))
                else:
                    # Part of a body came with more_body: the response is not complete (as
                    # for HTTP, a 500 replaces it; nothing of it has been sent yet).
                    logger.error("ASGI callable returned without completing the denial response")
            self._end_after_app(NORMAL)

    def _end_after_app(self, code: int) -> None:
        """The app is done: whatever state the session is in, bring it to an end."""
        status = self.status
        if status in (CONNECTING, RESPONDING):
            self._respond(500, [], b"")  # no handshake answer, an unfinished denial, an error
        elif status == OPEN:
            self._close(code, "")
        self._forget_if_done()

    def _forget_if_done(self) -> None:
        if self.status == CLOSED:
            self.deadline = 0.0
            self.state.connections.discard(self)

    # Carrier events ------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Bytes from the client (after the handshake request)."""
        if self.status in (CONNECTING, RESPONDING):
            self._pending += data
            return
        core = self.core
        if core is None or self.status == CLOSED:
            return
        try:
            events = core.receive(data)
        except ConnectionClosed:
            # Bytes after the core has read a close frame or failed: nothing more to read.
            self._set_disconnected(_disconnect(ABNORMAL))
            self._end()
            return
        queue = self._queue
        for event in events:
            tp = type(event)
            # Messages, nearly every event, inline (the core gives each as its payload alone,
            # bytes or str: frames.py's ``receive``): one dict each, the waiter woken, reading
            # paused once the queue is full.
            if tp is bytes or tp is str:
                if tp is bytes:
                    queue.append({"type": "websocket.receive", "bytes": event})
                else:
                    queue.append({"type": "websocket.receive", "text": event})
                if self._waiter is not None:
                    self._wake()
                if len(queue) >= self.max_queue and not self._read_paused:
                    self._read_paused = True
                    self.carrier.pause_reading()
                continue
            if tp is Ping:
                self._write(core.send_pong(event.payload))  # type: ignore[union-attr]  # narrowed by type(event)
            elif tp is Pong:
                self._on_pong()
            elif tp is Close:
                self._on_close(event)  # type: ignore[arg-type]  # narrowed by type(event)
            elif tp is Failure:
                # The core names the close code for what the client got wrong (RFC 6455 §7.4.1:
                # 1002, 1007, 1009).
                logger.debug(
                    "WebSocket protocol error from %s: %s",
                    self.scope.get("client"),
                    event.reason,  # type: ignore[union-attr]  # narrowed by type(event)
                )
                self._fail(event.code, event.reason)  # type: ignore[union-attr]  # narrowed by type(event)
            if self.status == CLOSED:
                return

    def _on_close(self, event: Close) -> None:
        core = self.core
        assert core is not None
        # RFC 6455 §5.5.1: answer a close frame with one (the client's code echoed), unless
        # ours went first (§7.1.2: then the closing handshake is complete).
        self._write(core.send_close(event.code, event.reason))
        self._set_disconnected(_disconnect(event.code, event.reason))
        self._end()

    def connection_lost(self) -> None:
        """The connection or stream is gone without a closing handshake (RFC 6455 §7.1.5)."""
        if self.status == CLOSED:
            return
        self._set_disconnected(_disconnect(ABNORMAL))
        self.status = CLOSED
        self._out = []
        self._out_size = 0
        self._out_parts = False
        self._forget_if_done()

    def _fail(self, code: int, reason: str) -> None:
        """Close at once (RFC 6455 §7.1.7), telling the app the same code."""
        core = self.core
        if core is not None:
            self._write(core.send_close(code, reason))  # b"" when ours went out already
        self._set_disconnected(_disconnect(code, reason))
        self._end()

    def _end(self) -> None:
        if self.status == CLOSED:
            return
        self.status = CLOSED
        self._flush()
        self.carrier.finish()
        self._forget_if_done()

    # Server controls -------------------------------------------------------------------------

    def is_idle(self) -> bool:
        return self.status == CLOSED

    def shutdown(self) -> None:
        """Server shutdown: an open WebSocket closes with 1012 (Service Restart, RFC 6455
        §7.4.1) and the app sees that code; a handshake the app has not answered yet gets 503
        and the app's ``receive()`` the disconnect (1006, as for a refused handshake). A denial
        response the app has started is left to finish, like an HTTP response in progress."""
        if self.status == CONNECTING:
            self._respond(503, [], b"")
            self._set_disconnected(_disconnect(ABNORMAL))
        elif self.status == OPEN:
            self._close(SERVICE_RESTART, "")
            self._set_disconnected(_disconnect(SERVICE_RESTART))

    def _arm_ping(self, after: float = 0.0) -> None:
        """Schedule the next ping one interval after ``after`` (default: now), or at once if
        that moment has passed (a pong slower than the interval, as websockets does)."""
        if self.ping_interval and self.status == OPEN:
            now = self.loop.time()
            self._next_ping = max(now, (after or now) + self.ping_interval)
            self._update_deadline()

    def _on_pong(self) -> None:
        # Only the answer to our ping in flight counts; an unsolicited pong (RFC 6455 §5.5.3
        # allows them) does not move the schedule.
        if self._pong_due:
            self._pong_due = 0.0
            self._arm_ping(self._ping_due_at)

    def _update_deadline(self) -> None:
        times = [t for t in (self._next_ping, self._pong_due) if t]
        self.deadline = min(times) if times else 0.0

    def check_deadline(self, now: float) -> None:
        """From the server's tick: send a ping, time out a missing pong or close frame."""
        if self.status == CLOSING:
            self.deadline = 0.0
            self._set_disconnected(_disconnect(ABNORMAL))
            self._end()
            return
        if self.status != OPEN or self.core is None:
            self.deadline = 0.0
            return
        if self._pong_due and now >= self._pong_due:
            logger.debug("WebSocket ping timeout for %s", self.scope.get("client"))
            self._pong_due = 0.0
            self._fail(INTERNAL_ERROR, "keepalive ping timeout")
            return
        if self._next_ping and now >= self._next_ping:
            due, self._next_ping = self._next_ping, 0.0
            self._write(self.core.send_ping(b"pounce"))
            if self.ping_timeout:
                # The client has the whole timeout from the moment the ping went out.
                self._ping_due_at = due
                self._pong_due = now + self.ping_timeout
            else:
                # The next ping one interval after this one was due; after a stall longer than
                # an interval, one interval from now (no burst of pings to catch up).
                next_ping = due + self.ping_interval
                self._next_ping = next_ping if next_ping > now else now + self.ping_interval
        self._update_deadline()

    # ASGI receive ----------------------------------------------------------------------------

    def _enqueue(self, message: dict[str, Any]) -> None:
        self._queue.append(message)
        if self._waiter is not None:
            self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        self._waiter = None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _set_disconnected(self, message: dict[str, Any]) -> None:
        if self._disconnected is None:
            self._disconnected = message
            self._enqueue(message)

    async def receive(self) -> dict[str, Any]:
        if not self._connect_sent:
            self._connect_sent = True
            return {"type": "websocket.connect"}
        queue = self._queue
        while not queue:
            waiter = self._waiter = self.loop.create_future()
            await waiter
        message = queue[0]
        if message is self._disconnected:
            return message  # every later receive() sees the disconnect too
        queue.popleft()
        if self._read_paused and len(queue) <= self.max_queue // 2:
            self._read_paused = False
            if self.status in (OPEN, CLOSING):
                self.carrier.resume_reading()
        return message

    # ASGI send ---------------------------------------------------------------------------

    def send(self, message: dict[str, Any]) -> Awaitable[None]:
        """ASGI send(): does the work now; returns ``_SENT``, or a coroutine that waits for the
        carrier's write side to drain."""
        kind = message["type"]
        status = self.status
        if status == OPEN and kind == "websocket.send":  # nearly every call, first
            data = message.get("bytes")
            if data is None:
                data = message.get("text")
                if data is None:
                    raise RuntimeError("websocket.send needs 'bytes' or 'text'")
            elif type(data) is not bytes:
                data = bytes(data)
            elif len(data) >= WRITEV_BYTES:
                waiter = self._queue_parts(self.core.send_message_parts(data))  # type: ignore[union-attr]  # set when OPEN
                if waiter is not None:
                    return _drain(waiter)
                return _SENT
            waiter = self._queue_message(self.core.send_message(data))  # type: ignore[union-attr]  # set when OPEN
            if waiter is not None:
                return _drain(waiter)
            return _SENT
        if status == CONNECTING:
            if kind == "websocket.accept":
                self._accept(message)
            elif kind == "websocket.close":
                # ASGI: closing before accepting refuses the handshake with 403.
                self._respond(403, [], b"")
                self._set_disconnected(_disconnect(ABNORMAL))
            elif kind == "websocket.http.response.start":
                status_code = message["status"]
                if type(status_code) is not int or not 100 <= status_code <= 999:
                    raise RuntimeError(f"Invalid status code {status_code!r}")
                self._response = (status_code, list(message.get("headers", ())))
                self.status = RESPONDING
            else:
                raise RuntimeError(f"Expected websocket.accept or websocket.close, got {kind!r}")
            return _SENT
        if status == RESPONDING:
            if kind != "websocket.http.response.body":
                raise RuntimeError(f"Expected websocket.http.response.body, got {kind!r}")
            self._body.append(bytes(message.get("body", b"")))
            if not message.get("more_body", False):
                assert self._response is not None
                self._respond(self._response[0], self._response[1], b"".join(self._body))
                self._set_disconnected(_disconnect(ABNORMAL))
            return _SENT
        if status != OPEN:
            raise ClientDisconnected("The WebSocket is closed")
        if kind == "websocket.close":
            self._close(message.get("code") or NORMAL, message.get("reason") or "")
        else:
            raise RuntimeError(f"Expected websocket.send or websocket.close, got {kind!r}")
        return _SENT

    def _accept(self, message: dict[str, Any]) -> None:
        headers: list[tuple[bytes, bytes]] = []
        subprotocol = message.get("subprotocol")
        if subprotocol is not None:
            headers.append((b"sec-websocket-protocol", subprotocol.encode("ascii")))
        offers: list[str] = []
        if self.deflate:
            offers = header_tokens(self.scope["headers"], b"sec-websocket-extensions")
        # RFC 7692 §5: agree on permessage-deflate and its window parameters, or run without.
        core, agreed = open_core(self.max_size, offers)
        if agreed is not None:
            headers.append((b"sec-websocket-extensions", agreed))
        for name, value in message.get("headers", ()):
            headers.append((bytes(name).lower(), bytes(value)))
        self.carrier.accept(headers)
        # RFC 6455 §4.2.2: 101 on HTTP/1.1; RFC 8441 §5: 200 on HTTP/2.
        self._log_handshake(200 if self.scope.get("http_version") == "2" else 101, headers)
        self.core = core
        self.status = OPEN
        self._arm_ping()
        if self._pending:
            pending, self._pending = bytes(self._pending), bytearray()
            self.loop.call_soon(self.feed, pending)

    def _log_handshake(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        """The access record of the handshake, shaped as an HTTP response's (access_log.py):
        method GET (RFC 6455 §4.1) or CONNECT over HTTP/2 (RFC 8441 §4)."""
        if self._started:
            http2 = self.scope.get("http_version") == "2"
            log_websocket(
                self.scope,
                "CONNECT" if http2 else "GET",
                status,
                perf_counter() - self._started,
                headers,
            )

    def _respond(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self._log_handshake(status, headers)
        self.status = CLOSED
        self._pending = bytearray()
        self.carrier.respond(status, headers, body)
        self._forget_if_done()

    def _close(self, code: int, reason: str) -> None:
        """Our close frame (RFC 6455 §5.5.1); the session ends when the client answers."""
        core = self.core
        if core is None or self.status != OPEN:
            return
        self._write(core.send_close(code, reason))
        self.status = CLOSING
        self._next_ping = self._pong_due = 0.0
        self.deadline = self.loop.time() + CLOSE_TIMEOUT
        if self._read_paused:
            self._read_paused = False
            self.carrier.resume_reading()  # the client's close frame must get through

    def _queue_message(self, data: bytes) -> Awaitable[None] | None:
        """A message's frames, written at the end of this loop turn with the others sent in it
        (at once past ``FLUSH_BYTES``); what to await when the carrier's write side is paused."""
        if data:
            self._out.append(data)
            self._out_size += len(data)
            self._queued()
        return self._unblock()

    def _queue_parts(self, parts: list[bytes]) -> Awaitable[None] | None:
        """``_queue_message`` for a frame given as several buffers (``send_message_parts``):
        the flush writes them with ``writelines``."""
        if parts:
            if len(parts) > 1:
                self._out_parts = True
            for part in parts:
                self._out.append(part)
                self._out_size += len(part)
            self._queued()
        return self._unblock()

    def _queued(self) -> None:
        if self._out_size >= FLUSH_BYTES:
            self._flush()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self._flush_at_end_of_turn)

    def _unblock(self) -> Awaitable[None] | None:
        """The carrier's waiter from the last write, handed to one send to await."""
        blocked = self._blocked
        if blocked is not None:
            self._blocked = None
        return blocked

    def _flush_at_end_of_turn(self) -> None:
        self._flush_scheduled = False
        self._flush()

    def _flush(self) -> None:
        out = self._out
        if not out:
            return
        self._out = []
        self._out_size = 0
        if self._out_parts:
            self._out_parts = False
            waiter = self.carrier.writelines(out)
        else:
            waiter = self.carrier.write(out[0] if len(out) == 1 else b"".join(out))
        if waiter is not None:
            self._blocked = waiter

    def _write(self, data: bytes) -> None:
        """A control frame: written at once, behind the message frames still waiting."""
        if data:
            self._out.append(data)
            self._out_size += len(data)
            self._flush()
