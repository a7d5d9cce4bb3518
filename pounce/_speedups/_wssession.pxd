# cython: language_level=3
# The C declarations of pounce/websocket/_session.py, compiled a second time as this module
# (pounce/_speedups/_wssession.py links to it). Cython's pure-Python mode, as _cycle.pxd: this
# "augmenting" .pxd makes WebSocketSession a cdef class with C slots and the methods of each
# message's path (feed, the write queue, the waiter) C methods; the .py stays the one source of
# the behaviour.

cimport cython

from pounce._speedups._cycle cimport _ReadyAwaitable

cdef double CLOSE_TIMEOUT
cdef Py_ssize_t FLUSH_BYTES
cdef Py_ssize_t WRITEV_BYTES
cdef int NORMAL
cdef int ABNORMAL
cdef int INTERNAL_ERROR
cdef int SERVICE_RESTART
cdef int CONNECTING
cdef int RESPONDING
cdef int OPEN
cdef int CLOSING
cdef int CLOSED


cdef dict _disconnect(int code, str reason=*)
cdef object _EXHAUSTED


@cython.final
cdef class _Sent(_ReadyAwaitable):
    pass


cdef _Sent _SENT


@cython.final
cdef class WebSocketSession:
    cdef public object state
    cdef public object loop
    cdef public object carrier
    cdef public object scope
    cdef public int status
    cdef public double deadline
    cdef public object task
    cdef public Py_ssize_t max_size
    cdef public Py_ssize_t max_queue
    cdef public double ping_interval
    cdef public double ping_timeout
    cdef public bint deflate
    cdef public object core
    cdef bytearray _pending
    cdef object _queue
    cdef object _waiter
    cdef bint _connect_sent
    cdef object _disconnected
    cdef bint _read_paused
    cdef double _pong_due
    cdef double _next_ping
    cdef double _ping_due_at
    cdef object _response
    cdef list _out
    cdef Py_ssize_t _out_size
    cdef bint _out_parts
    cdef bint _flush_scheduled
    cdef object _blocked
    cdef list _body
    cdef double _started

    @cython.locals(events=list)
    cpdef feed(self, data)
    cdef _enqueue(self, dict message)
    cdef _wake(self)
    cdef _set_disconnected(self, dict message)
    cdef _queue_message(self, bytes data)
    cdef _queue_parts(self, list parts)
    cdef _queued(self)
    cdef _unblock(self)
    cdef _flush(self)
    cdef _write(self, bytes data)
