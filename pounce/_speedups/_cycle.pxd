# cython: language_level=3
# The C declarations of pounce/asgi/_cycle.py, compiled a second time as this module
# (pounce/_speedups/_cycle.py links to it). Cython's pure-Python mode: this "augmenting" .pxd
# makes the classes cdef classes with C slots and the hot methods C methods; the .py stays the
# one source of the behaviour.

cimport cython

from pounce._speedups._metrics cimport WorkerMetrics

cdef object CancelledError
cdef int INFO
cdef WorkerMetrics _metrics
cdef bint _access_log


cdef class CompiledWriter:
    cpdef write_start(self, cycle, status, headers, trailers)
    cpdef write_body(self, cycle, body, more_body)
    cpdef body_consumed(self, cycle, Py_ssize_t nbytes)
    cpdef response_complete(self, cycle)


cdef dict _disconnect()


@cython.locals(as_dict=dict)
cdef object _get(object message, str key, object default)


cdef class _ReadyAwaitable:
    pass


@cython.final
cdef class _Ready(_ReadyAwaitable):
    cdef object value


cdef _Ready _DONE


@cython.final
cdef class _TakeBody(_ReadyAwaitable):
    cdef RequestResponseCycle cycle


@cython.final
cdef class RequestResponseCycle:
    cdef public object scope
    cdef public object writer
    cdef public object loop
    cdef public object task
    cdef public object status
    cdef public Py_ssize_t bytes_sent
    cdef public double start_time
    cdef public object response_headers
    cdef public bint response_started
    cdef public bint response_complete
    cdef bint _trailers_pending
    cdef bint _body_sent
    cdef list _body
    cdef Py_ssize_t _body_size
    cdef bint _more_body
    cdef bint _body_delivered
    cdef bint _disconnected
    cdef bint _expect_continue
    cdef object _waiter
    cdef CompiledWriter _fast_writer

    cdef _setup(self, scope, writer, loop, bint more_body, bint expect_continue)
    cpdef Py_ssize_t feed_body(self, bytes data)
    cpdef end_body(self)
    cpdef disconnect(self)
    cdef inline void _wake(self)

    @cython.locals(body_parts=list, nbytes=Py_ssize_t, more_body=bint, fast=CompiledWriter)
    cdef dict _take_body(self)

    # metrics typed: its count is a direct C call (--metrics-bind, pounce/metrics.py).
    @cython.locals(fast=CompiledWriter, metrics=WorkerMetrics, scope=dict)
    cdef _finish(self)
