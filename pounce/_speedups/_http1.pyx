# cython: language_level=3
"""Compiled twin of ``pounce/protocols/h1.py``.

The same class with the same behaviour, as a ``cdef`` class: attributes live in C slots. The
request cycle is not twinned: it is the one source ``pounce/protocols/_cycle.py``, compiled
as ``pounce._speedups._cycle``; this class derives from its ``CompiledWriter``, so the cycle
calls this writer's hot methods as C calls. Every rule and the reason for it is documented in
the pure twin; keep the two in step (the whole test suite runs against both).
"""

import asyncio
import logging

from pounce._headers import analyze_request_headers, build_response_head
from pounce._url import decode_path, split_target
from pounce.errors import BadRequest
from pounce.h2connection import PREFACE
from time import perf_counter
from pounce.protocols.h11_parser import H11Parser
from pounce.protocols.h1_support import (
    ASGI_VERSION,
    BODY_HIGH_WATER,
    BODY_LOW_WATER,
    CHUNKED_LINE,
    CLOSE_LINE,
    CONTINUE,
    JOIN_LIMIT,
    KEEP_ALIVE_LINE,
    OUT_BATCH,
    LAST_CHUNK,
    LINGER_SECONDS,
    METHODS,
    PARSE_ERRORS,
    UPGRADE_ERRORS,
    StopParsing,
    error_response,
    httptools,
    describe_connection,
)
from pounce.protocols.tasks import EAGER_TASKS
from pounce.protocols.h1_limits import (
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

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.string cimport memcmp

from pounce._speedups._cycle cimport CompiledWriter, RequestResponseCycle
from pounce._speedups._fields cimport immutable_fields
from pounce._speedups._runner cimport _Runner

cdef object Task = asyncio.Task
cdef bint C_EAGER_TASKS = EAGER_TASKS

logger = logging.getLogger("pounce.error")

cdef Py_ssize_t C_BODY_HIGH_WATER = BODY_HIGH_WATER
cdef Py_ssize_t C_BODY_LOW_WATER = BODY_LOW_WATER
cdef Py_ssize_t C_JOIN_LIMIT = JOIN_LIMIT

cdef bytes C_PREFACE = PREFACE
cdef Py_ssize_t PREFACE_LEN = len(PREFACE)

include "header_flags.pxi"

cdef enum:
    _IDLE = 0
    _HEAD = 1
    _BODY = 2
    _PAUSE_BODY = 1
    _PAUSE_PIPELINE = 2


cdef tuple _split_target_fast(bytes target):
    """(raw_path, query_string, path) for the common origin-form target, else None.

    Covers targets of printable ASCII that start with '/' and hold no '%' or '#': the path
    then needs no decoding. Anything else goes through pounce._url, so the results are the
    same as the pure twin's.
    """
    cdef Py_ssize_t n = PyBytes_GET_SIZE(target), i, q = -1
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(target)
    cdef unsigned char c
    if n == 0 or p[0] != 47:  # '/'
        return None
    for i in range(n):
        c = p[i]
        if c < 0x21 or c > 0x7E or c == 37 or c == 35:  # controls, space, DEL, non-ASCII, % #
            return None
        if c == 63 and q == -1:  # '?'
            q = i
    if q == -1:
        return (target, b"", target.decode("ascii"))
    raw_path = target[:q]
    return (raw_path, target[q + 1:], raw_path.decode("ascii"))


# The fast request-head scanner's character classes (RFC 9110 §5.6.2 tokens; RFC 3986
# characters for the target; visible ASCII, SP and HTAB for values). Anything else is llhttp's.
cdef unsigned char TOKEN_CHAR[256]
cdef unsigned char URL_CHAR[256]
cdef unsigned char VALUE_CHAR[256]
cdef unsigned char LOWER_CHAR[256]
cdef bint C_FAST_HEAD = True


cdef void _init_fast_tables():
    cdef int c
    for c in range(256):
        LOWER_CHAR[c] = c + 32 if 65 <= c <= 90 else c
        TOKEN_CHAR[c] = (48 <= c <= 57) or (65 <= c <= 90) or (97 <= c <= 122) or (
            c in b"!#$%&'*+-.^_`|~"
        )
        URL_CHAR[c] = (48 <= c <= 57) or (65 <= c <= 90) or (97 <= c <= 122) or (
            c in b"-._~!$&'()*+,;=:@/?%"
        )
        VALUE_CHAR[c] = (32 <= c <= 126) or c == 9


_init_fast_tables()


def set_fast_head(bint enabled):
    """Turn the fast request-head scanner on or off (tests compare it with llhttp)."""
    global C_FAST_HEAD
    C_FAST_HEAD = enabled


cdef inline str _fast_method(const unsigned char* p, Py_ssize_t n):
    if n == 3:
        if memcmp(p, b"GET", 3) == 0:
            return "GET"
        if memcmp(p, b"PUT", 3) == 0:
            return "PUT"
    elif n == 4:
        if memcmp(p, b"POST", 4) == 0:
            return "POST"
        if memcmp(p, b"HEAD", 4) == 0:
            return "HEAD"
    elif n == 5:
        if memcmp(p, b"PATCH", 5) == 0:
            return "PATCH"
    elif n == 6:
        if memcmp(p, b"DELETE", 6) == 0:
            return "DELETE"
    elif n == 7:
        if memcmp(p, b"OPTIONS", 7) == 0:
            return "OPTIONS"
    return None


cdef inline bint _framing_field(
    const unsigned char* name, Py_ssize_t n, const unsigned char* value, Py_ssize_t m
):
    """Fields the fast scanner leaves to llhttp: body framing (RFC 9112 §6) and upgrades."""
    if n == 14 and memcmp(name, b"content-length", 14) == 0:
        return not (m == 1 and value[0] == 48)
    if n == 17 and memcmp(name, b"transfer-encoding", 17) == 0:
        return True
    if n == 7 and memcmp(name, b"upgrade", 7) == 0:
        return True
    return False


@cython.final
cdef class H1Protocol(CompiledWriter):
    """One HTTP/1.1 connection (see protocols/h1.py)."""

    cdef public object state
    cdef public object loop
    cdef public object transport
    cdef public object parser
    cdef public object server
    cdef public object client
    cdef public str scheme
    cdef public bint proxy_trusted
    cdef bint _read_forwarded  # a trusted peer under --proxy-headers-forwarded
    cdef public double deadline
    cdef double _idle_mark
    cdef public bint closing
    cdef public bint disconnected
    cdef public RequestResponseCycle cycle
    cdef public list pipeline
    cdef public object _preface
    cdef bint _lingering
    cdef bint _starting
    cdef bint _discard_input
    cdef int _read_paused
    cdef bint _write_paused
    cdef object _drain_waiter
    cdef int _phase
    cdef bytes _url
    cdef list _headers
    cdef Py_ssize_t _head_size
    cdef Py_ssize_t _partial_line
    cdef Py_ssize_t _trailer_size  # of the chunked trailer section being read
    cdef Py_ssize_t _trailer_fields
    cdef RequestResponseCycle _reading
    cdef bint _message_keep_alive
    cdef bint _keep_alive
    cdef bint _http11
    cdef bint _is_head_request
    cdef object _head
    cdef bint _head_written
    cdef bint _chunked
    cdef bint _no_body
    # Parts of a streamed response body waiting to be written together (see the twin).
    cdef list _out
    cdef Py_ssize_t _out_size
    cdef bint _out_scheduled
    cdef long long _expected
    cdef long long _sent
    cdef Py_ssize_t _max_head_size
    cdef bint _llhttp
    cdef long long _upgrade_body_left
    # Read once from the server state: none of these change while the server runs.
    cdef str _root_path
    cdef bytes _root_path_bytes
    cdef dict _lifespan_state
    cdef bint _access_log
    cdef double _keep_alive_timeout
    cdef object _tasks
    cdef _Runner _runner
    cdef object _plain_app
    cdef dict _scope_template
    # The last response head built on this connection, reused while an app answers with the
    # same status and header fields (most apps do): see write_start.
    cdef object _last_status
    cdef list _last_headers
    cdef tuple _last_built
    # Limits and slow-client deadlines (see protocols/h1_limits.py).
    cdef Py_ssize_t _limit_line
    cdef Py_ssize_t _limit_field
    cdef Py_ssize_t _limit_fields
    cdef long long _limit_body
    cdef long long _body_received
    cdef bint _line_done
    cdef double _head_deadline
    cdef double _body_deadline
    cdef double _send_deadline
    cdef Py_ssize_t _send_mark

    def __init__(self, state, parser="httptools"):
        self.state = state
        self.loop = state.loop
        self._root_path = state.root_path
        self._root_path_bytes = state.root_path_bytes
        self._lifespan_state = state.lifespan_state
        self._access_log = state.access_log
        self._keep_alive_timeout = state.keep_alive_timeout
        self._tasks = state.tasks
        self._runner = None
        self._last_status = None
        self._last_headers = None
        self._last_built = None
        self.transport = None
        if parser == "httptools":
            self.parser = httptools.HttpRequestParser(self)
        else:
            self.parser = H11Parser(self, state.max_head_size, state.limit_request_line)
        self._max_head_size = state.max_head_size
        self._limit_line = state.limit_request_line
        self._limit_field = state.limit_field_size
        self._limit_fields = state.limit_fields
        self._limit_body = state.limit_body
        self._body_received = 0
        self._line_done = False
        self._head_deadline = 0.0
        self._body_deadline = 0.0
        self._send_deadline = 0.0
        self._send_mark = 0
        self._llhttp = parser == "httptools"
        self._upgrade_body_left = 0
        self.server = None
        self.client = None
        self.scheme = "http"
        self.proxy_trusted = False
        self._read_forwarded = False
        self.deadline = 0.0
        self._idle_mark = 0.0  # the sweep time that marked this connection idle (state.py)
        self.closing = False
        self.disconnected = False
        # HTTP/2 entry (pounce.protocols.negotiate): the first bytes are checked for the
        # prior-knowledge preface while this is not None (--http2). The h2c upgrade has its
        # own switch, state.h2c_upgrade (--h2c-upgrade).
        self._preface = b"" if state.config.http2 else None
        self._lingering = False
        self._starting = False
        self._discard_input = False
        self._read_paused = 0
        self._write_paused = False
        self._drain_waiter = None
        self.cycle = None
        self.pipeline = []
        self._phase = _IDLE
        self._url = b""
        self._headers = []
        self._head_size = 0
        self._partial_line = 0
        self._reading = None
        self._message_keep_alive = True
        self._keep_alive = True
        self._http11 = True
        self._is_head_request = False
        self._head = None
        self._head_written = False
        self._chunked = False
        self._no_body = False
        self._expected = -1
        self._sent = 0

    # asyncio.Protocol

    def connection_made(self, transport):
        self.transport = transport
        state = self.state
        refuse = state.limit_connections and over_connection_limit(state)
        state.connections.add(self)
        self.server, self.client, self.scheme, self.proxy_trusted = describe_connection(
            transport, state
        )
        self._read_forwarded = self.proxy_trusted and state.proxy.forwarded
        self.deadline = self.loop.time() + self._keep_alive_timeout
        # Without --limit-max-requests or --limit-concurrency, nothing needs a request counted
        # or refused: skip ServerState.app_for_request (two Python calls per request).
        self._plain_app = (
            state.app if state.on_request is None and not state.limit_concurrency else None
        )
        # Each request's scope starts as a copy of this (a dict copy is cheaper than
        # inserting the keys that never change on a connection).
        self._scope_template = {
            "type": "http",
            "asgi": ASGI_VERSION,
            "http_version": None,
            "server": self.server,
            "client": self.client,
            "scheme": self.scheme,
            "method": None,
            "root_path": self._root_path,
            "path": None,
            "raw_path": None,
            "query_string": None,
            "headers": None,
            "state": None,
        }
        if refuse:
            self._preface = None  # past --limit-connections: 503 and close (see h1.py)
            self._write_error_and_close(CONNECTION_LIMIT[0], CONNECTION_LIMIT[1])

    def connection_lost(self, exc):
        self.disconnected = True
        if self._runner is not None:
            self._runner.close()
        self.deadline = 0.0
        self.state.connections.discard(self)
        if self.cycle is not None:
            self.cycle.disconnect()
        for cycle, _, _ in self.pipeline:
            if cycle is not None:
                (<RequestResponseCycle>cycle).disconnect()
        self.pipeline.clear()
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def eof_received(self):
        return None

    def pause_writing(self):
        self._write_paused = True
        self._send_mark = self.transport.get_write_buffer_size()
        self._send_deadline = self.loop.time() + self.state.send_timeout
        self._arm(self._send_deadline)

    def resume_writing(self):
        self._write_paused = False
        self._send_deadline = 0.0
        waiter = self._drain_waiter
        if waiter is not None:
            self._drain_waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def data_received(self, bytes data):
        if self._discard_input:
            if self._upgrade_body_left:
                self._feed_upgrade_body(data)
            return
        if self._preface is not None:
            data = self._check_preface(data)
            if not data:
                return
        cdef Py_ssize_t used = 0, took
        try:
            if self._llhttp and self._phase == _IDLE and C_FAST_HEAD:
                while True:
                    took = self._fast_request(data, used)
                    if not took:
                        break
                    used += took
                    if used == PyBytes_GET_SIZE(data) or self._discard_input:
                        break
                if used:
                    if used == PyBytes_GET_SIZE(data) or self._discard_input:
                        data = b""
                    else:
                        data = data[used:]
            if data:
                self.parser.feed_data(data)
        except UPGRADE_ERRORS as exc:
            self._discard_input = True
            if self._upgrade_body_left:
                self._feed_upgrade_body(data[exc.args[0]:])
            from pounce.protocols.ws_h1 import forward_leftover

            forward_leftover(self, data, exc.args[0])
        except Exception as exc:
            cause = exc if isinstance(exc, (BadRequest, StopParsing)) else exc.__context__
            if isinstance(cause, StopParsing):
                pass
            elif isinstance(cause, BadRequest):
                self._bad_request(cause.status, cause.reason)
            elif isinstance(exc, PARSE_ERRORS):
                reason = str(exc) or "Invalid HTTP request"
                status = 505 if reason == "Invalid HTTP version" else 400
                self._bad_request(status, reason)
            else:
                logger.exception("Unexpected error while parsing a request")
                self._bad_request(400, "Invalid HTTP request")
        else:
            if self._phase == _HEAD:
                self._check_partial_head(data)
            elif self._reading is not None:
                self._body_progress()
        if self.cycle is None and self.pipeline:
            self._run_next()

    cdef bytes _check_preface(self, bytes data):
        """RFC 9113 §3.3: a client with prior knowledge starts with the HTTP/2 preface."""
        data = self._preface + data
        if len(data) < PREFACE_LEN and C_PREFACE.startswith(data):
            self._preface = data
            return b""
        self._preface = None
        if data.startswith(C_PREFACE):
            from pounce.protocols.negotiate import switch_to_h2

            switch_to_h2(self, data)
            return b""
        return data

    def detach(self):
        """Hand the transport over to another protocol (HTTP/2): read nothing more here."""
        self._discard_input = True
        self.deadline = 0.0
        self.state.connections.discard(self)
        return self.transport

    # Parser callbacks

    def on_message_begin(self):
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
        self.deadline = self._send_deadline

    def on_url(self, bytes url):
        self._url += url
        self._head_size += len(url)
        if len(self._url) > self._limit_line:
            raise BadRequest(*REQUEST_LINE_TOO_LONG)

    def on_header(self, bytes name, bytes value):
        cdef Py_ssize_t size = len(name) + len(value) + 2
        if self._phase != _HEAD:
            # A chunked trailer: never merged into the request headers, but held to the
            # head's limits (see the twin, H1Protocol._on_trailer).
            self._trailer_size += size + 2
            self._trailer_fields += 1
            error = trailer_field_error(self.state, size, self._trailer_size, self._trailer_fields)
            if error is not None:
                raise BadRequest(*error)
            return
        self._head_size += size + 2
        if size > self._limit_field:
            raise BadRequest(*FIELD_TOO_LARGE)
        if self._head_size > self._max_head_size:
            raise BadRequest(*HEAD_TOO_LARGE)
        self._headers.append((name.lower(), value))
        if len(self._headers) > self._limit_fields:
            raise BadRequest(*TOO_MANY_FIELDS)

    def on_headers_complete(self):
        self._phase = _BODY
        parser = self.parser
        version = parser.get_http_version()
        if version != "1.1" and version != "1.0":
            if version[:2] == "0.":
                raise BadRequest(400, "Invalid request line")
            raise BadRequest(505, f"HTTP/{version} is not supported")
        method_bytes = parser.get_method()
        method = METHODS.get(method_bytes) or method_bytes.decode("ascii")
        self._begin_request(method, version, True)

    cdef _begin_request(self, str method, str version, bint maybe_forwarded):
        """A request head is complete (from llhttp, h11 or the fast scanner): queue its cycle.

        ``maybe_forwarded`` is False when the scanner saw no ``x-forwarded-*`` field, so a
        trusted proxy's headers need no look-up. The scanner does not look for ``Forwarded``
        (no per-field cost for an option that is off): with --proxy-headers-forwarded a
        trusted peer's requests are always looked at (``_read_forwarded``).
        """
        cdef bint http11 = version == "1.1"
        cdef list headers = self._headers
        cdef long long content_length
        cdef int flags
        content_length, flags = analyze_request_headers(headers, http11)
        if self._limit_body:
            self._body_received = 0
            if content_length > self._limit_body:
                raise BadRequest(*BODY_TOO_LARGE)
        cdef bint keep_alive
        if http11:
            keep_alive = not flags & REQ_CONNECTION_CLOSE
        else:
            keep_alive = bool(flags & REQ_CONNECTION_KEEP_ALIVE) and not (
                flags & REQ_CONNECTION_CLOSE
            )
        upgrade = (
            (flags & REQ_HAS_UPGRADE and flags & REQ_CONNECTION_UPGRADE) or method == "CONNECT"
        )
        if upgrade:
            keep_alive = False
            if flags & REQ_CHUNKED:
                # llhttp cannot read such a body (it stops at the head); both parsers refuse it.
                raise BadRequest(400, "Upgrade request with a chunked body")
            if self._llhttp and content_length > 0:
                self._upgrade_body_left = content_length
        split = _split_target_fast(self._url)
        if split is not None:
            raw_path, query, path = split
        else:
            raw_path, query = split_target(self._url)
            path = decode_path(raw_path)
        state = self.state
        client = self.client
        scheme = self.scheme
        if self.proxy_trusted and (maybe_forwarded or self._read_forwarded):
            client, scheme = state.proxy.apply(headers, client, scheme)
        root_path = self._root_path
        if root_path:
            path = root_path + path
            raw_path = self._root_path_bytes + raw_path
        cdef dict scope = self._scope_template.copy()
        scope["http_version"] = version
        if self.proxy_trusted:
            scope["client"] = client
            scope["scheme"] = scheme
        scope["method"] = method
        scope["path"] = path
        scope["raw_path"] = raw_path
        scope["query_string"] = query
        scope["headers"] = headers
        scope["state"] = self._lifespan_state.copy()
        cdef bint more_body = content_length > 0 or (flags & REQ_CHUNKED) != 0
        if flags & REQ_HAS_UPGRADE and state.h2c_upgrade:
            from pounce.protocols.negotiate import try_h2c_upgrade

            if try_h2c_upgrade(self, scope, headers, more_body):
                raise StopParsing  # the connection is HTTP/2 now
        if flags & REQ_HAS_UPGRADE:
            from pounce.protocols.ws_h1 import try_ws_upgrade

            if try_ws_upgrade(self, scope, headers, more_body):
                return  # a WebSocket has the transport; the parser stops at the upgrade
        cdef RequestResponseCycle cycle = RequestResponseCycle.__new__(RequestResponseCycle)
        cycle._setup(
            scope, self, self.loop, more_body, more_body and (flags & REQ_EXPECT_CONTINUE) != 0
        )
        if self._access_log:
            cycle.start_time = perf_counter()
        self._reading = cycle if more_body else None
        self._message_keep_alive = keep_alive
        self.pipeline.append((cycle, keep_alive, None))

    cdef Py_ssize_t _fast_request(self, bytes data, Py_ssize_t start) except -1:
        """Parse one complete, bodyless request head at ``data[start:]`` without llhttp.

        Returns the number of bytes the request took, or 0 when the bytes are anything but
        the plainest form of a request: then llhttp reads them, with all its checks and error
        answers. Accepted is only what llhttp reads the same way (RFC 9112 §3 and §5, strictly:
        a known method, an origin-form target of unreserved/reserved/percent characters, exactly
        ``HTTP/1.1`` or ``HTTP/1.0``, CRLF line ends, token field names directly followed by a
        colon, visible-ASCII values without trailing whitespace). Every header that frames a
        body or changes the protocol (content-length other than 0, transfer-encoding, upgrade)
        and any head that reaches a limit (request line, field size, field count, head size) goes
        to llhttp, so the limits and the smuggling defences stay in one place.
        tests/unit/test_h1_fast_head.py holds this to llhttp's reading.
        """
        cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(data)
        cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
        cdef Py_ssize_t i = start, j, name_start, name_len, value_start, value_len, url_start
        cdef Py_ssize_t size, limit = self._max_head_size
        cdef int count = 0
        cdef unsigned char c
        cdef bint forwarded = False
        cdef bytes name
        cdef char* out
        j = i
        while j < n and p[j] != 32:
            j += 1
        if j >= n:
            return 0
        method = _fast_method(p + i, j - i)
        if method is None:
            return 0
        i = j + 1
        if i >= n or p[i] != 47:  # origin-form only: "/"
            return 0
        url_start = i
        while i < n and URL_CHAR[p[i]]:
            i += 1
        if n - i < 11 or p[i] != 32:
            return 0
        size = i - url_start
        if size > limit or size > self._limit_line:
            return 0
        url = PyBytes_FromStringAndSize(<const char*>p + url_start, size)
        i += 1
        if memcmp(p + i, b"HTTP/1.", 7) != 0 or p[i + 8] != 13 or p[i + 9] != 10:
            return 0
        c = p[i + 7]
        if c == 49:
            version = "1.1"
        elif c == 48:
            version = "1.0"
        else:
            return 0
        i += 10
        cdef list headers = []
        while True:
            if i + 1 >= n:
                return 0
            if p[i] == 13:
                if p[i + 1] != 10:
                    return 0
                i += 2
                break
            name_start = i
            while i < n and TOKEN_CHAR[p[i]]:
                i += 1
            name_len = i - name_start
            if i >= n or p[i] != 58 or name_len == 0:  # ":" right after the name (RFC 9112 §5.1)
                return 0
            i += 1
            while i < n and (p[i] == 32 or p[i] == 9):
                i += 1
            value_start = i
            while i < n and VALUE_CHAR[p[i]]:
                i += 1
            value_len = i - value_start
            if i + 1 >= n or p[i] != 13 or p[i + 1] != 10 or value_len == 0:
                return 0
            c = p[i - 1]
            if c == 32 or c == 9:
                return 0
            i += 2
            size += name_len + value_len + 4
            count += 1
            if (
                size > limit
                or count > self._limit_fields
                or name_len + value_len + 2 > self._limit_field
            ):
                return 0
            name = PyBytes_FromStringAndSize(NULL, name_len)
            out = PyBytes_AS_STRING(name)
            for j in range(name_len):
                out[j] = LOWER_CHAR[p[name_start + j]]
            if _framing_field(<const unsigned char*>out, name_len, p + value_start, value_len):
                return 0
            if name_len > 12 and memcmp(out, b"x-forwarded-", 12) == 0:
                forwarded = True
            headers.append(
                (name, PyBytes_FromStringAndSize(<const char*>p + value_start, value_len))
            )
        # What on_message_begin, on_url, on_header, on_headers_complete and
        # on_message_complete do for llhttp, in one go.
        self.deadline = self._send_deadline
        self._line_done = False
        self._head_deadline = 0.0
        self._url = url
        self._headers = headers
        self._head_size = size
        self._phase = _BODY
        self._begin_request(method, version, forwarded)
        self._phase = _IDLE
        if not self._message_keep_alive or self.closing:
            self._discard_input = True
        return i - start

    def on_body(self, bytes body):
        cycle = self._reading
        if cycle is None:
            return
        if self._limit_body:
            self._body_received += len(body)
            if self._body_received > self._limit_body:
                raise BadRequest(*BODY_TOO_LARGE)
        if cycle.feed_body(body) > C_BODY_HIGH_WATER and not cycle.response_complete:
            self._pause_reading(_PAUSE_BODY)

    def on_message_complete(self):
        self._phase = _IDLE
        cycle = self._reading
        if cycle is not None and not self._upgrade_body_left:
            cycle.end_body()
            self._reading = None
        if not self._message_keep_alive or self.closing:
            self._discard_input = True

    cdef _feed_upgrade_body(self, bytes data):
        cycle = self._reading
        cdef long long left = self._upgrade_body_left
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

    cdef _check_partial_head(self, bytes data):
        newline = data.rfind(b"\n")
        if newline == -1:
            self._partial_line += len(data)
        else:
            self._partial_line = len(data) - newline - 1
            self._line_done = True
        error = partial_head_error(
            self.state, self._head_size, self._partial_line, self._line_done
        )
        if error is not None:
            self._bad_request(error[0], error[1])
        elif not self._head_deadline:
            self._head_deadline = self.loop.time() + self.state.header_timeout
            self._arm(self._head_deadline)

    cdef _body_progress(self):
        self._body_deadline = self.loop.time() + self.state.body_timeout
        self._arm(self._body_deadline)

    cdef inline void _arm(self, double at):
        if not self.deadline or at < self.deadline:
            self.deadline = at

    # Running requests

    cpdef _run_next(self):
        cycle_obj, keep_alive, error = self.pipeline[0]
        del self.pipeline[0]
        if cycle_obj is None:
            self._write_error_and_close(error[0], error[1])
            return
        cdef RequestResponseCycle cycle = <RequestResponseCycle>cycle_obj
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
        app = self._plain_app
        if app is None:
            app = self.state.app_for_request()
        self._starting = True
        if self._runner is None:
            self._runner = _Runner(self.loop, self._tasks)
        coro = cycle.run_asgi(app)
        if self._runner.start(cycle, coro):
            suspended = cycle.task is not None
        else:
            if C_EAGER_TASKS:
                task = Task(coro, loop=self.loop, eager_start=True)
            else:
                task = self.loop.create_task(coro)
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

    def _run_queued(self):
        if self.cycle is None and self.pipeline and not self.disconnected:
            self._run_next()

    cdef _pause_reading(self, int reason):
        if not self._read_paused and not self.disconnected:
            self.transport.pause_reading()
        self._read_paused |= reason

    cdef _resume_reading(self, int reason):
        if not self._read_paused & reason:
            return
        self._read_paused &= ~reason
        if not self._read_paused and not self.disconnected:
            self.transport.resume_reading()

    # ResponseWriter

    cpdef write_start(self, cycle, status, headers, trailers):
        cdef long long content_length
        cdef int flags
        cdef tuple built
        if (
            self._last_headers is not None
            and type(status) is int
            and status == self._last_status
            and type(headers) is list
            and headers == self._last_headers
        ):
            built = self._last_built
        else:
            built = build_response_head(status, headers)
            # Only a list of (bytes, bytes) tuples is kept: nothing in it can change later.
            if type(status) is int and type(headers) is list and immutable_fields(headers):
                self._last_status = status
                self._last_headers = list(headers)
                self._last_built = built
        head, content_length, flags = built
        cdef bint no_body = self._is_head_request or status == 204 or status == 304 or status < 200
        cdef bint keep_alive = self._keep_alive and not flags & RESP_CONNECTION_CLOSE
        if self.closing and not self.pipeline:
            keep_alive = False
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
                keep_alive = False
        if (<RequestResponseCycle>cycle)._more_body:
            keep_alive = False
        self._keep_alive = keep_alive
        self._no_body = no_body
        if not keep_alive:
            framing += CLOSE_LINE
        elif not self._http11:
            framing += KEEP_ALIVE_LINE
        self._head = b"".join(
            (head, self.state.default_headers[(flags >> 2) & 3], framing, b"\r\n")
        )
        if not self._starting:
            self.loop.call_soon(self._flush_head, cycle)

    def _flush_head(self, cycle):
        head = self._head
        if head is not None and cycle is self.cycle and not self.disconnected:
            self._head = None
            self._head_written = True
            self.transport.write(head)

    cpdef write_body(self, cycle, body, more_body):
        if self.disconnected:
            return None
        cdef Py_ssize_t size = len(body)
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
            # A streamed body: one write per loop iteration (see the twin).
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
            if size < C_JOIN_LIMIT:
                self.transport.write(head + body if size else head)
            else:
                self.transport.writelines((head, body))
        elif size:
            self.transport.write(body)
        (<RequestResponseCycle>cycle).bytes_sent += size
        if not more_body and 0 <= self._expected != self._sent and not self._no_body:
            logger.error("Response content shorter than Content-Length")
            self._keep_alive = False
        if self._write_paused:
            return self._drain()
        return None

    def _flush_out(self):
        """Write the parts of a streamed body that are waiting (see write_body)."""
        self._out_scheduled = False
        out = self._out
        if not out:
            return
        self._out = None
        cdef Py_ssize_t size = self._out_size
        self._out_size = 0
        if not self.disconnected:
            self._write_parts(out, size)

    cdef _write_parts(self, list parts, Py_ssize_t size):
        if len(parts) == 1:
            self.transport.write(parts[0])
        elif size < C_JOIN_LIMIT:
            self.transport.write(b"".join(parts))
        else:
            self.transport.writelines(parts)

    cdef _drain(self):
        waiter = self._drain_waiter
        if waiter is None:
            waiter = self._drain_waiter = self.loop.create_future()
        return waiter

    def write_trailers(self, cycle, headers):
        return None

    def write_error(self, cycle, status):
        if cycle is self.cycle and not self._head_written and not self.disconnected:
            self._head = None
            self._write_error_and_close(status, "")

    def send_continue(self, cycle):
        if cycle is self.cycle and self._head is None and not self._head_written:
            if not self.disconnected:
                self.transport.write(CONTINUE)

    cpdef body_consumed(self, cycle, Py_ssize_t nbytes):
        if (
            self._read_paused & _PAUSE_BODY
            and (<RequestResponseCycle>cycle)._body_size < C_BODY_LOW_WATER
        ):
            self._resume_reading(_PAUSE_BODY)

    cpdef response_complete(self, cycle):
        if cycle is not self.cycle:
            return
        self.cycle = None
        if (<RequestResponseCycle>cycle)._more_body:
            self._linger_close()
            return
        if not self._keep_alive or self.disconnected:
            self._discard_input = True
            if not self.disconnected:
                self.transport.close()
            return
        if self.pipeline:
            self.loop.call_soon(self._run_queued)
        else:
            self._resume_reading(_PAUSE_PIPELINE)
            self._resume_reading(_PAUSE_BODY)
            if self.closing:
                self.transport.close()
            elif self._phase == _HEAD:
                if not self._head_deadline:  # a pipelined head is arriving (see h1.py)
                    self._head_deadline = self.loop.time() + self.state.header_timeout
                self._arm(self._head_deadline)
            else:
                self.deadline = self.loop.time() + self._keep_alive_timeout

    def app_failed(self, cycle):
        if cycle is not self.cycle or self.disconnected:
            return
        self.cycle = None
        if not self._head_written:
            self._head = None
            self._write_error_and_close(500, "")
        else:
            self._discard_input = True
            self._flush_out()
            self.transport.close()

    def cycle_finished(self, cycle):
        if cycle is self.cycle and not cycle.response_complete and not self.disconnected:
            self.cycle = None
            self._discard_input = True
            self._flush_out()
            self.transport.close()

    # Errors, shutdown, timeouts

    cpdef _bad_request(self, int status, reason):
        logger.debug("Invalid HTTP request from %s: %s", self.client, reason)
        self._discard_input = True
        self._phase = _IDLE
        reading = self._reading
        self._reading = None
        if reading is not None:
            reading.disconnect()
            if reading is self.cycle:
                self.cycle = None
                if self._head_written:
                    self._flush_out()
                    self.transport.close()
                    return
                self._head = None
            elif self.pipeline and self.pipeline[len(self.pipeline) - 1][0] is reading:
                self.pipeline.pop()
        if self.cycle is None and not self.pipeline:
            self._write_error_and_close(status, reason)
        else:
            self.pipeline.append((None, False, (status, reason)))

    cdef _write_error_and_close(self, int status, reason):
        self._discard_input = True
        if self.disconnected:
            return
        self.transport.write(error_response(status, reason, self.state.default_headers[0]))
        self._linger_close()

    cdef _linger_close(self):
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

    cpdef bint is_idle(self):
        return self._lingering or (
            self.cycle is None and not self.pipeline and self._phase == _IDLE
        )

    def shutdown(self):
        self.closing = True
        if self.is_idle() or (self._phase == _HEAD and self.cycle is None):
            self.transport.close()

    def drain(self, double grace):
        # The compiled twin of H1Protocol.drain (protocols/h1.py): a draining worker answers
        # the next request of an idle keep-alive connection (connection: close) instead of
        # closing under the client's feet; the tick closes it after `grace` seconds.
        cdef double limit
        self.closing = True
        if self.is_idle():
            limit = self.loop.time() + grace
            self.deadline = min(self.deadline, limit) if self.deadline else limit

    def check_deadline(self, double now):
        # Which deadline passed: see H1Protocol.check_deadline in protocols/h1.py.
        cdef double due = self.deadline
        self.deadline = 0.0
        if self.disconnected:
            return False
        if self._lingering:
            self.transport.close()
            return False
        cdef double send = self._send_deadline
        cdef Py_ssize_t buffered
        if send:
            buffered = self.transport.get_write_buffer_size()
            if send <= now and buffered < self._send_mark:
                self._send_mark = buffered  # slow but not stalled (see h1.py)
                send = self._send_deadline = now + self.state.send_timeout
            if send <= now:
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
                self._body_progress()
            elif self._body_deadline <= now:
                self._body_deadline = 0.0
                self._bad_request(BODY_TIMEOUT[0], BODY_TIMEOUT[1])
                return False
            else:
                self._arm(self._body_deadline)
        elif self.is_idle():
            # Idle: mark now, close on the sweep's second look (see h1.py and state.py).
            if not due or due != self._idle_mark:
                self._idle_mark = now
                self.deadline = now
                return True
            self.transport.close()
        return False
