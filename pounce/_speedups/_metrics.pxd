# cython: language_level=3
# The C declarations of pounce/metrics.py, compiled a second time as this module
# (pounce/_speedups/_metrics.py links to it). Cython's pure-Python mode, as _cycle.pxd: the .py
# stays the one source of what a worker counts. Compiled, the counters are C slots and
# request_done reads the compiled cycle's slots (scope, status, start_time, bytes_sent) in C:
# the cost of --metrics-bind per response is then one method call and a few dict operations.

cimport cython

from pounce._speedups._cycle cimport RequestResponseCycle

# Module constants as C globals: read without a dictionary lookup per response.
cdef tuple DURATION_BUCKETS
cdef tuple VERSIONS
cdef Py_ssize_t ROW_SIZE
cdef frozenset KNOWN_METHODS


@cython.final
cdef class WorkerMetrics:
    cdef public dict requests
    cdef public list duration_buckets
    cdef public double duration_sum
    cdef public long long bytes_out
    cdef public dict accepted
    cdef public dict own_responses
    cdef public long long websocket_sessions
    cdef public long long h2_resets_received
    cdef public dict h2_connection_errors
    cdef public dict h2_flood_protections

    @cython.locals(
        request=RequestResponseCycle, scope=dict, row=list, version=str, column="Py_ssize_t",
        status="Py_ssize_t", index="Py_ssize_t", duration="double", bucket="Py_ssize_t",
        bound="double"
    )
    cpdef request_done(self, cycle)
    cdef list _row(self, method)
