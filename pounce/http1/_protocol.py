# cython: language_level=3, annotation_typing=False
"""The HTTP/1.1 connection: one ``asyncio.Protocol`` with two parser backends; the one source.

This file runs as it is in the pure build (``pounce.http1._protocol``), and Cython compiles the
same file a second time as ``pounce._speedups._http1`` (``_speedups/_http1.py`` is a link to it)
with ``_speedups/_http1.pxd`` declaring the class as a ``cdef`` class, its attributes as C slots
and its hot methods as C methods. ``pounce.http1.protocol`` picks one. Imports are absolute:
relative ones would resolve differently under ``_speedups``. Type hints are for mypy only
(``annotation_typing=False``): the ``.pxd`` is what types the compiled build.

What needs C pointers or CPython internals is in small kernels that only the compiled build
has, cimported by ``_http1.pxd``: the fast request-head scanner and the target split
(``_speedups/_h1head.pyx``), the runner that steps an app without a task
(``_speedups/_runner.pyx``), the field check of the head cache (``_speedups/_fields.pxd``). The
pure build reads every head with the parser library, splits targets with ``pounce._url`` and
starts a task per request (``if not cython.compiled`` below holds its stand-ins).

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
from collections.abc import Awaitable
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from pounce import header_flags
from pounce._headers import analyze_request_headers, build_response_head
from pounce._url import decode_path, split_target
from pounce.asgi.limits import (
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
from pounce.asgi.response import OUT_BATCH
from pounce.asgi.scope import METHODS, Address, describe_connection
from pounce.asgi.tasks import start_task
from pounce.errors import BadRequest
from pounce.http1.h11_parser import H11Parser
from pounce.http1.support import (
    BODY_HIGH_WATER,
    BODY_LOW_WATER,
    CHUNKED_LINE,
    CLOSE_LINE,
    CONTINUE,
    JOIN_LIMIT,
    KEEP_ALIVE_LINE,
    LAST_CHUNK,
    LINGER_SECONDS,
    PARSE_ERRORS,
    UPGRADE_ERRORS,
    StopParsing,
    error_response,
    httptools,
)
from pounce.http2.constants import PREFACE
from pounce.http2.negotiate import switch_to_h2, try_h2c_upgrade
from pounce.websocket.over_http1 import forward_leftover, try_ws_upgrade

try:
    import cython  # type: ignore[import-untyped]  # Cython ships no type information
except ImportError:  # a pure install without Cython: only ``cython.compiled`` is read
    # A stand-in for the module: what this file reads of it (``locals`` types a compiled
    # method's local variables, and does nothing here).
    cython = SimpleNamespace(compiled=False, locals=lambda **_: lambda f: f)


if TYPE_CHECKING:
    from pounce.asgi._cycle import Headers
    from pounce.state import ServerState

if not cython.compiled:
    # The pure build. Compiled, these names come from the kernels _http1.pxd cimports (a
    # cimported name may not be assigned here: Cython drops this block).
    from time import perf_counter  # compiled: _speedups/_clock.pxd's, the clock in C

    from pounce.asgi._cycle import CompiledWriter, RequestResponseCycle
    from pounce.asgi.scope import http_connection_scope, http_request_scope

    _Runner: Any = None  # no runner without C: the pure build starts a task per request
    HeadScanner: Any = None  # no fast head scanner: the parser library reads every head

    def split_target_fast(target: bytes) -> tuple[bytes, bytes, str] | None:
        """The compiled build's shortcut for plain targets; here every target takes the
        general path (pounce._url), which gives the same results."""
        return None

    def immutable_fields(headers: list[Any]) -> bool:
        """Every field is a tuple of two bytes objects: nothing in the list's items can
        change, so the list may be kept (copied) and compared with a later one."""
        for item in headers:
            if type(item) is not tuple or len(item) != 2:
                return False
            if type(item[0]) is not bytes or type(item[1]) is not bytes:
                return False
        return True


logger = logging.getLogger("pounce.error")

# Module constants as the .pxd types them (C ints compiled; the imported names stay objects).
_BODY_HIGH_WATER = BODY_HIGH_WATER
_BODY_LOW_WATER = BODY_LOW_WATER
_JOIN_LIMIT = JOIN_LIMIT
_PREFACE_LEN = len(PREFACE)
REQ_CHUNKED = header_flags.REQ_CHUNKED
REQ_CONNECTION_CLOSE = header_flags.REQ_CONNECTION_CLOSE
REQ_CONNECTION_KEEP_ALIVE = header_flags.REQ_CONNECTION_KEEP_ALIVE
REQ_CONNECTION_UPGRADE = header_flags.REQ_CONNECTION_UPGRADE
REQ_EXPECT_CONTINUE = header_flags.REQ_EXPECT_CONTINUE
REQ_HAS_UPGRADE = header_flags.REQ_HAS_UPGRADE
RESP_CHUNKED = header_flags.RESP_CHUNKED
RESP_CONNECTION_CLOSE = header_flags.RESP_CONNECTION_CLOSE

# The HTTP versions this protocol speaks. The fast head scanner hands these very objects back,
# so that comparing a version with them is, compiled, an identity test.
_HTTP11 = "1.1"
_HTTP10 = "1.0"

# Where the parser is in the current message.
_IDLE = 0
_HEAD = 1
_BODY = 2

# Why reading is paused (bits): a body the app has not read yet, or queued pipelined requests.
_PAUSE_BODY = 1
_PAUSE_PIPELINE = 2

# The fast request-head scanner (compiled build, httptools parser) is on: tests turn it off to
# compare its reading with llhttp's (tests/unit/test_h1_fast_head.py).
_FAST_HEAD = True


def set_fast_head(enabled: bool) -> None:
    """Turn the fast request-head scanner on or off (the pure build has none)."""
    global _FAST_HEAD
    _FAST_HEAD = enabled


class H1Protocol(CompiledWriter):
    """One HTTP/1.1 connection.

    Its base is the cycle's ``CompiledWriter``: compiled, the cycle calls this writer's hot
    methods as C methods (in the pure build the base is a plain class, and the calls are
    Python's). It is an ``asyncio.Protocol`` by its methods.
    """

    def __init__(
        self, state: ServerState, parser: str = "httptools", client: Address = None
    ) -> None:
        self.state = state
        self.loop = state.loop
        # Read once from the server state: none of these change while the server runs.
        self._lifespan_state = state.lifespan_state
        self._timed = state.time_requests  # the access log or --metrics-bind
        self._keep_alive_timeout = state.keep_alive_timeout
        self._tasks = state.tasks
        # Limits (pounce/asgi/limits.py).
        self._max_head_size, self._limit_line = state.max_head_size, state.limit_request_line
        self._limit_field, self._limit_fields = state.limit_field_size, state.limit_fields
        self._limit_body = state.limit_body
        self._runner: Any = None  # the app runner (compiled build), made at the first request
        self._plain_app: Any = None
        self._scope_template: dict[str, Any] = {}
        # The last response head built on this connection, reused while an app answers with
        # the same status and header fields (most apps do): see write_start.
        self._last_status: Any = None
        self._last_headers: list[Any] | None = None
        self._last_built: tuple[bytes, int, int] | None = None
        self.transport: asyncio.Transport = None  # type: ignore[assignment]  # set in connection_made
        self.parser: Any
        if parser == "httptools":
            self.parser = httptools.HttpRequestParser(self)
        else:
            self.parser = H11Parser(self, state.max_head_size, state.limit_request_line)
        # httptools (llhttp) stops at the head of an Upgrade/CONNECT request and hands the rest
        # over as the new protocol's bytes; when such a request is answered as plain HTTP, its
        # Content-Length body is fed to the app from those bytes instead.
        self._llhttp = parser == "httptools"
        self._upgrade_body_left = 0
        # The fast head scanner takes the plainest heads from llhttp (compiled build only).
        self._scanner: Any = None
        if self._llhttp and cython.compiled:
            self._scanner = HeadScanner(
                self._max_head_size,
                self._limit_line,
                self._limit_fields,
                self._limit_field,
                _HTTP11,
                _HTTP10,
            )
        self.server: tuple[str, int] | None = None
        # Not None when handed over with a client other than the socket's peer (a PROXY
        # header's source); connection_made sets the connection's client.
        self.client = client
        self.scheme = "http"
        self.proxy_trusted = False
        self._read_forwarded = False  # a trusted peer under --proxy-headers-forwarded
        self.deadline = 0.0
        self._idle_mark = 0.0  # the sweep time that marked this connection idle (state.py)
        self.closing = False
        self.disconnected = False
        self._lingering = False
        self._starting = False  # inside an app's first step (see _run_next)
        self._discard_input = False
        # HTTP/2 entry (pounce.http2.negotiate): the first bytes are checked for the
        # prior-knowledge preface while this is not None (--http2). The h2c upgrade has its
        # own switch, state.h2c_upgrade (--h2c-upgrade).
        self._preface: bytes | None = b"" if state.config.http2 else None
        self._read_paused = 0
        self._write_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        # The request the app is answering, and complete heads queued behind it (a list: a
        # pipeline is rarely longer than one, and a list is what the compiled build indexes).
        self.cycle: RequestResponseCycle | None = None
        self.pipeline: list[tuple[RequestResponseCycle | None, bool, Any]] = []
        # Parser state for the message being read.
        self._phase = _IDLE
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._head_size = 0
        self._partial_line = 0
        self._line_done = False
        self._trailer_size = 0  # of the chunked trailer section being read
        self._trailer_fields = 0
        # Parts of a streamed response body waiting to be written together (write_body).
        self._out: list[bytes] | None = None
        self._out_size = 0
        self._out_scheduled = False
        self._reading: RequestResponseCycle | None = None
        # Slow-client deadlines (0: not armed); ``deadline`` is the earliest pending one.
        self._head_deadline = 0.0
        self._body_deadline = 0.0
        self._send_deadline = 0.0
        self._send_mark = 0  # bytes buffered in the transport when the send clock (re)started
        self._body_received = 0
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
            transport, state, self.client
        )
        self._read_forwarded = self.proxy_trusted and state.proxy.forwarded  # type: ignore[union-attr]  # proxy_trusted implies a proxy
        self.deadline = self.loop.time() + self._keep_alive_timeout
        # Without --limit-max-requests or --limit-concurrency, nothing needs a request counted
        # or refused: skip ServerState.app_for_request (two Python calls per request).
        self._plain_app = (
            state.app if state.on_request is None and not state.limit_concurrency else None
        )
        # Each request's scope starts as a copy of this (http_version: 1.0 or 1.1 per request).
        self._scope_template = http_connection_scope(
            None, self.server, self.client, self.scheme, state.root_path
        )
        if refuse:
            # Past --limit-connections. Which protocol the client speaks is not known yet on
            # cleartext; a 503 (with Retry-After) is what every HTTP/1.x client can read, and
            # an HTTP/2 client with prior knowledge sees a failed preface: refused either way.
            self._preface = None
            self._write_error_and_close(CONNECTION_LIMIT[0], CONNECTION_LIMIT[1])

    def connection_lost(self, exc: Exception | None) -> None:
        self.disconnected = True
        if self._runner is not None:
            self._runner.close()  # an app it is stepping is cancelled (see _runner.pyx)
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
        self._release_parser()

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

    # Compiled, the transport's data must be bytes (a TypeError otherwise), as the parser's too.
    @cython.locals(data=bytes)
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
            if self._scanner is not None and self._phase == _IDLE and _FAST_HEAD:
                data = self._fast_heads(data)
            if data:
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

    def _fast_heads(self, data: bytes) -> bytes:
        """Take the complete, bodyless heads at the start of ``data`` that the fast scanner
        reads (compiled build, httptools parser); return what is left for llhttp."""
        scanner = self._scanner
        used = 0
        size = len(data)
        while True:
            took = scanner.scan(data, used)
            if not took:
                break
            used += took
            # What on_message_begin, on_url, on_header, on_headers_complete and
            # on_message_complete do for llhttp, in one go.
            self.deadline = self._send_deadline  # the keep-alive wait is over
            self._line_done = False
            self._head_deadline = 0.0
            self._url = scanner.url
            self._headers = scanner.headers
            self._head_size = scanner.size
            self._phase = _BODY
            self._begin_request(scanner.method, scanner.version, scanner.forwarded)
            self._phase = _IDLE
            if not self._message_keep_alive or self.closing:
                self._discard_input = True  # RFC 9112 §9.6: no further requests
            if used == size or self._discard_input:
                return b""
        return data[used:] if used else data

    def _check_preface(self, data: bytes) -> bytes:
        """RFC 9113 §3.3: a client with prior knowledge starts with the HTTP/2 preface."""
        data = self._preface + data  # type: ignore[operator]  # called only while _preface is bytes
        if len(data) < _PREFACE_LEN and PREFACE.startswith(data):
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
        self._release_parser()
        return self.transport

    def _release_parser(self) -> None:
        # The parser holds this protocol's bound methods (its callbacks), and this protocol the
        # parser: a reference cycle, which would leave every closed or handed-over connection
        # (protocol, parser, transport, cycle, buffers) to the cyclic collector. Once nothing
        # more is read here, dropping the parser lets reference counting free it all at once.
        # (Python 3.13 runs its oldest generation rarely: the garbage piled up in RSS.) A
        # parser that is feeding right now (a hand-over from a callback) lives until it returns.
        self.parser = None

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

    @cython.locals(url=bytes)
    def on_url(self, url: bytes) -> None:
        self._url += url
        self._head_size += len(url)
        if len(self._url) > self._limit_line:
            raise BadRequest(*REQUEST_LINE_TOO_LONG)

    @cython.locals(name=bytes, value=bytes, size="Py_ssize_t")
    def on_header(self, name: bytes, value: bytes) -> None:
        size = len(name) + len(value) + 2
        if self._phase != _HEAD:
            self._on_trailer(size)
            return
        self._head_size += size + 2
        if size > self._limit_field:
            raise BadRequest(*FIELD_TOO_LARGE)
        if self._head_size > self._max_head_size:
            raise BadRequest(*HEAD_TOO_LARGE)
        headers = self._headers
        headers.append((name.lower(), value))
        if len(headers) > self._limit_fields:
            raise BadRequest(*TOO_MANY_FIELDS)

    def _on_trailer(self, size: int) -> None:
        """A chunked trailer field (``size``: name, value and separator): never merged into the
        request headers, but held to the head's limits (pounce.asgi.limits)."""
        self._trailer_size += size + 2
        self._trailer_fields += 1
        error = trailer_field_error(self.state, size, self._trailer_size, self._trailer_fields)
        if error is not None:
            raise BadRequest(*error)

    def on_headers_complete(self) -> None:
        self._phase = _BODY
        parser = self.parser
        version = parser.get_http_version()
        if version not in (_HTTP11, _HTTP10):
            if version[:2] == "0.":  # no version in the request line (RFC 9112 §3)
                raise BadRequest(400, "Invalid request line")
            raise BadRequest(505, f"HTTP/{version} is not supported")
        method_bytes = parser.get_method()
        method = METHODS.get(method_bytes) or method_bytes.decode("ascii")
        self._begin_request(method, version, True)

    def _begin_request(self, method: str, version: str, maybe_forwarded: bool) -> None:
        """A request head is complete (from llhttp, h11 or the fast scanner): queue its cycle.

        ``maybe_forwarded`` is False when the scanner saw no ``x-forwarded-*`` field, so a
        trusted proxy's headers need no look-up. The scanner does not look for ``Forwarded``
        (no per-field cost for an option that is off): with --proxy-headers-forwarded a
        trusted peer's requests are always looked at (``_read_forwarded``).
        """
        http11 = version == _HTTP11
        headers = self._headers
        content_length, flags = analyze_request_headers(headers, http11)
        if self._limit_body:
            self._body_received = 0
            if content_length > self._limit_body:
                raise BadRequest(*BODY_TOO_LARGE)  # answered before the app runs
        if http11:
            keep_alive = not flags & REQ_CONNECTION_CLOSE
        else:
            keep_alive = bool(flags & REQ_CONNECTION_KEEP_ALIVE) and not (
                flags & REQ_CONNECTION_CLOSE
            )
        if (flags & REQ_HAS_UPGRADE and flags & REQ_CONNECTION_UPGRADE) or method == "CONNECT":
            keep_alive = False
            if flags & REQ_CHUNKED:
                # llhttp cannot read such a body (it stops at the head); both parsers refuse it.
                raise BadRequest(400, "Upgrade request with a chunked body")
            if self._llhttp and content_length > 0:
                self._upgrade_body_left = content_length
        split = split_target_fast(self._url)
        if split is not None:
            raw_path, query, path = split
        else:
            raw_path, query = split_target(self._url)
            path = decode_path(raw_path)
        state = self.state
        # A C call compiled (_speedups/_scope.pxd): no Python call per request.
        scope = http_request_scope(
            self._scope_template,
            state,
            version,
            self.proxy_trusted and (maybe_forwarded or self._read_forwarded),
            method,
            path,
            raw_path,
            query,
            headers,
            self._lifespan_state,
            None,
        )
        more_body = content_length > 0 or (flags & REQ_CHUNKED) != 0
        if flags & REQ_HAS_UPGRADE and state.h2c_upgrade:
            if try_h2c_upgrade(self, scope, headers, more_body):
                raise StopParsing  # the connection is HTTP/2 now
        if flags & REQ_HAS_UPGRADE and try_ws_upgrade(self, scope, headers, more_body):
            return  # a WebSocket has the transport; the parser stops at the upgrade
        # __new__ and _setup: compiled, a C call with no argument parsing (see _cycle.py).
        cycle = RequestResponseCycle.__new__(RequestResponseCycle)
        cycle._setup(
            scope, self, self.loop, more_body, more_body and (flags & REQ_EXPECT_CONTINUE) != 0
        )
        if self._timed:
            cycle.start_time = perf_counter()  # the access record's or the metrics' duration
        self._reading = cycle if more_body else None
        self._message_keep_alive = keep_alive
        self.pipeline.append((cycle, keep_alive, None))

    @cython.locals(body=bytes)
    def on_body(self, body: bytes) -> None:
        cycle = self._reading
        if cycle is None:
            return
        if self._limit_body:
            self._body_received += len(body)
            if self._body_received > self._limit_body:
                raise BadRequest(*BODY_TOO_LARGE)  # a chunked body crossed the limit
        if cycle.feed_body(body) > _BODY_HIGH_WATER and not cycle.response_complete:
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
            self._bad_request(error[0], error[1])
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
        # Not pipeline.pop(0): compiled, that is a Python method call (Cython makes only the
        # last item's pop a C call) and it reallocates the list each time it empties.
        cycle, keep_alive, error = self.pipeline[0]
        del self.pipeline[0]
        if cycle is None:
            self._write_error_and_close(error[0], error[1])
            return
        if self.closing and not self.pipeline:
            keep_alive = False
        self.cycle = cycle
        self._keep_alive = keep_alive
        scope = cycle.scope
        self._http11 = scope["http_version"] == _HTTP11
        self._is_head_request = scope["method"] == "HEAD"
        self._head = None
        self._head_written = False
        self._chunked = False
        self._no_body = False
        self._expected = -1
        self._sent = 0
        app = self._plain_app
        if app is None:
            app = self.state.app_for_request()
        self._starting = True
        coro = cycle.run_asgi(app)
        started = False
        if cython.compiled:
            # The connection's runner takes the app's first step at once, without a task of
            # its own (_speedups/_runner.pyx); it declines while another app it runs waits.
            if self._runner is None:
                self._runner = _Runner(self.loop, self._tasks)
            started = self._runner.start(cycle, coro)
        if started:
            suspended = cycle.task is not None
        else:
            task = start_task(self.loop, coro)
            suspended = not task.done()
            if suspended:
                cycle.task = task
                self.state.track(task)
        self._starting = False
        if suspended and self._head is not None and cycle is self.cycle:
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

    @cython.locals(
        built=tuple,
        content_length="long long",
        flags="int",
        no_body="bint",
        keep_alive="bint",
        request=RequestResponseCycle,
    )
    def write_start(
        self, cycle: RequestResponseCycle, status: int, headers: Headers, trailers: bool
    ) -> None:
        if (
            self._last_headers is not None
            and type(status) is int
            and status == self._last_status
            and type(headers) is list
            and headers == self._last_headers
        ):
            built = self._last_built  # the same head as this connection's last response
        else:
            built = build_response_head(status, headers)
            # Only a list of (bytes, bytes) tuples is kept: nothing in it can change later.
            if type(status) is int and type(headers) is list and immutable_fields(headers):
                self._last_status = status
                self._last_headers = list(headers)
                self._last_built = built
        head, content_length, flags = built  # type: ignore[misc]  # built is set on both paths
        no_body = self._is_head_request or status in (204, 304) or status < 200
        keep_alive = self._keep_alive and not flags & RESP_CONNECTION_CLOSE
        if self.closing and not self.pipeline:
            keep_alive = False  # shutting down: this is the connection's last response
        framing = b""
        if content_length >= 0:
            self._expected = content_length
        elif flags & RESP_CHUNKED:
            self._chunked = not no_body
        elif not no_body:
            if self._http11:
                self._chunked = True
                framing = CHUNKED_LINE
            else:
                keep_alive = False  # HTTP/1.0: the body ends when the connection closes
        request = cycle
        if request._more_body:
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
        # app started at once pauses, _run_next flushes; otherwise the loop's next turn does.
        if not self._starting:
            self.loop.call_soon(self._flush_head, cycle)

    def _flush_head(self, cycle: RequestResponseCycle) -> None:
        head = self._head
        if head is not None and cycle is self.cycle and not self.disconnected:
            self._head = None
            self._head_written = True
            self.transport.write(head)

    @cython.locals(size="Py_ssize_t", request=RequestResponseCycle)
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
            if out is None:
                out = self._out = []
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
            if size < _JOIN_LIMIT:
                self.transport.write(head + body if size else head)
            else:
                self.transport.writelines((head, body))
        elif size:
            self.transport.write(body)
        request = cycle
        request.bytes_sent += size
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
        self._out = None
        size = self._out_size
        self._out_size = 0
        if not self.disconnected:
            self._write_parts(out, size)

    def _write_parts(self, parts: list[bytes], size: int) -> None:
        if len(parts) == 1:
            self.transport.write(parts[0])
        elif size < _JOIN_LIMIT:
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

    def write_error(
        self, cycle: RequestResponseCycle, status: int, page: tuple[bytes, bytes] | None = None
    ) -> None:
        if cycle is self.cycle and not self._head_written and not self.disconnected:
            self._head = None
            self._write_error_and_close(status, "", page)

    @property
    def debug_errors(self) -> bool:
        return self.state.debug

    def send_continue(self, cycle: RequestResponseCycle) -> None:
        if cycle is self.cycle and self._head is None and not self._head_written:
            if not self.disconnected:
                self.transport.write(CONTINUE)

    @cython.locals(request=RequestResponseCycle)
    def body_consumed(self, cycle: RequestResponseCycle, nbytes: int) -> None:
        request = cycle
        if self._read_paused & _PAUSE_BODY and request._body_size < _BODY_LOW_WATER:
            self._resume_reading(_PAUSE_BODY)

    @cython.locals(request=RequestResponseCycle)
    def response_complete(self, cycle: RequestResponseCycle) -> None:
        if cycle is not self.cycle:
            return
        self.cycle = None
        request = cycle
        if request._more_body:
            self._linger_close()  # the rest of the request body is unread
            return
        if not self._keep_alive or self.disconnected:
            self._discard_input = True
            if not self.disconnected:
                self.transport.close()
            return
        if self.pipeline:
            # Not directly: that would run the next app inside this one's send(), nesting one
            # frame per pipelined request.
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
                self.deadline = self.loop.time() + self._keep_alive_timeout

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
            elif self.pipeline and self.pipeline[len(self.pipeline) - 1][0] is reading:
                # (not [-1]: the compiled build indexes without wraparound)
                self.pipeline.pop()
        if self.cycle is None and not self.pipeline:
            self._write_error_and_close(status, reason)
        else:
            self.pipeline.append((None, False, (status, reason)))

    def _write_error_and_close(
        self, status: int, reason: str, page: tuple[bytes, bytes] | None = None
    ) -> None:
        self._discard_input = True
        if self.disconnected:
            return
        metrics = self.state.metrics
        if metrics is not None:  # an error path, never a served request's: no hot-path cost
            metrics.own_response(status)
        self.transport.write(error_response(status, reason, self.state.default_headers[0], page))
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

    @cython.locals(grace="double", limit="double")
    def drain(self, grace: float) -> None:
        """Worker drain (rolling restart): like ``shutdown``, but an idle connection stays open
        up to ``grace`` seconds, so a request already in flight gets its answer (with
        ``connection: close``) instead of a closed socket. The tick closes it after that."""
        self.closing = True
        if self.is_idle():
            limit = self.loop.time() + grace
            self.deadline = min(self.deadline, limit) if self.deadline else limit

    @cython.locals(now="double", due="double", send="double", buffered="Py_ssize_t")
    def check_deadline(self, now: float) -> bool:
        """Called by the server's sweep once ``deadline`` has passed: find which one it was.

        True: idle, marked, and to be closed by the sweep's second look (see pounce/state.py).
        """
        due, self.deadline = self.deadline, 0.0  # the one that passed; the next is re-armed
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
                self._bad_request(HEADER_TIMEOUT[0], HEADER_TIMEOUT[1])
                return False
            self._arm(self._head_deadline)
        elif self._reading is not None and self._body_deadline:
            if self._read_paused:
                # Reading is paused because the app has not taken the body (or a response is
                # in progress): the wait is ours, not the client's.
                self._body_progress()
            elif self._body_deadline <= now:
                self._body_deadline = 0.0
                self._bad_request(BODY_TIMEOUT[0], BODY_TIMEOUT[1])
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
