# cython: language_level=3
# The runner kernel (_runner.pyx), cimported by the compiled H1Protocol (_http1.pyx).

cimport cython

from pounce._speedups._cycle cimport RequestResponseCycle


@cython.final
cdef class _Runner:
    cdef object loop
    cdef object task
    cdef object wakeup
    cdef object pending
    cdef object tasks
    cdef public RequestResponseCycle cycle
    cdef bint busy
    cdef bint closed

    cpdef bint start(self, RequestResponseCycle cycle, coro)
    cpdef close(self)
