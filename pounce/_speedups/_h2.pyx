# cython: language_level=3
"""Compiled HTTP/2 server connection: the twin of ``pounce/http2/connection.py``'s ``H2Connection``.

The same public API and the same pounce events (defined in Python, in ``pounce.http2.connection``),
but its own framing layer instead of the h2 library: a frame reader that works on the received
bytes in place, frame dispatch per RFC 9113 §6, stream states per §5.1, flow control in both
directions (§5.2, §6.9), request header validation (§8.2, §8.3, RFC 8441) and the same
denial-of-service protections (§10.5) as the h2-backed twin.

Errors follow RFC 9113 §5.4: a connection error queues GOAWAY with its code and is reported as
``H2ProtocolError`` (the events of that ``receive_data`` call are dropped, as in the twin); a
stream error queues RST_STREAM and, for a stream the application knows, ``H2StreamReset``.

Where this core knowingly differs from the h2-backed twin (both answers are allowed or required
by RFC 9113, h2 picks a connection error):
- HPACK decoding failures are COMPRESSION_ERROR (§4.3); h2 says PROTOCOL_ERROR.
- A body that disagrees with content-length is a stream error (§8.1.1); h2 ends the connection.
- DATA or HEADERS on a half-closed (remote) stream is a stream error STREAM_CLOSED, as §5.1
  requires; h2 ends the connection.
- A stray CONTINUATION (§6.10), trailers without END_STREAM (§8.1), a stream depending on
  itself (§5.3.1) and an invalid value of a repeated setting (§6.5.2) are errors here;
  h2 misses some of them or ends the connection. (A PRIORITY frame that makes a stream that
  is not open depend on itself ends the connection in both.)
- Frames on a stream this side reset are dropped (§5.1 "closed", §5.4.2) until the client's
  own RST_STREAM for it arrives; h2 answers them with RST_STREAM(STREAM_CLOSED).
"""

import base64
import binascii
import dataclasses
import time
import types


from pounce.http2 import constants as h2constants
from pounce.http2.events import (
    FloodLimits,
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

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.object cimport PyObject, PyTypeObject
from cpython.ref cimport Py_INCREF
from libc.string cimport memcmp

# HPACK (RFC 7541): the compiled codec, pounce/_speedups/_hpack.pyx.
from pounce._speedups._hpack cimport Decoder, Encoder
from pounce.errors import HPACKError, OversizedHeaderListError

# RFC 9113 §6: frame types and flags --------------------------------------------------------

cdef enum:
    T_DATA = 0x0
    T_HEADERS = 0x1
    T_PRIORITY = 0x2
    T_RST_STREAM = 0x3
    T_SETTINGS = 0x4
    T_PUSH_PROMISE = 0x5
    T_PING = 0x6
    T_GOAWAY = 0x7
    T_WINDOW_UPDATE = 0x8
    T_CONTINUATION = 0x9

cdef enum:
    F_END_STREAM = 0x1
    F_ACK = 0x1
    F_END_HEADERS = 0x4
    F_PADDED = 0x8
    F_PRIORITY = 0x20

# RFC 9113 §7: error codes, from their one definition (pounce/http2/constants.py) into C globals.
cdef unsigned int NO_ERROR = h2constants.NO_ERROR
cdef unsigned int PROTOCOL_ERROR = h2constants.PROTOCOL_ERROR
cdef unsigned int INTERNAL_ERROR = h2constants.INTERNAL_ERROR
cdef unsigned int FLOW_CONTROL_ERROR = h2constants.FLOW_CONTROL_ERROR
cdef unsigned int STREAM_CLOSED = h2constants.STREAM_CLOSED
cdef unsigned int FRAME_SIZE_ERROR = h2constants.FRAME_SIZE_ERROR
cdef unsigned int REFUSED_STREAM = h2constants.REFUSED_STREAM
cdef unsigned int COMPRESSION_ERROR = h2constants.COMPRESSION_ERROR
cdef unsigned int ENHANCE_YOUR_CALM = h2constants.ENHANCE_YOUR_CALM

# RFC 9113 §6.5.2: setting identifiers.
cdef enum:
    S_HEADER_TABLE_SIZE = 0x1
    S_ENABLE_PUSH = 0x2
    S_MAX_CONCURRENT_STREAMS = 0x3
    S_INITIAL_WINDOW_SIZE = 0x4
    S_MAX_FRAME_SIZE = 0x5
    S_MAX_HEADER_LIST_SIZE = 0x6
    S_ENABLE_CONNECT_PROTOCOL = 0x8  # RFC 8441 §3

cdef enum:
    MAX_WINDOW = 0x7FFFFFFF  # §6.9.1: 2^31 - 1
    MAX_FRAME_SIZE_LIMIT = 0xFFFFFF  # §6.5.2: 2^24 - 1
    # A header block spread over more CONTINUATION frames than this is a flood (as in h2).
    MAX_CONTINUATIONS = 64
    # Streams remembered after they closed, to tell a late frame from a protocol error (§5.1).
    CLOSED_MEMORY = 1024

# Why a remembered stream closed (RFC 9113 §5.1 "closed"): late frames are answered by it.
cdef enum:
    CLOSED_BY_RESET = 1  # we sent RST_STREAM (a stream error, a refusal, the application)
    CLOSED_BY_END = 2  # END_STREAM both ways
    CLOSED_BY_PEER_RESET = 3  # the client sent RST_STREAM

cdef long long DEFAULT_WINDOW = h2constants.DEFAULT_WINDOW
cdef long long DEFAULT_FRAME_SIZE = h2constants.DEFAULT_FRAME_SIZE
cdef bytes C_PREFACE = h2constants.PREFACE
cdef Py_ssize_t PREFACE_LEN = len(C_PREFACE)
cdef bytes DRAIN_PING = h2constants.DRAIN_PING
cdef bytes EMPTY = b""
cdef object _time = time.monotonic


# Events without their dataclass __init__ (a Python frame per event) ---------------------------
# The event classes are slots dataclasses defined in Python (pounce.http2.connection). Each of them
# is allocated here and its slots filled directly, at the offsets their member descriptors give;
# a class that is not a plain slots class (a __post_init__, a validating __init__) is called
# instead, so that this stays correct if they change.

cdef extern from "Python.h":
    ctypedef struct PyMemberDef:
        const char* name
        int type
        Py_ssize_t offset
        int flags
    ctypedef struct PyMemberDescrObject:
        PyMemberDef* d_member
    int T_OBJECT_EX
    int READONLY
    object PyType_GenericAlloc(PyTypeObject* cls, Py_ssize_t nitems)


@cython.final
cdef class _EventMaker:
    cdef object cls
    cdef bint direct
    cdef Py_ssize_t offsets[6]

    def __cinit__(self, cls):
        self.cls = cls
        names = [f.name for f in dataclasses.fields(cls)]
        self.direct = (
            len(names) <= 6
            and "__post_init__" not in vars(cls)
            and type(cls).__call__ is type.__call__
            and cls.__new__ is object.__new__
            and cls.__setattr__ is object.__setattr__
        )
        for i, name in enumerate(names):
            descr = vars(cls).get(name)
            if type(descr) is not types.MemberDescriptorType:
                self.direct = False
                break
            member = (<PyMemberDescrObject*><PyObject*>descr).d_member
            if member.type != T_OBJECT_EX or member.flags & READONLY:
                self.direct = False
                break
            self.offsets[i] = member.offset

    cdef inline void _put(self, object obj, Py_ssize_t i, object value) noexcept:
        Py_INCREF(value)
        (<PyObject**>((<char*><PyObject*>obj) + self.offsets[i]))[0] = <PyObject*>value

    cdef object make1(self, object a):
        if not self.direct:
            return self.cls(a)
        obj = PyType_GenericAlloc(<PyTypeObject*>self.cls, 0)
        self._put(obj, 0, a)
        return obj

    cdef object make2(self, object a, object b):
        if not self.direct:
            return self.cls(a, b)
        obj = PyType_GenericAlloc(<PyTypeObject*>self.cls, 0)
        self._put(obj, 0, a)
        self._put(obj, 1, b)
        return obj

    cdef object make3(self, object a, object b, object c):
        if not self.direct:
            return self.cls(a, b, c)
        obj = PyType_GenericAlloc(<PyTypeObject*>self.cls, 0)
        self._put(obj, 0, a)
        self._put(obj, 1, b)
        self._put(obj, 2, c)
        return obj

    cdef object make4(self, object a, object b, object c, object d):
        if not self.direct:
            return self.cls(a, b, c, d)
        obj = PyType_GenericAlloc(<PyTypeObject*>self.cls, 0)
        self._put(obj, 0, a)
        self._put(obj, 1, b)
        self._put(obj, 2, c)
        self._put(obj, 3, d)
        return obj

    cdef object make6(self, object a, object b, object c, object d, object e, object f):
        if not self.direct:
            return self.cls(a, b, c, d, e, f)
        obj = PyType_GenericAlloc(<PyTypeObject*>self.cls, 0)
        self._put(obj, 0, a)
        self._put(obj, 1, b)
        self._put(obj, 2, c)
        self._put(obj, 3, d)
        self._put(obj, 4, e)
        self._put(obj, 5, f)
        return obj


cdef _EventMaker _REQUEST = _EventMaker(RequestReceived)
cdef _EventMaker _H2_REQUEST = _EventMaker(H2RequestReceived)
cdef _EventMaker _H2_WS_REQUEST = _EventMaker(H2WebSocketRequest)
cdef _EventMaker _H2_BODY = _EventMaker(H2BodyReceived)
cdef _EventMaker _H2_RESET = _EventMaker(H2StreamReset)
cdef _EventMaker _H2_WINDOW = _EventMaker(H2WindowUpdated)


class _ConnectionError(Exception):
    """Internal: ends the connection with GOAWAY(code)."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


cdef object _ConnErr = _ConnectionError


cdef inline unsigned int _u32(const unsigned char* p) noexcept nogil:
    return (
        (<unsigned int>p[0] << 24) | (<unsigned int>p[1] << 16) | (<unsigned int>p[2] << 8) | p[3]
    )


cdef bytes _frame_header(Py_ssize_t length, int ftype, int flags, unsigned int stream_id):
    cdef unsigned char h[9]
    h[0] = (length >> 16) & 0xFF
    h[1] = (length >> 8) & 0xFF
    h[2] = length & 0xFF
    h[3] = ftype
    h[4] = flags
    h[5] = (stream_id >> 24) & 0x7F
    h[6] = (stream_id >> 16) & 0xFF
    h[7] = (stream_id >> 8) & 0xFF
    h[8] = stream_id & 0xFF
    return PyBytes_FromStringAndSize(<char*>h, 9)


cdef bytes _u32_bytes(unsigned int value):
    cdef unsigned char b[4]
    b[0] = (value >> 24) & 0xFF
    b[1] = (value >> 16) & 0xFF
    b[2] = (value >> 8) & 0xFF
    b[3] = value & 0xFF
    return PyBytes_FromStringAndSize(<char*>b, 4)


cdef bytes _setting(int ident, unsigned int value):
    cdef unsigned char b[6]
    b[0] = (ident >> 8) & 0xFF
    b[1] = ident & 0xFF
    b[2] = (value >> 24) & 0xFF
    b[3] = (value >> 16) & 0xFF
    b[4] = (value >> 8) & 0xFF
    b[5] = value & 0xFF
    return PyBytes_FromStringAndSize(<char*>b, 6)


# Request header validation: RFC 9113 §8.2, §8.3 ----------------------------------------------

cdef inline bint _is(bytes name, const char* literal, Py_ssize_t n) noexcept:
    """``name == literal`` (``n`` its length) without a call: lengths first, then bytes."""
    return PyBytes_GET_SIZE(name) == n and memcmp(PyBytes_AS_STRING(name), literal, n) == 0


# RFC 9113 §8.2.2: the connection-specific field names, from their one definition
# (pounce/http2/constants.py), laid out at import for a check that neither hashes the name nor
# touches a reference count: a 256-bit filter keyed by the first byte plus the length rejects
# nearly every other name at once (a bytes object always has a first byte: it ends with a NUL);
# the rest are compared byte for byte. The tuple keeps the bytes the pointers point into.
cdef tuple _CONNECTION_NAMES = tuple(sorted(h2constants.CONNECTION_HEADERS))
cdef enum:
    _CONNECTION_NAMES_MAX = 16
cdef const char* _connection_names[_CONNECTION_NAMES_MAX]
cdef Py_ssize_t _connection_sizes[_CONNECTION_NAMES_MAX]
cdef Py_ssize_t _connection_count = len(_CONNECTION_NAMES)
cdef unsigned long long _connection_filter[4]


cdef inline unsigned int _filter_key(const char* p, Py_ssize_t n) noexcept:
    return (<unsigned char>p[0] + <size_t>n) & 0xFF


if _connection_count > _CONNECTION_NAMES_MAX:
    raise ImportError("_CONNECTION_NAMES_MAX is smaller than h2constants.CONNECTION_HEADERS")
_connection_filter[:] = [0, 0, 0, 0]
for _i, _name in enumerate(_CONNECTION_NAMES):
    _connection_names[_i] = PyBytes_AS_STRING(_name)
    _connection_sizes[_i] = PyBytes_GET_SIZE(_name)
    _key = _filter_key(_connection_names[_i], _connection_sizes[_i])
    _connection_filter[_key >> 6] |= 1ULL << (_key & 63)
del _i, _name, _key


cdef inline bint _connection_specific(bytes name) noexcept:
    """``name in h2constants.CONNECTION_HEADERS``."""
    cdef Py_ssize_t i, j, n = PyBytes_GET_SIZE(name)
    cdef const char* p = PyBytes_AS_STRING(name)
    cdef const char* known
    cdef unsigned int key = _filter_key(p, n)
    if not (_connection_filter[key >> 6] >> (key & 63)) & 1:
        return False
    # Compared here rather than with memcmp: a call would make every caller save more
    # registers, on every field.
    for i in range(_connection_count):
        if _connection_sizes[i] == n:
            known = _connection_names[i]
            j = 0
            while j < n and p[j] == known[j]:
                j += 1
            if j == n:
                return True
    return False


cdef inline bint _bad_name(bytes name):
    # §8.2.1: lower-case tokens: no 0x00-0x20, ':', A-Z, 0x7f-0xff.
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(name)
    cdef Py_ssize_t i, n = PyBytes_GET_SIZE(name)
    cdef unsigned char c
    if n == 0:
        return True
    for i in range(n):
        c = p[i]
        if c <= 0x20 or c == 0x3A or (0x41 <= c <= 0x5A) or c >= 0x7F:
            return True
    return False


cdef inline bint _bad_value(bytes value):
    # §8.2.1: no NUL, LF or CR; no leading or trailing SP or HTAB.
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(value)
    cdef Py_ssize_t i, n = PyBytes_GET_SIZE(value)
    cdef unsigned char c
    if n == 0:
        return False
    if p[0] == 0x20 or p[0] == 0x09 or p[n - 1] == 0x20 or p[n - 1] == 0x09:
        return True
    for i in range(n):
        c = p[i]
        if c == 0 or c == 0x0A or c == 0x0D:
            return True
    return False


cdef object _field_problem(bytes name, bytes value):
    """None, or why a regular field breaks §8.2 (also used for trailers)."""
    if _bad_name(name):
        return f"invalid field name {name!r}"
    if _bad_value(value):
        return f"invalid value for {name!r}"
    # §8.2.2: connection-specific fields; TE only as "trailers".
    if _connection_specific(name):
        return f"connection-specific field {name!r}"
    if _is(name, b"te", 2) and value != b"trailers":
        return "te other than trailers"
    return None


cdef object _trailers_problem(list headers):
    cdef bytes name, value
    for name, value in headers:
        if PyBytes_GET_SIZE(name) and PyBytes_AS_STRING(name)[0] == b":":
            return "pseudo-header in trailers"  # §8.1
        problem = _field_problem(name, value)
        if problem is not None:
            return problem
    return None


cdef list _join_cookies(list headers):
    """RFC 9113 §8.2.3: cookie crumbs become one field, placed last (as h2 does)."""
    cdef list cookies = None, out
    cdef bytes name, value
    for name, value in headers:
        if _is(name, b"cookie", 6):
            if cookies is None:
                cookies = []
            cookies.append(value)
    if cookies is None:
        return headers
    out = [h for h in headers if h[0] != b"cookie"]
    out.append((b"cookie", b"; ".join(cookies)))
    return out


@cython.final
@cython.freelist(16)
cdef class _Stream:
    """One stream's protocol state (RFC 9113 §5.1) and flow-control windows (§6.9)."""

    cdef int stream_id
    cdef bint ended  # the client sent END_STREAM: half-closed (remote)
    cdef bint local_ended  # we sent END_STREAM: half-closed (local)
    cdef bint closed  # §5.1 closed: kept in H2Connection._streams only while tracked
    cdef bint tracked  # the application knows it (counts against the stream limit)
    cdef long long send_window  # what we may still send
    cdef long long recv_window  # what the client may still send
    cdef long long pending_credit  # padding not yet returned with WINDOW_UPDATE
    cdef long long buffered  # body bytes received, not yet consumed by the application
    cdef long long content_length  # -1: none given (§8.1.1)
    cdef long long received


cdef inline _Stream _new_stream(int stream_id, long long send_window, long long recv_window):
    # Straight to tp_new (no argument tuple, no Python ints for the windows).
    cdef _Stream s = _Stream.__new__(_Stream)
    s.stream_id = stream_id
    s.send_window = send_window
    s.recv_window = recv_window
    s.content_length = -1
    return s


@cython.final
cdef class _Budget:
    """A fixed-window counter: ``hit`` is False once ``limit`` events in one window."""

    cdef long limit
    cdef double window
    cdef double start
    cdef long count
    cdef long bonus

    def __cinit__(self, long limit, double window):
        self.limit = limit
        self.window = window

    cdef inline bint hit(self, double now):
        if now - self.start >= self.window:
            self.start = now
            self.count = 0
            self.bonus = 0
        self.count += 1
        return self.count <= self.limit + self.bonus


@cython.final
cdef class H2Connection:
    """HTTP/2 server connection state machine (compiled)."""

    cdef readonly object settings
    cdef object _clock
    cdef Decoder _decoder  # HPACK, see above
    cdef Encoder _encoder
    cdef list _out
    cdef bytes _pending  # received bytes not yet a whole frame
    cdef list _events  # of the receive_data call in progress
    # Every stream that is open or that the application still tracks (stream id -> _Stream):
    # one dict, so a request costs one insertion and one removal. _Stream.closed and
    # _Stream.tracked tell which it is.
    cdef dict _streams
    cdef Py_ssize_t _tracked  # the application's streams (counted against the limit)
    # The last CLOSED_MEMORY closed streams and why (CLOSED_BY_*), in a ring: remembering one
    # is a store; only a frame for a stream that is not open looks one up, by a scan.
    cdef unsigned int _closed_ids[CLOSED_MEMORY]
    cdef unsigned char _closed_reasons[CLOSED_MEMORY]
    cdef Py_ssize_t _closed_next  # the slot the next closed stream takes
    cdef Py_ssize_t _closed_count
    cdef bint _preface_seen
    cdef bint _settings_seen
    cdef bint _goaway_sent
    cdef bint _goaway_received
    cdef bint _send_closed  # a GOAWAY with an error either way: no stream is written
    cdef bint _error_sent  # our GOAWAY with an error is queued: nothing more is sent
    cdef bint _peer_failed  # the client's GOAWAY had an error: every later frame is one too
    cdef bint _terminated
    cdef bint _drain_pinged
    cdef bint _drain_acked
    cdef int _last_stream_id
    cdef int _highest_stream_id
    # Settings of ours (§6.5.2) and of the peer.
    cdef int _max_concurrent
    cdef long long _local_initial_window
    cdef long long _local_max_frame
    cdef long long _max_header_list
    cdef long long _conn_window_size
    cdef long long _peer_initial_window
    cdef long long _peer_max_frame
    # Flow control (§6.9): connection windows both ways, and what is held back (see twin).
    cdef long long _send_conn_window
    cdef long long _recv_conn_window
    cdef long long _conn_credit  # returned at the end of receive_data
    cdef long long _buffered_total
    cdef long long _held_credit
    # An unfinished header block (HEADERS without END_HEADERS, §6.10).
    cdef int _cont_stream
    cdef int _cont_flags
    cdef int _cont_count
    cdef int _cont_depends
    cdef list _cont_parts
    cdef Py_ssize_t _cont_size
    # The stream of a header block that has begun to arrive but is not complete (a HEADERS
    # or CONTINUATION frame in part, or a block awaiting CONTINUATION), else 0: the
    # protocol's --timeout-request-header clock (see _head_in_progress).
    cdef readonly int head_pending
    cdef _Budget _settings_budget
    cdef _Budget _ping_budget
    cdef _Budget _empty_data_budget
    cdef _Budget _window_budget
    cdef _Budget _reset_budget
    cdef _Budget _priority_budget
    cdef _Stream _last_sent  # see _sendable
    cdef long long _content_length  # of the request _request() just accepted
    cdef bint _websocket  # and whether it is a WebSocket (RFC 8441)

    def __init__(self, settings=None, *, client_side=False, limits=None, clock=_time):
        if client_side:
            raise ValueError("the compiled HTTP/2 core is server-side only")
        self.settings = settings = settings or H2Settings()
        self._clock = clock
        self._max_concurrent = settings.max_concurrent_streams
        self._local_initial_window = settings.initial_window_size
        self._local_max_frame = settings.max_frame_size
        self._max_header_list = settings.max_header_list_size
        self._conn_window_size = settings.connection_window_size
        # hpack enforces the decoded size (HPACK bomb, RFC 9113 §10.5.1) from the first frame.
        self._decoder = Decoder(4096, settings.max_header_list_size)
        self._encoder = Encoder()
        self._out = []
        self._pending = EMPTY
        self._events = []
        self._streams = {}
        self._peer_initial_window = DEFAULT_WINDOW
        self._peer_max_frame = DEFAULT_FRAME_SIZE
        self._send_conn_window = DEFAULT_WINDOW
        self._recv_conn_window = DEFAULT_WINDOW
        self._cont_parts = []
        limits = limits or FloodLimits()
        w = limits.window
        self._settings_budget = _Budget(limits.settings, w)
        self._ping_budget = _Budget(limits.pings, w)
        self._empty_data_budget = _Budget(limits.empty_data, w)
        self._window_budget = _Budget(limits.window_updates, w)
        self._reset_budget = _Budget(max(limits.resets, 2 * settings.max_concurrent_streams), w)
        self._priority_budget = _Budget(limits.priority, w)

    # State ---------------------------------------------------------------------------------

    @property
    def is_closed(self):
        """True once GOAWAY was sent or received: no new streams will be served."""
        return self._goaway_sent or self._goaway_received or self._terminated

    @property
    def active_stream_count(self):
        return self._tracked

    @property
    def highest_stream_id(self):
        return self._highest_stream_id

    @property
    def connection_window(self):
        return self._send_conn_window

    @property
    def credit_held(self):
        """True while connection credit waits for the application (see the twin)."""
        return self._held_credit > 0

    def stream_ended(self, int stream_id):
        """True when the client has ended its side of the stream (or it is gone)."""
        cdef _Stream s = self._streams.get(stream_id)
        return s is None or not s.tracked or s.ended

    def remove_stream(self, int stream_id):
        """Stop tracking a finished stream; it no longer counts against the stream limit."""
        # Usually the stream just written to (ids are never reused: the same object).
        cdef _Stream s = self._last_sent
        if s is None or s.stream_id != stream_id:
            s = self._streams.get(stream_id)
        if s is not None and s.tracked:
            self._untrack(s)

    cdef inline _Stream _get_open(self, object stream_id):
        """The stream if it is open (§5.1: not closed), else None."""
        cdef _Stream s = self._streams.get(stream_id)
        if s is None or s.closed:
            return None
        return s

    cdef void _untrack(self, _Stream s):
        """The application is done with the stream; forgotten here too once closed."""
        s.tracked = False
        self._tracked -= 1
        if s.closed:
            self._streams.pop(s.stream_id, None)
        self._forget(s)

    cdef void _forget(self, _Stream s):
        """A stream's unread body is discarded: it no longer holds back the connection."""
        if s.buffered:
            self._buffered_total -= s.buffered
            s.buffered = 0
            self._release_held_credit()

    cdef void _release_held_credit(self):
        cdef long long held = self._held_credit
        if held and self._buffered_total <= self._conn_window_size:
            self._held_credit = 0
            self._window_update(0, held)

    def local_flow_control_window(self, int stream_id):
        """Bytes that may be sent on ``stream_id`` now (min of stream and connection window)."""
        cdef _Stream s = self._get_open(stream_id)
        if s is None or self._send_closed:
            return 0
        return min(s.send_window, self._send_conn_window)

    # Output --------------------------------------------------------------------------------

    def data_to_send(self):
        out = self._out
        if not out:
            return EMPTY
        if len(out) == 1:
            data = out[0]
            out.clear()
            return bytes(data)
        data = EMPTY.join(out)
        out.clear()
        return data

    cdef void _window_update(self, int stream_id, long long increment):
        # §6.9: WINDOW_UPDATE; our own windows never pass 2^31-1.
        if stream_id == 0:
            if self._recv_conn_window + increment > MAX_WINDOW:
                increment = MAX_WINDOW - self._recv_conn_window
            self._recv_conn_window += increment
        if increment <= 0:
            return
        self._out.append(_frame_header(4, T_WINDOW_UPDATE, 0, stream_id))
        self._out.append(_u32_bytes(<unsigned int>increment))

    cdef void _rst(self, int stream_id, unsigned int code):
        self._out.append(_frame_header(4, T_RST_STREAM, 0, stream_id))
        self._out.append(_u32_bytes(code))

    cdef void _goaway(self, int last_stream_id, unsigned int code, bytes debug):
        self._out.append(_frame_header(8 + len(debug), T_GOAWAY, 0, 0))
        self._out.append(_u32_bytes(last_stream_id) + _u32_bytes(code) + debug)

    # Starting ------------------------------------------------------------------------------

    cdef bytes _settings_payload(self):
        s = self.settings
        return (
            _setting(S_MAX_CONCURRENT_STREAMS, s.max_concurrent_streams)
            + _setting(S_INITIAL_WINDOW_SIZE, s.initial_window_size)
            + _setting(S_MAX_FRAME_SIZE, s.max_frame_size)
            + _setting(S_MAX_HEADER_LIST_SIZE, s.max_header_list_size)
            + _setting(S_ENABLE_CONNECT_PROTOCOL, 1)  # RFC 8441 §3: extended CONNECT
        )

    def initiate_connection(self):
        """Queue the server preface: SETTINGS (RFC 9113 §3.4) and a connection window bigger
        than the 65535 default (§6.9.2)."""
        payload = self._settings_payload()
        self._out.append(_frame_header(len(payload), T_SETTINGS, 0, 0))
        self._out.append(payload)
        self._open_connection_window()

    def initiate_upgrade_connection(self, settings_header):
        """Start after ``Upgrade: h2c`` (RFC 7540 §3.2): stream 1 is the upgrading request,
        already complete. False if the HTTP2-Settings header is invalid."""
        cdef _Stream s
        try:
            raw = bytes(settings_header)
            payload = base64.b64decode(raw + b"=" * (-len(raw) % 4), altchars=b"-_", validate=True)
        except (binascii.Error, ValueError, TypeError):
            return False
        if len(payload) % 6:
            return False
        try:
            self._apply_settings(payload)
        except _ConnectionError:
            return False
        self.initiate_connection()
        s = _new_stream(1, self._peer_initial_window, self._local_initial_window)
        s.ended = True
        s.tracked = True
        self._tracked += 1
        self._streams[1] = s
        self._highest_stream_id = 1
        return True

    cdef void _open_connection_window(self):
        cdef long long extra = self._conn_window_size - DEFAULT_WINDOW
        if extra > 0:
            self._window_update(0, extra)

    # Input ---------------------------------------------------------------------------------

    def receive_data(self, data):
        """Feed bytes from the network; returns pounce events. Always call ``data_to_send``
        afterwards: acknowledgements and window updates may be pending."""
        if self._terminated:
            return []
        if type(data) is not bytes:
            data = bytes(data)
        if self._pending:
            data = self._pending + data
            self._pending = EMPTY
        events = self._events = []
        self._conn_credit = 0
        try:
            self._parse(data)
            if self._conn_credit:
                # RFC 9113 §6.9: the connection window is replenished as soon as data
                # arrives; only stream windows wait for the application.
                self._window_update(0, self._conn_credit)
            self.head_pending = self._head_in_progress()
        except _ConnectionError as exc:
            self.head_pending = 0
            return [self._connection_error(exc.code, str(exc))]
        finally:
            self._events = None
        return events

    cdef int _head_in_progress(self):
        cdef const unsigned char* p
        cdef unsigned int sid
        if self._cont_parts:
            return self._cont_stream
        if not self._preface_seen or PyBytes_GET_SIZE(self._pending) < 9:
            return 0  # (a frame's type and stream are known from its 9-byte header on)
        p = <const unsigned char*>PyBytes_AS_STRING(self._pending)
        if p[3] != T_HEADERS:  # (a CONTINUATION in part follows a block in _cont_parts)
            return 0
        sid = _u32(p + 5) & 0x7FFFFFFF
        return sid if sid & 1 else 0  # an even one is an error on arrival (§5.1.1)

    def abandon_head(self, int status):
        """Stop waiting for the header block in progress (``head_pending``), which took too
        long: a block that would open a new stream is answered with a bare ``status``
        (HEADERS with END_STREAM; for a stream already open the protocol has answered), then
        GOAWAY(NO_ERROR) with that stream as the last one. Nothing more is read: the client
        can send no other frame until the block is complete (RFC 9113 §6.10), and the
        streams already open may still finish their responses."""
        cdef int sid = self.head_pending
        self.head_pending = 0
        if not sid or self._terminated:
            return
        self._pending = EMPTY
        self._cont_parts = []
        if sid > self._highest_stream_id and not self._send_closed:
            self._highest_stream_id = sid
            block = self._encoder.encode_response(status, [])
            self._out.append(
                _frame_header(len(block), T_HEADERS, F_END_STREAM | F_END_HEADERS, sid)
            )
            self._out.append(block)
        self.close_connection(NO_ERROR)
        self._terminated = True

    cdef object _connection_error(self, unsigned int code, str message):
        self._terminated = True
        self._pending = EMPTY
        self._send_closed = True
        if not self._error_sent:
            self._error_sent = True
            debug = message.encode() if code == ENHANCE_YOUR_CALM else EMPTY
            self._goaway(self._highest_stream_id, code, debug)
        return H2ProtocolError(code, message)

    cdef int _parse(self, bytes data) except -1:
        cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(data)
        cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
        cdef Py_ssize_t pos = 0, length
        cdef int ftype, flags
        cdef unsigned int stream_id
        if not self._preface_seen:
            # RFC 9113 §3.4: the client preface, then a SETTINGS frame.
            if n < PREFACE_LEN:
                if memcmp(p, PyBytes_AS_STRING(C_PREFACE), n) != 0:
                    raise _ConnErr(PROTOCOL_ERROR, "Invalid HTTP/2 preamble")
                self._pending = data
                return 0
            if memcmp(p, PyBytes_AS_STRING(C_PREFACE), PREFACE_LEN) != 0:
                raise _ConnErr(PROTOCOL_ERROR, "Invalid HTTP/2 preamble")
            self._preface_seen = True
            pos = PREFACE_LEN
        while n - pos >= 9:
            length = (<Py_ssize_t>p[pos] << 16) | (<Py_ssize_t>p[pos + 1] << 8) | p[pos + 2]
            ftype = p[pos + 3]
            flags = p[pos + 4]
            stream_id = _u32(p + pos + 5) & 0x7FFFFFFF  # §4.1: the reserved bit is ignored
            if length > self._local_max_frame:
                # §4.2: larger than our SETTINGS_MAX_FRAME_SIZE.
                raise _ConnErr(FRAME_SIZE_ERROR, "frame too large")
            if n - pos - 9 < length:
                break
            pos += 9
            if not self._settings_seen:
                if ftype != T_SETTINGS or flags & F_ACK:
                    raise _ConnErr(PROTOCOL_ERROR, "first frame is not SETTINGS")  # §3.4
                self._settings_seen = True
            if self._peer_failed and ftype <= T_CONTINUATION:
                raise _ConnErr(PROTOCOL_ERROR, "frame after GOAWAY with an error")
            if self._cont_parts and ftype != T_CONTINUATION:
                # §6.10: a header block is contiguous.
                raise _ConnErr(PROTOCOL_ERROR, "expected CONTINUATION")
            self._frame(data, p + pos, pos, length, ftype, flags, stream_id)
            pos += length
            if self._terminated:
                return 0
        if pos < n:
            self._pending = data[pos:]
        return 0

    cdef int _frame(
        self, bytes data, const unsigned char* p, Py_ssize_t pos, Py_ssize_t length,
        int ftype, int flags, unsigned int stream_id
    ) except -1:
        if ftype == T_HEADERS:
            return self._on_headers(data, p, pos, length, flags, stream_id)
        if ftype == T_DATA:
            return self._on_data(data, p, pos, length, flags, stream_id)
        if ftype == T_WINDOW_UPDATE:
            return self._on_window_update(p, length, stream_id)
        if ftype == T_RST_STREAM:
            return self._on_rst_stream(p, length, stream_id)
        if ftype == T_SETTINGS:
            return self._on_settings(data, pos, length, flags, stream_id)
        if ftype == T_PING:
            return self._on_ping(data, pos, length, flags, stream_id)
        if ftype == T_PRIORITY:
            return self._on_priority(p, length, stream_id)
        if ftype == T_CONTINUATION:
            return self._on_continuation(data, pos, length, flags, stream_id)
        if ftype == T_GOAWAY:
            return self._on_goaway(p, length, stream_id)
        if ftype == T_PUSH_PROMISE:
            # §8.4: a client cannot push.
            raise _ConnErr(PROTOCOL_ERROR, "PUSH_PROMISE from a client")
        return 0  # §5.5: unknown frame types are ignored

    cdef int _calm(self, _Budget budget, str what) except -1:
        if not budget.hit(self._clock()):
            raise _ConnErr(ENHANCE_YOUR_CALM, what)
        return 0

    cdef inline bint _idle(self, unsigned int stream_id):
        # §5.1: a stream the client has not opened (even ids are ours, and we never push).
        return not stream_id & 1 or stream_id > <unsigned int>self._highest_stream_id

    cdef int _closed_stream_frame(self, unsigned int stream_id, bint headers) except -1:
        """A DATA or HEADERS frame (``headers``) for a stream that is not open: a stream or
        connection error, or dropped. The caller has already done the minimal processing
        (§5.1 "closed": the header block decoded, DATA counted against the connection
        window)."""
        what = "HEADERS" if headers else "DATA"
        if self._idle(stream_id):
            # §5.1: only HEADERS and PRIORITY may be received on an idle stream.
            raise _ConnErr(PROTOCOL_ERROR, f"{what} on idle stream {stream_id}")
        cdef int reason = self._closed_reason(stream_id)
        if reason == CLOSED_BY_RESET:
            # §5.1 "closed", §5.4.2: after our RST_STREAM the client may still have had
            # frames in flight; they are processed minimally and dropped.
            return 0
        if headers:
            if reason == CLOSED_BY_END:
                # §5.1 "closed": a frame after END_STREAM both ways may be treated as a
                # connection error STREAM_CLOSED (RFC 7540 §5.1 required it; h2 does it).
                raise _ConnErr(STREAM_CLOSED, f"HEADERS on closed stream {stream_id}")
            if reason == 0:
                # Never opened (implicitly closed by a higher stream id, §5.1.1), or closed
                # long ago and forgotten (see _remember_closed).
                raise _ConnErr(PROTOCOL_ERROR, f"stream id {stream_id} reused")  # §5.1.1
        # CLOSED_BY_PEER_RESET: §5.1 "closed" (RFC 7540 §5.1): a frame other than PRIORITY
        # after the client's RST_STREAM is a stream error STREAM_CLOSED. DATA on any other
        # closed stream: §6.1, a stream error STREAM_CLOSED.
        self._rst(stream_id, STREAM_CLOSED)
        return 0

    cdef void _close(self, _Stream s, int reason):
        s.closed = True
        if not s.tracked:
            self._streams.pop(s.stream_id, None)
        self._remember_closed(s.stream_id, reason)

    cdef void _remember_closed(self, unsigned int stream_id, int reason):
        """Keep the last CLOSED_MEMORY closed streams' reasons (§5.1: a late frame on a
        closed stream is not a protocol error). Each stream closes once: _close marks it closed
        for good, and a refused one was never opened."""
        cdef Py_ssize_t slot = self._closed_next
        self._closed_ids[slot] = stream_id
        self._closed_reasons[slot] = reason
        self._closed_next = (slot + 1) % CLOSED_MEMORY
        if self._closed_count < CLOSED_MEMORY:
            self._closed_count += 1

    cdef Py_ssize_t _closed_slot(self, unsigned int stream_id) noexcept:
        """The ring slot of a remembered closed stream, else -1 (newest first)."""
        cdef Py_ssize_t _i, slot = self._closed_next
        for _i in range(self._closed_count):
            # (Not (slot - 1) % CLOSED_MEMORY: under cdivision that is -1 at slot 0, and the
            # scan of a full ring went on below the arrays instead of wrapping around.)
            slot = (slot if slot else CLOSED_MEMORY) - 1
            if self._closed_ids[slot] == stream_id:
                return slot
        return -1

    cdef int _closed_reason(self, unsigned int stream_id) noexcept:
        """CLOSED_BY_* for a remembered closed stream, else 0."""
        cdef Py_ssize_t slot = self._closed_slot(stream_id)
        return self._closed_reasons[slot] if slot >= 0 else 0

    cdef void _stream_error(self, _Stream s, unsigned int code):
        """§5.4.2: RST_STREAM; the application sees the stream reset."""
        self._rst(s.stream_id, code)
        self._close(s, CLOSED_BY_RESET)
        if s.tracked:
            self._untrack(s)
            self._events.append(_H2_RESET.make2(s.stream_id, code))

    cdef void _remote_end(self, _Stream s):
        s.ended = True
        if s.local_ended:
            self._close(s, CLOSED_BY_END)

    # DATA: §6.1 -----------------------------------------------------------------------------

    cdef int _on_data(
        self, bytes data, const unsigned char* p, Py_ssize_t pos, Py_ssize_t length,
        int flags, unsigned int stream_id
    ) except -1:
        cdef Py_ssize_t start = pos, end = pos + length, pad
        cdef long long size, padding
        cdef bint ended = flags & F_END_STREAM
        cdef _Stream s
        if stream_id == 0:
            raise _ConnErr(PROTOCOL_ERROR, "DATA on stream 0")
        if flags & F_PADDED:
            if length < 1:
                raise _ConnErr(FRAME_SIZE_ERROR, "DATA too short for padding")
            pad = p[0]
            if pad >= length:
                raise _ConnErr(PROTOCOL_ERROR, "DATA padding too long")
            start += 1
            end -= pad
        # §6.9.1: the whole frame counts against the connection window, whatever its stream.
        if length > self._recv_conn_window:
            raise _ConnErr(FLOW_CONTROL_ERROR, "connection flow-control window exceeded")
        self._recv_conn_window -= length
        size = end - start
        if not size and not ended:
            self._calm(self._empty_data_budget, "empty DATA flood")  # CVE-2019-9518
        s = self._get_open(stream_id)
        if s is None:
            self._closed_stream_frame(stream_id, False)
            self._conn_credit += length  # dropped: the credit goes back at once
            return 0
        if s.ended:
            self._conn_credit += length
            self._stream_error(s, STREAM_CLOSED)  # §5.1 half-closed (remote)
            return 0
        if length > s.recv_window:
            raise _ConnErr(FLOW_CONTROL_ERROR, "stream flow-control window exceeded")
        s.recv_window -= length
        s.received += size
        if s.content_length >= 0 and (
            s.received > s.content_length or (ended and s.received != s.content_length)
        ):
            self._conn_credit += length
            self._stream_error(s, PROTOCOL_ERROR)  # §8.1.1: body vs content-length
            return 0
        if not s.tracked:
            # Not (or no longer) the application's: dropped, credit returned.
            self._conn_credit += length
            if ended:
                self._remote_end(s)
            return 0
        padding = length - size
        if padding and not ended:
            s.pending_credit += padding
        chunk = data[start:end] if size else EMPTY
        if ended:
            self._remote_end(s)
        self._events.append(_H2_BODY.make3(stream_id, chunk, ended))
        s.buffered += size
        self._buffered_total += size
        if self._buffered_total > self._conn_window_size:
            self._held_credit += size
            self._conn_credit += padding
        else:
            self._conn_credit += length
        return 0

    # HEADERS and CONTINUATION: §6.2, §6.10 ------------------------------------------------

    cdef int _on_headers(
        self, bytes data, const unsigned char* p, Py_ssize_t pos, Py_ssize_t length,
        int flags, unsigned int stream_id
    ) except -1:
        cdef Py_ssize_t start = pos, end = pos + length, pad = 0
        cdef int depends = -1
        if stream_id == 0:
            raise _ConnErr(PROTOCOL_ERROR, "HEADERS on stream 0")
        if not stream_id & 1:
            raise _ConnErr(PROTOCOL_ERROR, "even stream id from a client")  # §5.1.1
        if flags & F_PADDED:
            if length < 1:
                raise _ConnErr(FRAME_SIZE_ERROR, "HEADERS too short for padding")
            pad = p[0]
            start += 1
        if flags & F_PRIORITY:
            if end - start - pad < 5:
                raise _ConnErr(FRAME_SIZE_ERROR, "HEADERS too short for priority")
            depends = _u32(<const unsigned char*>PyBytes_AS_STRING(data) + start) & 0x7FFFFFFF
            start += 5
        if end - start < pad:
            raise _ConnErr(PROTOCOL_ERROR, "HEADERS padding too long")  # §6.2
        end -= pad
        if flags & F_END_HEADERS:
            # The whole block is in this frame: decoded in place.
            return self._on_header_block(
                stream_id, flags, depends,
                <const unsigned char*>PyBytes_AS_STRING(data) + start, end - start,
            )
        fragment = data[start:end]
        self._cont_stream = stream_id
        self._cont_flags = flags
        self._cont_depends = depends
        self._cont_count = 0
        self._cont_size = len(fragment)
        self._cont_parts = [fragment]
        self._check_header_backlog()
        return 0

    cdef int _check_header_backlog(self) except -1:
        # CONTINUATION flood (2024): cap an unfinished header block's bytes and frames.
        if self._cont_size > self._max_header_list:
            raise _ConnErr(ENHANCE_YOUR_CALM, "header block too large")
        if self._cont_count > MAX_CONTINUATIONS:
            raise _ConnErr(PROTOCOL_ERROR, "too many CONTINUATION frames")
        return 0

    cdef int _on_continuation(
        self, bytes data, Py_ssize_t pos, Py_ssize_t length, int flags, unsigned int stream_id
    ) except -1:
        if not self._cont_parts or stream_id != <unsigned int>self._cont_stream:
            # §6.10: only right after HEADERS (or CONTINUATION) without END_HEADERS.
            raise _ConnErr(PROTOCOL_ERROR, "unexpected CONTINUATION")
        self._cont_parts.append(data[pos:pos + length])
        self._cont_size += length
        self._cont_count += 1
        self._check_header_backlog()
        if flags & F_END_HEADERS:
            block = EMPTY.join(self._cont_parts)
            self._cont_parts = []
            return self._on_header_block(
                stream_id, self._cont_flags, self._cont_depends,
                <const unsigned char*>PyBytes_AS_STRING(block), PyBytes_GET_SIZE(block),
            )
        return 0

    cdef list _decode(self, const unsigned char* block, Py_ssize_t n):
        """§4.3: every header block is decoded, even for a stream about to be refused."""
        try:
            return self._decoder.decode_ptr(block, n)
        except OversizedHeaderListError:
            raise _ConnErr(ENHANCE_YOUR_CALM, "header list too large")  # §10.5.1
        except HPACKError as exc:
            raise _ConnErr(COMPRESSION_ERROR, f"header block: {exc}")

    cdef int _on_header_block(
        self, unsigned int stream_id, int flags, int depends,
        const unsigned char* block, Py_ssize_t n,
    ) except -1:
        cdef list headers = self._decode(block, n)
        cdef bint ended = flags & F_END_STREAM
        cdef object key = stream_id  # one Python int for every dict and the event
        cdef _Stream s = self._get_open(key)
        if s is not None:
            return self._on_trailers(s, headers, ended, depends)
        if stream_id <= <unsigned int>self._highest_stream_id:
            self._closed_stream_frame(stream_id, True)
            return 0
        # A new stream: §5.1.1, ids increase; it closes every idle stream below it.
        self._highest_stream_id = stream_id
        self._priority_budget.bonus += 1  # a HEADERS frame may carry priority
        if <int>stream_id == depends:
            self._refuse(stream_id, PROTOCOL_ERROR)  # §5.3.1: a stream cannot depend on itself
            return 0
        if self._goaway_sent and stream_id > <unsigned int>self._last_stream_id:
            # §6.8: streams above the GOAWAY's last stream id are not processed.
            self._refuse(stream_id, REFUSED_STREAM)
            return 0
        if self._tracked >= self._max_concurrent:
            self._calm(self._reset_budget, "too many refused streams")
            self._refuse(stream_id, REFUSED_STREAM)  # §5.1.2
            return 0
        request = self._request(headers)
        if request is None:
            # §8.1.1: a malformed request is a stream error of type PROTOCOL_ERROR.
            self._calm(self._reset_budget, "too many malformed requests")
            self._refuse(stream_id, PROTOCOL_ERROR)
            return 0
        s = _new_stream(stream_id, self._peer_initial_window, self._local_initial_window)
        s.ended = ended
        s.content_length = self._content_length
        if ended and s.content_length > 0:
            self._refuse(stream_id, PROTOCOL_ERROR)  # §8.1.1: no body where one was promised
            return 0
        s.tracked = True
        self._tracked += 1
        self._streams[key] = s
        if self._websocket:
            self._events.append(_H2_WS_REQUEST.make4(key, request, request.path, ended))
        else:
            self._events.append(_H2_REQUEST.make3(key, request, ended))
        return 0

    cdef object _request(self, list headers):
        """RFC 9113 §8.3.1 request pseudo-headers, §8.2 fields; None if malformed."""
        cdef bytes name, value
        cdef bytes method = None, scheme = None, path = None, authority = None, protocol = None
        cdef list regular = []
        cdef list cookies = None
        cdef long long content_length = -1
        cdef tuple item
        # The decoder's (name, value) tuples (often its tables' own) go into the scope as
        # they are: no new tuple per field.
        for item in headers:
            name = item[0]
            value = item[1]
            if PyBytes_GET_SIZE(name) and PyBytes_AS_STRING(name)[0] == b":":
                if regular:
                    return None  # pseudo-headers come first
                if _bad_value(value):
                    return None
                if _is(name, b":method", 7):
                    if method is not None:
                        return None
                    method = value
                elif _is(name, b":path", 5):
                    if path is not None:
                        return None
                    path = value
                elif _is(name, b":scheme", 7):
                    if scheme is not None:
                        return None
                    scheme = value
                elif _is(name, b":authority", 10):
                    if authority is not None:
                        return None
                    authority = value
                elif _is(name, b":protocol", 9):
                    if protocol is not None:
                        return None
                    protocol = value
                else:
                    return None  # unknown, or a response pseudo-header
                continue
            if _field_problem(name, value) is not None:
                return None
            if _is(name, b"content-length", 14):
                if not value.isdigit() or (content_length >= 0 and int(value) != content_length):
                    return None
                if len(value) > 18:
                    return None
                content_length = int(value)
            elif _is(name, b"cookie", 6):
                if cookies is None:
                    cookies = []
                cookies.append(value)
                continue
            regular.append(item)
        if cookies is not None:
            # §8.2.3: cookie crumbs are joined into one field (last, as h2 does).
            regular.append((b"cookie", b"; ".join(cookies)))
        if not method:
            return None
        if method == b"CONNECT" and protocol is None:
            # §8.5: plain CONNECT names only an authority.
            if scheme is not None or path is not None or not authority:
                return None
        else:
            if protocol is not None and method != b"CONNECT":
                return None
            if not scheme or not path:
                return None
        if authority is not None:
            for name, value in regular:
                if _is(name, b"host", 4) and value != authority:
                    return None  # §8.3.1: Host must not name a different entity
        self._content_length = content_length
        # RFC 8441 §4: extended CONNECT for a WebSocket.
        self._websocket = (
            method == b"CONNECT" and protocol is not None and protocol.lower() == b"websocket"
        )
        return _REQUEST.make6(
            method, path if path is not None else EMPTY, scheme if scheme is not None else EMPTY,
            authority, regular, protocol or None,
        )

    cdef int _on_trailers(self, _Stream s, list headers, bint ended, int depends) except -1:
        headers = _join_cookies(headers)
        if s.ended:
            self._stream_error(s, STREAM_CLOSED)  # §5.1 half-closed (remote)
            return 0
        if depends == s.stream_id:
            self._stream_error(s, PROTOCOL_ERROR)  # §5.3.1
            return 0
        if not ended or _trailers_problem(headers) is not None:
            # §8.1: trailers end the stream and carry no pseudo-headers; else malformed.
            self._stream_error(s, PROTOCOL_ERROR)
            return 0
        if s.content_length >= 0 and s.received != s.content_length:
            self._stream_error(s, PROTOCOL_ERROR)  # §8.1.1
            return 0
        self._remote_end(s)
        if s.tracked:
            self._events.append(H2TrailersReceived(s.stream_id, headers))
        return 0

    cdef void _refuse(self, unsigned int stream_id, unsigned int code):
        self._rst(stream_id, code)
        self._remember_closed(stream_id, CLOSED_BY_RESET)

    # Control frames -------------------------------------------------------------------------

    cdef int _on_priority(
        self, const unsigned char* p, Py_ssize_t length, unsigned int stream_id
    ) except -1:
        # §6.3: parsed and ignored (§5.3.2), but counted (CVE-2019-9513).
        cdef _Stream s
        if stream_id == 0:
            raise _ConnErr(PROTOCOL_ERROR, "PRIORITY on stream 0")
        if length != 5:
            raise _ConnErr(FRAME_SIZE_ERROR, "PRIORITY frame size")
        self._calm(self._priority_budget, "PRIORITY flood")
        if (_u32(p) & 0x7FFFFFFF) == stream_id:
            # §5.3.1: a stream cannot depend on itself, a stream error PROTOCOL_ERROR.
            s = self._get_open(stream_id)
            if s is None:
                # Not open (idle or closed): no RST_STREAM for an idle stream (§6.4), so
                # the stream error becomes a connection error (§5.4.1 allows it), as in h2.
                raise _ConnErr(PROTOCOL_ERROR, f"stream {stream_id} depends on itself")
            self._stream_error(s, PROTOCOL_ERROR)
        return 0

    cdef int _on_rst_stream(
        self, const unsigned char* p, Py_ssize_t length, unsigned int stream_id
    ) except -1:
        cdef _Stream s
        cdef Py_ssize_t slot
        if stream_id == 0:
            raise _ConnErr(PROTOCOL_ERROR, "RST_STREAM on stream 0")  # §6.4
        if length != 4:
            raise _ConnErr(FRAME_SIZE_ERROR, "RST_STREAM frame size")
        s = self._get_open(stream_id)
        if s is None:
            if self._idle(stream_id):
                raise _ConnErr(PROTOCOL_ERROR, "RST_STREAM on idle stream")  # §6.4
            # §5.1 "closed": a closed stream may still see a RST_STREAM. If this side had
            # reset the stream, the two resets crossed; the client has closed the stream too
            # now, so what it sends on it later is an error as after any RST_STREAM of its
            # own (see _closed_stream_frame), not a frame that was in flight.
            slot = self._closed_slot(stream_id)
            if slot >= 0 and self._closed_reasons[slot] == CLOSED_BY_RESET:
                self._closed_reasons[slot] = CLOSED_BY_PEER_RESET
            return 0
        self._calm(self._reset_budget, "too many stream resets")  # Rapid Reset, CVE-2023-44487
        self._close(s, CLOSED_BY_PEER_RESET)
        if s.tracked:
            self._untrack(s)
            self._events.append(_H2_RESET.make2(stream_id, _u32(p)))
        return 0

    cdef int _on_window_update(
        self, const unsigned char* p, Py_ssize_t length, unsigned int stream_id
    ) except -1:
        cdef long long increment
        cdef _Stream s
        if length != 4:
            raise _ConnErr(FRAME_SIZE_ERROR, "WINDOW_UPDATE frame size")
        increment = _u32(p) & 0x7FFFFFFF
        self._calm(self._window_budget, "WINDOW_UPDATE flood")
        if stream_id == 0:
            if increment == 0:
                raise _ConnErr(PROTOCOL_ERROR, "WINDOW_UPDATE of 0")  # §6.9
            self._send_conn_window += increment
            if self._send_conn_window > MAX_WINDOW:
                raise _ConnErr(FLOW_CONTROL_ERROR, "connection window too large")  # §6.9.1
            self._events.append(_H2_WINDOW.make1(0))
            return 0
        s = self._get_open(stream_id)
        if s is None:
            if self._idle(stream_id):
                raise _ConnErr(PROTOCOL_ERROR, "WINDOW_UPDATE on idle stream")  # §5.1
            return 0  # §5.1: closed streams may still see a WINDOW_UPDATE
        if increment == 0:
            self._stream_error(s, PROTOCOL_ERROR)  # §6.9
            return 0
        s.send_window += increment
        if s.send_window > MAX_WINDOW:
            self._stream_error(s, FLOW_CONTROL_ERROR)  # §6.9.1
            return 0
        self._events.append(_H2_WINDOW.make1(stream_id))
        return 0

    cdef int _on_settings(
        self, bytes data, Py_ssize_t pos, Py_ssize_t length, int flags, unsigned int stream_id
    ) except -1:
        if stream_id != 0:
            raise _ConnErr(PROTOCOL_ERROR, "SETTINGS on a stream")  # §6.5
        if flags & F_ACK:
            if length:
                raise _ConnErr(FRAME_SIZE_ERROR, "SETTINGS ACK with a payload")
            # An ACK flood is a SETTINGS flood too.
            self._calm(self._settings_budget, "SETTINGS flood")
            return 0
        if length % 6:
            raise _ConnErr(FRAME_SIZE_ERROR, "SETTINGS frame size")
        self._calm(self._settings_budget, "SETTINGS flood")
        if self._apply_settings(data[pos:pos + length]):
            self._events.append(_H2_WINDOW.make1(0))  # §6.9.2: every stream window moved
        self._out.append(_frame_header(0, T_SETTINGS, F_ACK, 0))
        return 0

    cdef int _apply_settings(self, bytes payload) except -1:
        """§6.5.2: validate and apply the peer's settings; 1 if INITIAL_WINDOW_SIZE was set."""
        cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(payload)
        cdef Py_ssize_t i, n = PyBytes_GET_SIZE(payload)
        cdef int ident
        cdef long long value, delta
        cdef bint window_set = False
        cdef _Stream s
        for i in range(0, n - 5, 6):
            ident = (p[i] << 8) | p[i + 1]
            value = _u32(p + i + 2)
            if ident == S_HEADER_TABLE_SIZE:
                self._encoder.header_table_size = min(value, 4096)
            elif ident == S_ENABLE_PUSH:
                if value > 1:
                    raise _ConnErr(PROTOCOL_ERROR, "invalid ENABLE_PUSH")
            elif ident == S_INITIAL_WINDOW_SIZE:
                if value > MAX_WINDOW:
                    raise _ConnErr(FLOW_CONTROL_ERROR, "invalid INITIAL_WINDOW_SIZE")
                delta = value - self._peer_initial_window
                self._peer_initial_window = value
                window_set = True
                if delta:
                    # §6.9.2: the change applies to every open stream's window.
                    for s in self._streams.values():
                        if s.closed:
                            continue
                        s.send_window += delta
                        if s.send_window > MAX_WINDOW:
                            raise _ConnErr(FLOW_CONTROL_ERROR, "stream window too large")
            elif ident == S_MAX_FRAME_SIZE:
                if value < DEFAULT_FRAME_SIZE or value > MAX_FRAME_SIZE_LIMIT:
                    raise _ConnErr(PROTOCOL_ERROR, "invalid MAX_FRAME_SIZE")
                self._peer_max_frame = value
            elif ident == S_ENABLE_CONNECT_PROTOCOL:
                if value > 1:
                    raise _ConnErr(PROTOCOL_ERROR, "invalid ENABLE_CONNECT_PROTOCOL")
            # MAX_CONCURRENT_STREAMS (we never push), MAX_HEADER_LIST_SIZE (advisory), and
            # unknown settings (§6.5.2: ignored).
        return window_set

    cdef int _on_ping(
        self, bytes data, Py_ssize_t pos, Py_ssize_t length, int flags, unsigned int stream_id
    ) except -1:
        if stream_id != 0:
            raise _ConnErr(PROTOCOL_ERROR, "PING on a stream")  # §6.7
        if length != 8:
            raise _ConnErr(FRAME_SIZE_ERROR, "PING frame size")
        opaque = data[pos:pos + 8]
        if flags & F_ACK:
            if self._drain_pinged and opaque == DRAIN_PING:
                self._drain_pinged = False
                self._drain_acked = True  # (see drain_ping)
            return 0
        self._calm(self._ping_budget, "PING flood")
        self._out.append(_frame_header(8, T_PING, F_ACK, 0))
        self._out.append(opaque)
        return 0

    cdef int _on_goaway(
        self, const unsigned char* p, Py_ssize_t length, unsigned int stream_id
    ) except -1:
        cdef unsigned int code
        if stream_id != 0:
            raise _ConnErr(PROTOCOL_ERROR, "GOAWAY on a stream")  # §6.8
        if length < 8:
            raise _ConnErr(FRAME_SIZE_ERROR, "GOAWAY frame size")
        code = _u32(p + 4)
        self._goaway_received = True
        if code != NO_ERROR:
            # The peer is gone (§5.4.1): nothing more is written, and any frame after this is
            # a protocol error.
            self._send_closed = True
            self._peer_failed = True
        self._events.append(H2GoAway(_u32(p) & 0x7FFFFFFF, code))
        return 0

    # Responses -----------------------------------------------------------------------------

    cdef _Stream _sendable(self, int stream_id):
        cdef _Stream s = self._last_sent
        # A response is HEADERS then DATA on one stream: the stream of the last call is kept
        # (while open) to save the dict lookup.
        if s is None or s.stream_id != stream_id or s.closed:
            s = self._get_open(stream_id)
            self._last_sent = s
        if s is None or s.local_ended or self._send_closed:
            raise StreamGone(f"stream {stream_id} cannot be written")
        return s

    cdef void _headers_frames(self, _Stream s, bytes block, bint end_stream):
        # §6.2, §6.10: a block bigger than the peer's frame size goes on in CONTINUATION.
        cdef Py_ssize_t size = len(block), limit = self._peer_max_frame, pos
        cdef int flags = F_END_STREAM if end_stream else 0
        sid = s.stream_id
        if size <= limit:
            self._out.append(_frame_header(size, T_HEADERS, flags | F_END_HEADERS, sid))
            self._out.append(block)
        else:
            self._out.append(_frame_header(limit, T_HEADERS, flags, sid))
            self._out.append(block[:limit])
            pos = limit
            while pos < size:
                n = min(limit, size - pos)
                self._out.append(
                    _frame_header(n, T_CONTINUATION, F_END_HEADERS if pos + n == size else 0, sid)
                )
                self._out.append(block[pos:pos + n])
                pos += n
        if end_stream:
            self._local_end(s)

    cdef void _local_end(self, _Stream s):
        s.local_ended = True
        if s.ended:
            self._close(s, CLOSED_BY_END)

    def send_response_headers(self, int stream_id, int status, list headers, *, end_stream=False):
        """HEADERS with ``:status`` first (RFC 9113 §8.3.2); headers already validated.
        Raises StreamGone if the stream cannot be written any more."""
        cdef _Stream s = self._sendable(stream_id)
        self._headers_frames(s, self._encoder.encode_response(status, headers), end_stream)

    def send_trailers(self, int stream_id, list headers):
        """Trailers: a HEADERS frame that ends the stream (RFC 9113 §8.1)."""
        cdef _Stream s = self._sendable(stream_id)
        self._headers_frames(s, self._encoder.encode(headers), True)

    def send_data(self, int stream_id, data, *, end_stream=False):
        """Send as much of ``data`` as the flow-control windows allow (RFC 9113 §6.9), in
        frames of at most the peer's SETTINGS_MAX_FRAME_SIZE. Returns the bytes sent; the
        stream is ended only if all of ``data`` went out."""
        cdef Py_ssize_t total = len(data), sent = 0, n, window
        cdef long long frame_size = self._peer_max_frame
        cdef int frames = 0
        cdef bint last
        cdef _Stream s
        if not total and not end_stream:
            return 0
        s = self._sendable(stream_id)
        window = min(s.send_window, self._send_conn_window, total)
        if window < 0:
            window = 0
        if window == total and total <= frame_size:
            self._out.append(
                _frame_header(total, T_DATA, F_END_STREAM if end_stream else 0, stream_id)
            )
            if total:
                self._out.append(data)
            sent = total
            frames = 1
        else:
            view = memoryview(data)
            while sent < window:
                n = min(frame_size, window - sent)
                last = end_stream and sent + n == total
                self._out.append(_frame_header(n, T_DATA, F_END_STREAM if last else 0, stream_id))
                self._out.append(view[sent:sent + n])
                sent += n
                frames += 1
        s.send_window -= sent
        self._send_conn_window -= sent
        if end_stream and sent == total:
            self._local_end(s)
        # Every DATA frame sent entitles the client to WINDOW_UPDATEs for it.
        self._window_budget.bonus += 2 * frames
        return sent

    def end_stream(self, int stream_id):
        cdef _Stream s = self._sendable(stream_id)
        self._out.append(_frame_header(0, T_DATA, F_END_STREAM, stream_id))
        self._local_end(s)

    def acknowledge_consumed(self, int stream_id, long long nbytes):
        """The application read ``nbytes`` of this stream's body: WINDOW_UPDATE the stream
        (RFC 9113 §6.9.1), unless the client has finished sending on it."""
        cdef _Stream s = self._streams.get(stream_id)
        cdef long long credit
        if s is None or not s.tracked:
            return
        if nbytes > s.buffered:
            nbytes = s.buffered
        s.buffered -= nbytes
        self._buffered_total -= nbytes
        self._release_held_credit()
        if s.ended or self._send_closed or s.closed:
            return
        credit = nbytes + s.pending_credit
        s.pending_credit = 0
        if s.recv_window + credit > MAX_WINDOW:
            credit = MAX_WINDOW - s.recv_window
        if credit > 0:
            s.recv_window += credit
            self._window_update(stream_id, credit)

    def reset_stream(self, int stream_id, int error_code=NO_ERROR):
        cdef _Stream s = self._streams.get(stream_id)
        if s is None:
            return
        if s.tracked:
            self._untrack(s)
        if not s.closed and not self._send_closed:
            self._rst(stream_id, error_code)
            self._close(s, CLOSED_BY_RESET)

    def close_connection(self, int error_code=NO_ERROR, last_stream_id=None):
        """GOAWAY (RFC 9113 §6.8). With NO_ERROR, streams up to ``last_stream_id`` (default:
        the highest seen) still finish; later ones are refused. Any other code ends the
        connection."""
        if error_code != <int>NO_ERROR:
            self._terminated = True
            if not self._send_closed:
                self._send_closed = self._error_sent = True
                self._goaway(self._highest_stream_id, error_code, EMPTY)
            return
        if self._goaway_sent or self._terminated:
            return  # (after a connection error its GOAWAY was the last frame)
        self._goaway_sent = True
        self._last_stream_id = self._highest_stream_id if last_stream_id is None else last_stream_id
        self._goaway(self._last_stream_id, NO_ERROR, EMPTY)

    @property
    def drain_acked(self):
        """True once the PING of the last ``drain_ping()`` is acknowledged."""
        return self._drain_acked

    def drain_ping(self):
        """Shutdown, before the GOAWAY: a PING whose ACK shows that the client has read all
        that came before it (see the twin, and H2Protocol.shutdown)."""
        if self._terminated or self._send_closed:
            return
        self._drain_pinged = True
        self._drain_acked = False
        self._out.append(_frame_header(8, T_PING, 0, 0))
        self._out.append(DRAIN_PING)
