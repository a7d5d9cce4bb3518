# cython: language_level=3
# perf_counter's clock read in C, for the compiled one-source modules that time each request
# (http1/_protocol.py's start time, metrics.py's end): their pure builds call
# time.perf_counter, which on Linux reads the same clock (CLOCK_MONOTONIC, Python's
# pytime.c), so a start read by one build and an end read by the other agree. Compiled, a read
# is a vDSO call and two multiplications: no Python call, no float object (about 250
# instructions less per read under callgrind).

from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec


cdef inline double perf_counter() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + ts.tv_nsec * 1e-9
