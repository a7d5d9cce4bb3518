# cython: language_level=3
# The C declarations of pounce/http1/_protocol.py, compiled a second time as this module
# (pounce/_speedups/_http1.py links to it). Cython's pure-Python mode: this "augmenting" .pxd
# makes H1Protocol a cdef class with C slots and its hot methods C methods; the .py stays the
# one source of the behaviour. The cimports below are the kernels only this build has (the
# .py's "if not cython.compiled" block holds the pure build's stand-ins).

cimport cython

from pounce._speedups._cycle cimport CompiledWriter, RequestResponseCycle
from pounce._speedups._fields cimport immutable_fields
from pounce._speedups._clock cimport perf_counter
from pounce._speedups._h1head cimport HeadScanner, split_target_fast
from pounce._speedups._runner cimport _Runner
from pounce._speedups._scope cimport http_connection_scope, http_request_scope

cdef Py_ssize_t _BODY_HIGH_WATER
cdef Py_ssize_t _BODY_LOW_WATER
cdef Py_ssize_t _JOIN_LIMIT
cdef Py_ssize_t _PREFACE_LEN
cdef int REQ_CHUNKED
cdef int REQ_CONNECTION_CLOSE
cdef int REQ_CONNECTION_KEEP_ALIVE
cdef int REQ_CONNECTION_UPGRADE
cdef int REQ_EXPECT_CONTINUE
cdef int REQ_HAS_UPGRADE
cdef int RESP_CHUNKED
cdef int RESP_CONNECTION_CLOSE
cdef str _HTTP11
cdef str _HTTP10
cdef int _IDLE
cdef int _HEAD
cdef int _BODY
cdef int _PAUSE_BODY
cdef int _PAUSE_PIPELINE
cdef bint _FAST_HEAD


# The cpdef methods of CompiledWriter (write_start, write_body, body_consumed,
# response_complete) are not declared again here: Cython refuses a final class whose .py
# overrides methods this .pxd names. Their typed locals are @cython.locals in the .py.
@cython.final
cdef class H1Protocol(CompiledWriter):
    cdef public object state
    cdef public object loop
    cdef public object transport
    cdef public object parser
    cdef public object server
    cdef public object client
    cdef public str scheme
    cdef public bint proxy_trusted
    cdef bint _read_forwarded
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
    cdef Py_ssize_t _trailer_size
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
    cdef list _out
    cdef Py_ssize_t _out_size
    cdef bint _out_scheduled
    cdef long long _expected
    cdef long long _sent
    cdef Py_ssize_t _max_head_size
    cdef bint _llhttp
    cdef long long _upgrade_body_left
    cdef HeadScanner _scanner
    cdef dict _lifespan_state
    cdef bint _timed
    cdef double _keep_alive_timeout
    cdef object _tasks
    cdef _Runner _runner
    cdef object _plain_app
    cdef dict _scope_template
    cdef object _last_status
    cdef list _last_headers
    cdef tuple _last_built
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

    @cython.locals(scanner=HeadScanner, used=Py_ssize_t, size=Py_ssize_t, took=Py_ssize_t)
    cdef bytes _fast_heads(self, bytes data)

    cdef bytes _check_preface(self, bytes data)

    cdef _on_trailer(self, Py_ssize_t size)

    @cython.locals(
        http11=bint,
        headers=list,
        content_length="long long",
        flags=int,
        keep_alive=bint,
        more_body=bint,
        scope=dict,
        cycle=RequestResponseCycle,
    )
    cdef _begin_request(self, str method, str version, bint maybe_forwarded)

    @cython.locals(left="long long")
    cdef _feed_upgrade_body(self, bytes data)

    cdef _check_partial_head(self, bytes data)
    cdef _body_progress(self)
    cdef inline void _arm(self, double at) noexcept

    @cython.locals(cycle=RequestResponseCycle, started=bint, suspended=bint)
    cpdef _run_next(self)

    cdef _pause_reading(self, int reason)
    cdef _resume_reading(self, int reason)

    cdef _write_parts(self, list parts, Py_ssize_t size)
    cdef _drain(self)

    cpdef _bad_request(self, int status, reason)
    cdef _write_error_and_close(self, int status, reason, page=*)
    cdef _linger_close(self)
    cpdef bint is_idle(self)
