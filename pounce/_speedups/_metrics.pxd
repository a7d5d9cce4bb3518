# cython: language_level=3
# The C declarations of pounce/metrics.py, compiled a second time as this module
# (pounce/_speedups/_metrics.py links to it). Cython's pure-Python mode, as _cycle.pxd: the .py
# stays the one source of what a worker counts. Compiled, the counters are C slots and
# the compiled cycle calls count as a C method with C numbers (its status, start_time and
# bytes_sent slots): the cost of --metrics-bind per response is one dictionary read (the
# method's row), list increments and a clock read.

cimport cython

from pounce._speedups._clock cimport perf_counter

# Module constants as C globals: read without a dictionary lookup per response.
cdef tuple DURATION_BUCKETS
cdef tuple VERSIONS
cdef Py_ssize_t ROW_SIZE
cdef tuple METHODS
cdef Py_ssize_t OTHER
cdef dict METHOD_ROWS
cdef Py_ssize_t N_BOUNDS


@cython.final
cdef class WorkerMetrics:
    # C arrays: an increment is a C addition, no int object made per response. Their sizes
    # are len(METHODS) * ROW_SIZE and N_BOUNDS + 1 (pounce/metrics.py): __init__ assigns them
    # lists of those lengths, which Cython checks (an IndexError at start if they disagree).
    cdef long long counts[180]
    cdef long long duration_buckets[14]
    cdef public double duration_sum
    cdef public long long bytes_out
    cdef public dict accepted
    cdef public dict own_responses
    cdef public long long websocket_sessions
    cdef public long long h2_resets_received
    cdef public dict h2_connection_errors
    cdef public dict h2_flood_protections

    # Final class, typed caller (the compiled cycle's _finish): a direct C call, no lookup.
    @cython.locals(
        row="Py_ssize_t", column="Py_ssize_t", index="Py_ssize_t", duration="double",
        bucket="Py_ssize_t"
    )
    cpdef count(
        self, str method, str version, Py_ssize_t status, double start_time, Py_ssize_t nbytes
    )
