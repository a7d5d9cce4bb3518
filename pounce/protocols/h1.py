"""The HTTP/1.1 connection: one ``asyncio.Protocol`` with two parser backends.

httptools calls the ``on_*`` methods below directly; ``H11Parser`` drives h11 and calls the
same methods, so everything after the parser (limits, framing checks, scope, pipelining,
keep-alive, response framing) is one code path. The ASGI side is the shared
``RequestResponseCycle``; this class is its ``ResponseWriter``.

Rules and where they come from:
- Framing checks on the request head: RFC 9112 §6 (``_headers.analyze_request_headers``).
- Pipelined requests are answered in order (RFC 9112 §9.3.2): heads that arrive while a
  response is in progress wait in ``pipeline`` and reading pauses.
- ``Connection: close`` from the client: answer, then close, and read nothing more
  (RFC 9112 §9.6).
- The response head is held back until the first body bytes so that head and body usually
  leave in one write.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable
from time import perf_counter
from typing import TYPE_CHECKING, Any

from .. import header_flags
from .._compat import EXTENSION_IMPORT_ERRORS, USE_EXTENSIONS, import_compiled
from .._headers import analyze_request_headers, build_response_head
from .._url import decode_path, split_target
from ..errors import BadRequest
from ..state import ServerState
from .cycle import Headers
from .cycle import RequestResponseCyclePy as RequestResponseCycle
from .h1_limits import (
    BODY_TIMEOUT,
    BODY_TOO_LARGE,
    CONNECTION_LIMIT,
    FIELD_TOO_LARGE,
    HEAD_TOO_LARGE,
    HEADER_TIMEOUT,
    REQUEST_LINE_TOO_LONG,
    TOO_MANY_FIELDS,
    over_connection_limit,
    partial_head_error,
    trailer_field_error,
)
from .h1_support import (
    ASGI_VERSION,
    BODY_HIGH_WATER,
    BODY_LOW_WATER,
    CHUNKED_LINE,
    CLOSE_LINE,
    CONTINUE,
    JOIN_LIMIT,
    KEEP_ALIVE_LINE,
    LAST_CHUNK,
    LINGER_SECONDS,
    METHODS,
    NO_BODY_STATUSES,
    OUT_BATCH,
    PARSE_ERRORS,
    UPGRADE_ERRORS,
    StopParsing,
    describe_connection,
    error_response,
    httptools,
)
from .h11_parser import H11Parser
from .negotiate import PREFACE, switch_to_h2, try_h2c_upgrade
from .tasks import start_task
from .ws_h1 import forward_leftover, try_ws_upgrade

logger = logging.getLogger("pounce.error")

# Where the parser is in the current message.
_IDLE = 0
_HEAD = 1
_BODY = 2

# Why reading is paused (bits): a body the app has not read yet, or queued pipelined requests.
_PAUSE_BODY = 1
_PAUSE_PIPELINE = 2


class H1Protocol(asyncio.Protocol):
    """One HTTP/1.1 connection."""

    def __init__(self, state: ServerState, parser: str = "httptools") -> None:
        self.state = state
        self.loop = state.loop
        self.transport: asyncio.Transport = None  # type: ignore[assignment]  # set in connection_made
        if parser == "httptools":
            self.parser: Any = httptools.HttpRequestParser(self)
        else:
            self.parser = H11Parser(self, state.max_head_size, state.limit_request_line)
        self.server: tuple[str, int] | None = None
        self.client: tuple[str, int] | None = None
        self.scheme = "http"
        self.proxy_trusted = False
        self.deadline = 0.0
        self._idle_mark = 0.0  # the sweep time that marked this connection idle (state.py)
        self.closing = False
        self.disconnected = False
        self._lingering = False
        self._starting = False  # inside an eager task start (see _run_next)
        self._discard_input = False
        # HTTP/2 entry (pounce.protocols.negotiate): the first bytes are checked for the
        # prior-knowledge preface while this is not None (--http2). The h2c upgrade has its
        # own switch, state.h2c_upgrade (--h2c-upgrade).
        self._preface: bytes | None = b"" if state.config.http2 else None
        self._read_paused = 0
        self._write_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        # The request the app is answering, and complete heads queued behind it.
        self.cycle: RequestResponseCycle | None = None
        self.pipeline: deque[tuple[RequestResponseCycle | None, bool, Any]] = deque()
        # Parser state for the message being read.
        self._phase = _IDLE
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._head_size = 0
        self._partial_line = 0
        self._line_done = False
        self._trailer_size = 0
        self._trailer_fields = 0
        # Parts of a streamed response body waiting to be written together (write_body).
        self._out: list[bytes] = []
        self._out_size = 0
        self._out_scheduled = False
        self._reading: RequestResponseCycle | None = None
        # Slow-client deadlines (0: not armed); ``deadline`` is the earliest pending one.
        self._head_deadline = 0.0
        self._body_deadline = 0.0
        self._send_deadline = 0.0
        self._send_mark = 0  # bytes buffered in the transport when the send clock (re)started
        self._body_received = 0
        # httptools (llhttp) stops at the head of an Upgrade/CONNECT request and hands the rest
        # over as the new protocol's bytes; when such a request is answered as plain HTTP, its
        # Content-Length body is fed to the app from those bytes instead.
        self._llhttp = parser == "httptools"
        self._upgrade_body_left = 0
        self._message_keep_alive = True
        # Response state of self.cycle.
        self._keep_alive = True
        self._http11 = True
        self._is_head_request = False
        self._head: bytes | None = None
        self._head_written = False
        self._chunked = False
        self._no_body = False
        self._expected = -1
        self._sent = 0

    # asyncio.Protocol ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # asyncio hands a BaseTransport
        state = self.state
        refuse = state.limit_connections and over_connection_limit(state)
        state.connections.add(self)
        self.server, self.client, self.scheme, self.proxy_trusted = describe_connection(
            transport, state
        )
        self.deadline = self.loop.time() + state.keep_alive_timeout
        if refuse:
            # Past --limit-connections. Which protocol the client speaks is not known yet on
            # cleartext; a 503 (with Retry-After) is what every HTTP/1.x client can read, and
            # an HTTP/2 client with prior knowledge sees a failed preface: refused either way.
            self._preface = None
            self._write_error_and_close(*CONNECTION_LIMIT)

    def connection_lost(self, exc: Exception | None) -> None:
        self.disconnected = True
        self.deadline = 0.0
        self.state.connections.discard(self)
        if self.cycle is not None:
            self.cycle.disconnect()
        for cycle, _, _ in self.pipeline:
            if cycle is not None:
                cycle.disconnect()
        self.pipeline.clear()
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def eof_received(self) -> bool | None:
        return None  # the transport closes itself; connection_lost tells the app

    def pause_writing(self) -> None:
        self._write_paused = True
        # --timeout-send: the client must read some of the response within this time.
        self._send_mark = self.transport.get_write_buffer_size()
        self._send_deadline = self.loop.time() + self.state.send_timeout
        self._arm(self._send_deadline)

    def resume_writing(self) -> None:
        self._write_paused = False
        self._send_deadline = 0.0
        waiter = self._drain_waiter
        if waiter is not None:
            self._drain_waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def data_received(self, data: bytes) -> None:
        if self._discard_input:
            if self._upgrade_body_left:
                self._feed_upgrade_body(data)
            return
        if self._preface is not None:
            data = self._check_preface(data)
            if not data:
                return
        try:
            self.parser.feed_data(data)
        except UPGRADE_ERRORS as exc:
            # An Upgrade or CONNECT request: the parser stops at the upgrade. A WebSocket took
            # the transport over (the bytes after the head are its own); any other is answered
            # as plain HTTP (its body from those bytes) and the connection closes after it.
            self._discard_input = True
            if self._upgrade_body_left:
                self._feed_upgrade_body(data[exc.args[0] :])
            forward_leftover(self, data, exc.args[0])
        except Exception as exc:
            # httptools wraps what a callback raised; h11's adapter raises it directly.
            cause = exc if isinstance(exc, (BadRequest, StopParsing)) else exc.__context__
            if isinstance(cause, StopParsing):
                pass
            elif isinstance(cause, BadRequest):
                self._bad_request(cause.status, cause.reason)
            elif isinstance(exc, PARSE_ERRORS):
                reason = str(exc) or "Invalid HTTP request"
                # llhttp's word for a well-formed HTTP/x.y other than 1.0/1.1 (h11 reports
                # those as parsed, and on_headers_complete answers 505 the same way).
                status = 505 if reason == "Invalid HTTP version" else 400
                self._bad_request(status, reason)
            else:  # a bug of ours: the client still gets an answer, the worker lives on
                logger.exception("Unexpected error while parsing a request")
                self._bad_request(400, "Invalid HTTP request")
        else:
            if self._phase == _HEAD:
                self._check_partial_head(data)
            elif self._reading is not None:
                self._body_progress()
        if self.cycle is None and self.pipeline:
            self._run_next()

    def _check_preface(self, data: bytes) -> bytes:
        """RFC 9113 §3.3: a client with prior knowledge starts with the HTTP/2 preface."""
        data = self._preface + data  # type: ignore[operator]  # called only while _preface is bytes
        if len(data) < len(PREFACE) and PREFACE.startswith(data):
            self._preface = data
            return b""
        self._preface = None
        if data.startswith(PREFACE):
            switch_to_h2(self, data)
            return b""
        return data

    def detach(self) -> asyncio.Transport:
        """Hand the transport over to another protocol (HTTP/2): read nothing more here."""
        self._discard_input = True
        self.deadline = 0.0
        self.state.connections.discard(self)
        return self.transport

    # Parser callbacks (httptools calls these; H11Parser mirrors it) --------------------------

    def on_message_begin(self) -> None:
        if self._discard_input:
            raise StopParsing
        self._phase = _HEAD
        self._url = b""
        self._headers = []
        self._head_size = 0
        self._partial_line = 0
        self._line_done = False
        self._trailer_size = self._trailer_fields = 0
        self._head_deadline = 0.0
        self.deadline = self._send_deadline  # the keep-alive wait is over

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._head_size += len(url)
        if len(self._url) > self.state.limit_request_line:
            raise BadRequest(*REQUEST_LINE_TOO_LONG)

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._phase != _HEAD:
            self._on_trailer(name, value)
            return
        size = len(name) + len(value) + 2
        self._head_size += size + 2
        state = self.state
        if size > state.limit_field_size:
            raise BadRequest(*FIELD_TOO_LARGE)
        if self._head_size > state.max_head_size:
            raise BadRequest(*HEAD_TOO_LARGE)
        headers = self._headers
        headers.append((name.lower(), value))
        if len(headers) > state.limit_fields:
            raise BadRequest(*TOO_MANY_FIELDS)

    def _on_trailer(self, name: bytes, value: bytes) -> None:
        """A chunked trailer field: never merged into the request headers, but held to the
        head's limits (pounce.protocols.h1_limits)."""
        size = len(name) + len(value) + 2
        self._trailer_size += size + 2
        self._trailer_fields += 1
        error = trailer_field_error(self.state, size, self._trailer_size, self._trailer_fields)
        if error is not None:
            raise BadRequest(*error)

    def on_headers_complete(self) -> None:
        self._phase = _BODY
        parser = self.parser
        version = parser.get_http_version()
        if version not in ("1.1", "1.0"):
            if version[:2] == "0.":  # no version in the request line (RFC 9112 §3)
                raise BadRequest(400, "Invalid request line")
            raise BadRequest(505, f"HTTP/{version} is not supported")
        http11 = version == "1.1"
        headers = self._headers
        content_length, flags = analyze_request_headers(headers, http11)
        if self.state.limit_body:
            self._body_received = 0
            if content_length > self.state.limit_body:
                raise BadRequest(*BODY_TOO_LARGE)  # answered before the app runs
        method_bytes = parser.get_method()
        method = METHODS.get(method_bytes) or method_bytes.decode("ascii")
        if http11:
            keep_alive = not flags & header_flags.REQ_CONNECTION_CLOSE
        else:
            keep_alive = bool(flags & header_flags.REQ_CONNECTION_KEEP_ALIVE) and not (
                flags & header_flags.REQ_CONNECTION_CLOSE
            )
        upgrade = bool(
            flags & header_flags.REQ_HAS_UPGRADE and flags & header_flags.REQ_CONNECTION_UPGRADE
        )
        upgrade = upgrade or method == "CONNECT"
        if upgrade:
            keep_alive = False
            if flags & header_flags.REQ_CHUNKED:
                # llhttp cannot read such a body (it stops at the head); both parsers refuse it.
                raise BadRequest(400, "Upgrade request with a chunked body")
            if self._llhttp and content_length > 0:
                self._upgrade_body_left = content_length
        raw_path, query = split_target(self._url)
        state = self.state
        client = self.client
        scheme = self.scheme
        if self.proxy_trusted:
            client, scheme = state.proxy.apply(headers, client, scheme)  # type: ignore[union-attr]  # proxy_trusted implies a proxy
        root_path = state.root_path
        scope = {
            "type": "http",
            "asgi": ASGI_VERSION,
            "http_version": version,
            "server": self.server,
            "client": client,
            "scheme": scheme,
            "method": method,
            "root_path": root_path,
            "path": root_path + decode_path(raw_path) if root_path else decode_path(raw_path),
            "raw_path": state.root_path_bytes + raw_path if root_path else raw_path,
            "query_string": query,
            "headers": headers,
            "state": state.lifespan_state.copy(),
        }
        more_body = content_length > 0 or bool(flags & header_flags.REQ_CHUNKED)
        if flags & header_flags.REQ_HAS_UPGRADE and state.h2c_upgrade:
            if try_h2c_upgrade(self, scope, headers, more_body):
                raise StopParsing  # the connection is HTTP/2 now
        if flags & header_flags.REQ_HAS_UPGRADE and try_ws_upgrade(self, scope, headers, more_body):
            return  # a WebSocket has the transport; the parser stops at the upgrade
        cycle = RequestResponseCycle(
            scope,
            self,
            self.loop,
            more_body,
            expect_continue=more_body and bool(flags & header_flags.REQ_EXPECT_CONTINUE),
        )
        if state.access_log:
            cycle.start_time = perf_counter()  # the access record's duration
        self._reading = cycle if more_body else None
        self._message_keep_alive = keep_alive
        self.pipeline.append((cycle, keep_alive, None))

    def on_body(self, body: bytes) -> None:
        cycle = self._reading
        if cycle is None:
            return
        limit = self.state.limit_body
        if limit:
            self._body_received += len(body)
            if self._body_received > limit:
                raise BadRequest(*BODY_TOO_LARGE)  # a chunked body crossed the limit
        if cycle.feed_body(body) > BODY_HIGH_WATER and not cycle.response_complete:
            self._pause_reading(_PAUSE_BODY)

    def on_message_complete(self) -> None:
        self._phase = _IDLE
        cycle = self._reading
        if cycle is not None and not self._upgrade_body_left:
            cycle.end_body()
            self._reading = None
        if not self._message_keep_alive or self.closing:
            # RFC 9112 §9.6: no further requests are processed on this connection.
            self._discard_input = True

    def _feed_upgrade_body(self, data: bytes) -> None:
        """The body of an Upgrade request answered as HTTP, from the bytes llhttp left over."""
        cycle = self._reading
        left = self._upgrade_body_left
        if cycle is None:
            self._upgrade_body_left = 0
            return
        chunk = data[:left]
        if chunk:
            self._upgrade_body_left = left - len(chunk)
            cycle.feed_body(chunk)
        if not self._upgrade_body_left:
            cycle.end_body()
            self._reading = None

    def _check_partial_head(self, data: bytes) -> None:
        """Bound a head still being received (the line in progress, the fields so far), and
        start its --timeout-request-header clock, which more bytes do not push back."""
        newline = data.rfind(b"\n")
        if newline == -1:
            self._partial_line += len(data)
        else:
            self._partial_line = len(data) - newline - 1
            self._line_done = True
        error = partial_head_error(self.state, self._head_size, self._partial_line, self._line_done)
        if error is not None:
            self._bad_request(*error)
        elif not self._head_deadline:
            self._head_deadline = self.loop.time() + self.state.header_timeout
            self._arm(self._head_deadline)

    def _body_progress(self) -> None:
        """Body bytes arrived and more are announced: restart the --timeout-request-body clock.
        Only reads that leave a body unfinished get here, so a request whose body came in
        whole costs nothing."""
        self._body_deadline = self.loop.time() + self.state.body_timeout
        self._arm(self._body_deadline)

    def _arm(self, at: float) -> None:
        """Make the sweep call check_deadline by ``at`` (the earliest pending deadline wins)."""
        if not self.deadline or at < self.deadline:
            self.deadline = at

    # Running requests ---------------------------------------------------------------------

    def _run_next(self) -> None:
        cycle, keep_alive, error = self.pipeline.popleft()
        if cycle is None:
            self._write_error_and_close(*error)
            return
        if self.closing and not self.pipeline:
            keep_alive = False
        self.cycle = cycle
        self._keep_alive = keep_alive
        scope = cycle.scope
        self._http11 = scope["http_version"] == "1.1"
        self._is_head_request = scope["method"] == "HEAD"
        self._head = None
        self._head_written = False
        self._chunked = False
        self._no_body = False
        self._expected = -1
        self._sent = 0
        app = self.state.app_for_request()
        self._starting = True
        task = start_task(self.loop, cycle.run_asgi(app))
        self._starting = False
        if not task.done():
            cycle.task = task
            self.state.track(task)
            if self._head is not None and cycle is self.cycle:
                self._flush_head(cycle)  # the app paused after starting its response
        if self.pipeline:
            self._pause_reading(_PAUSE_PIPELINE)
        elif self._read_paused & _PAUSE_PIPELINE:
            self._resume_reading(_PAUSE_PIPELINE)

    def _run_queued(self) -> None:
        if self.cycle is None and self.pipeline and not self.disconnected:
            self._run_next()

    def _pause_reading(self, reason: int) -> None:
        if not self._read_paused and not self.disconnected:
            self.transport.pause_reading()
        self._read_paused |= reason

    def _resume_reading(self, reason: int) -> None:
        if not self._read_paused & reason:
            return
        self._read_paused &= ~reason
        if not self._read_paused and not self.disconnected:
            self.transport.resume_reading()

    # ResponseWriter ---------------------------------------------------------------------------

    def write_start(
        self, cycle: RequestResponseCycle, status: int, headers: Headers, trailers: bool
    ) -> None:
        head, content_length, flags = build_response_head(status, headers)
        no_body = self._is_head_request or status in NO_BODY_STATUSES or status < 200
        keep_alive = self._keep_alive and not flags & header_flags.RESP_CONNECTION_CLOSE
        if self.closing and not self.pipeline:
            keep_alive = False  # shutting down: this is the connection's last response
        framing = b""
        if content_length >= 0:
            self._expected = content_length
        elif flags & header_flags.RESP_CHUNKED:
            self._chunked = not no_body
        elif not no_body:
            if self._http11:
                self._chunked = True
                framing = CHUNKED_LINE
            else:
                keep_alive = False  # HTTP/1.0: the body ends when the connection closes
        if not cycle.request_complete:
            keep_alive = False  # the rest of the request body would be read as a request
        self._keep_alive = keep_alive
        self._no_body = no_body
        if not keep_alive:
            framing += CLOSE_LINE
        elif not self._http11:
            framing += KEEP_ALIVE_LINE
        self._head = b"".join(
            (head, self.state.default_headers[(flags >> 2) & 3], framing, b"\r\n")
        )
        # An app that pauses between start and body still gets its head out promptly: when an
        # eagerly started app pauses, _run_next flushes; otherwise the loop's next turn does.
        if not self._starting:
            self.loop.call_soon(self._flush_head, cycle)

    def _flush_head(self, cycle: RequestResponseCycle) -> None:
        head = self._head
        if head is not None and cycle is self.cycle and not self.disconnected:
            self._head = None
            self._head_written = True
            self.transport.write(head)

    def write_body(
        self, cycle: RequestResponseCycle, body: bytes, more_body: bool
    ) -> Awaitable[None] | None:
        if self.disconnected:
            return None
        size = len(body)
        if self._expected >= 0:
            self._sent += size
            if self._sent > self._expected:
                raise RuntimeError("Response content longer than Content-Length")
        head = self._head
        if head is not None:
            self._head = None
            self._head_written = True
        if self._no_body:
            if head is not None:
                self.transport.write(head)
        elif more_body:
            # A streamed body: its parts wait for the end of this loop iteration (or OUT_BATCH
            # bytes) and go out in one write, so an app sending many small parts without
            # waiting costs one syscall rather than one per part.
            out = self._out
            if head is not None:
                out.append(head)
            if size:
                if self._chunked:
                    out += (b"%x\r\n" % size, body, b"\r\n")
                else:
                    out.append(body)
                self._out_size += size
                if self._out_size >= OUT_BATCH:
                    self._flush_out()
            if self._out and not self._out_scheduled:
                self._out_scheduled = True
                self.loop.call_soon(self._flush_out)
        elif self._out:
            # The last part of a streamed body, in one write with the parts still waiting.
            out = self._out
            if self._chunked:
                if size:
                    out += (b"%x\r\n" % size, body, b"\r\n")
                out.append(LAST_CHUNK)
            elif size:
                out.append(body)
            self._out_size += size
            self._flush_out()
        elif self._chunked:
            parts = [head] if head is not None else []
            if size:
                parts += (b"%x\r\n" % size, body, b"\r\n")
            parts.append(LAST_CHUNK)  # (a part with more to come took the branch above)
            self._write_parts(parts, size)
        elif head is not None:
            if size < JOIN_LIMIT:
                self.transport.write(head + body if size else head)
            else:
                self.transport.writelines((head, body))
        elif size:
            self.transport.write(body)
        cycle.bytes_sent += size
        if not more_body and 0 <= self._expected != self._sent and not self._no_body:
            logger.error("Response content shorter than Content-Length")
            self._keep_alive = False
        if self._write_paused:
            return self._drain()
        return None

    def _flush_out(self) -> None:
        """Write the parts of a streamed body that are waiting (see write_body)."""
        self._out_scheduled = False
        out = self._out
        if not out:
            return
        self._out = []
        size = self._out_size
        self._out_size = 0
        if not self.disconnected:
            self._write_parts(out, size)

    def _write_parts(self, parts: list[bytes], size: int) -> None:
        if len(parts) == 1:
            self.transport.write(parts[0])
        elif size < JOIN_LIMIT:
            self.transport.write(b"".join(parts))
        else:
            self.transport.writelines(parts)

    def _drain(self) -> asyncio.Future[None]:
        waiter = self._drain_waiter
        if waiter is None:
            waiter = self._drain_waiter = self.loop.create_future()
        return waiter

    def write_trailers(self, cycle: RequestResponseCycle, headers: Headers) -> None:
        # HTTP/1.1 does not advertise http.response.trailers; the chunked body already ended.
        return None

    def write_error(self, cycle: RequestResponseCycle, status: int) -> None:
        if cycle is self.cycle and not self._head_written and not self.disconnected:
            self._head = None
            self._write_error_and_close(status, "")

    def send_continue(self, cycle: RequestResponseCycle) -> None:
        if cycle is self.cycle and self._head is None and not self._head_written:
            if not self.disconnected:
                self.transport.write(CONTINUE)

    def body_consumed(self, cycle: RequestResponseCycle, nbytes: int) -> None:
        if self._read_paused & _PAUSE_BODY and cycle.buffered < BODY_LOW_WATER:
            self._resume_reading(_PAUSE_BODY)

    def response_complete(self, cycle: RequestResponseCycle) -> None:
        if cycle is not self.cycle:
            return
        self.cycle = None
        if not cycle.request_complete:
            self._linger_close()  # the rest of the request body is unread
            return
        if not self._keep_alive or self.disconnected:
            self._discard_input = True
            if not self.disconnected:
                self.transport.close()
            return
        if self.pipeline:
            # Not directly: with eager tasks that would run the next app inside this one's
            # send(), nesting one frame per pipelined request.
            self.loop.call_soon(self._run_queued)
        else:
            self._resume_reading(_PAUSE_PIPELINE)
            self._resume_reading(_PAUSE_BODY)
            if self.closing:
                self.transport.close()
            elif self._phase == _HEAD:
                # The next head is arriving (pipelined): its own deadline governs.
                if not self._head_deadline:
                    self._head_deadline = self.loop.time() + self.state.header_timeout
                self._arm(self._head_deadline)
            else:
                self.deadline = self.loop.time() + self.state.keep_alive_timeout

    def app_failed(self, cycle: RequestResponseCycle) -> None:
        if cycle is not self.cycle or self.disconnected:
            return
        self.cycle = None
        if not self._head_written:
            self._head = None
            self._write_error_and_close(500, "")
        else:
            # Part of the response is on the wire: closing is the only honest end to it.
            self._discard_input = True
            self._flush_out()
            self.transport.close()

    def cycle_finished(self, cycle: RequestResponseCycle) -> None:
        if cycle is self.cycle and not cycle.response_complete and not self.disconnected:
            # The app ended without a usable response and nothing was written.
            self.cycle = None
            self._discard_input = True
            self._flush_out()
            self.transport.close()

    # Errors, shutdown, timeouts -------------------------------------------------------------

    def _bad_request(self, status: int, reason: str) -> None:
        """Refuse a malformed request: after queued responses, answer status and close."""
        logger.debug("Invalid HTTP request from %s: %s", self.client, reason)
        self._discard_input = True
        self._phase = _IDLE
        reading = self._reading
        self._reading = None
        if reading is not None:
            # The body of an accepted head is malformed: that request is void. Its app (if it
            # started) sees http.disconnect, and the client gets the error in its place.
            reading.disconnect()
            if reading is self.cycle:
                self.cycle = None
                if self._head_written:
                    self._flush_out()
                    self.transport.close()  # part of a response is out: only closing is left
                    return
                self._head = None
            elif self.pipeline and self.pipeline[-1][0] is reading:
                self.pipeline.pop()
        if self.cycle is None and not self.pipeline:
            self._write_error_and_close(status, reason)
        else:
            self.pipeline.append((None, False, (status, reason)))

    def _write_error_and_close(self, status: int, reason: str) -> None:
        self._discard_input = True
        if self.disconnected:
            return
        self.transport.write(error_response(status, reason, self.state.default_headers[0]))
        self._linger_close()

    def _linger_close(self) -> None:
        """Close after a response while the client may still be sending.

        Closing a socket with unread input makes the kernel send a reset, which can destroy
        the response before the client reads it. Like nginx's lingering close: half-close
        (FIN after the buffered response), discard what still arrives, close when the client
        does or after LINGER_SECONDS (the server's sweep calls check_deadline).
        """
        self._discard_input = True
        if self.disconnected:
            return
        self._flush_out()
        transport = self.transport
        if not transport.can_write_eof():
            transport.close()
            return
        transport.write_eof()
        self._lingering = True
        self.deadline = self.loop.time() + LINGER_SECONDS
        if self._read_paused:
            self._read_paused = 0
            transport.resume_reading()

    def is_idle(self) -> bool:
        return self._lingering or (
            self.cycle is None and not self.pipeline and self._phase == _IDLE
        )

    def shutdown(self) -> None:
        """Graceful stop: finish the request in progress with ``Connection: close``."""
        self.closing = True
        if self.is_idle() or (self._phase == _HEAD and self.cycle is None):
            self.transport.close()

    def drain(self, grace: float) -> None:
        """Worker drain (rolling restart): like ``shutdown``, but an idle connection stays open
        up to ``grace`` seconds, so a request already in flight gets its answer (with
        ``connection: close``) instead of a closed socket. The tick closes it after that."""
        self.closing = True
        if self.is_idle():
            limit = self.loop.time() + grace
            self.deadline = min(self.deadline, limit) if self.deadline else limit

    def check_deadline(self, now: float) -> bool:
        """Called by the server's sweep once ``deadline`` has passed: find which one it was.

        True: idle, marked, and to be closed by the sweep's second look (see pounce/state.py).
        """
        due = self.deadline
        self.deadline = 0.0
        if self.disconnected:
            return False
        if self._lingering:
            self.transport.close()  # the end of a lingering close
            return False
        send = self._send_deadline
        if send:
            buffered = self.transport.get_write_buffer_size()
            if send <= now and buffered < self._send_mark:
                # The client did read some (writes stay paused above the high-water mark):
                # slow but not stalled, so the clock starts again. (uvloop counts a queued
                # write as buffered until all of it is sent, so there this sees progress
                # only write by write; asyncio's transports report it byte by byte.)
                self._send_mark = buffered
                send = self._send_deadline = now + self.state.send_timeout
            if send <= now:
                # --timeout-send: the client reads nothing while our writes are paused.
                # Aborting drops the buffered response (memory is freed now) and, through
                # connection_lost, unblocks the app's send and tells it of the disconnect.
                logger.debug("Send timeout: closing the connection to %s", self.client)
                self._discard_input = True
                self.transport.abort()
                return False
            self._arm(send)
        if self._phase == _HEAD and self._head_deadline:
            if self._head_deadline <= now:
                self._head_deadline = 0.0
                self._bad_request(*HEADER_TIMEOUT)
                return False
            self._arm(self._head_deadline)
        elif self._reading is not None and self._body_deadline:
            if self._read_paused:
                # Reading is paused because the app has not taken the body (or a response is
                # in progress): the wait is ours, not the client's.
                self._body_progress()
            elif self._body_deadline <= now:
                self._body_deadline = 0.0
                self._bad_request(*BODY_TIMEOUT)
                return False
            else:
                self._arm(self._body_deadline)
        elif self.is_idle():
            # Keep-alive timeout (RFC 9112 §9.6), or the end of a drain's grace. A request may
            # be waiting in the socket unread: close only on a second look, if nothing started
            # since this sweep marked it (a new request re-arms ``deadline``).
            if not due or due != self._idle_mark:
                self._idle_mark = self.deadline = now
                return True
            self.transport.close()
        return False


H1ProtocolPy = H1Protocol

if not TYPE_CHECKING and USE_EXTENSIONS:
    try:
        # The compiled H1Protocol cimports the compiled cycle; were that one missing, Python
        # would find its .py link instead and _http1's import fail with a KeyError.
        import_compiled("pounce._speedups._cycle")
        from .._speedups._http1 import H1Protocol
    except ImportError as exc:
        EXTENSION_IMPORT_ERRORS[__name__] = str(exc)
