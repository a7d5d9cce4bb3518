# cython: language_level=3
# The request-head kernel (_h1head.pyx), cimported by the compiled H1Protocol (_http1.pxd).

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE


# Inline (compiled into the module that cimports it): a call per request saved.
cdef inline tuple split_target_fast(bytes target):
    """(raw_path, query_string, path) for the common origin-form target, else None.

    Covers targets of printable ASCII that start with '/' and hold no '%' or '#': the path
    then needs no decoding. Anything else goes through pounce._url, so the results are the
    same as the pure build's.
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


@cython.final
cdef class HeadScanner:
    # The last head scan() accepted.
    cdef public str method
    cdef public str version
    cdef public bytes url
    cdef public list headers
    cdef public Py_ssize_t size  # its size as the limits count it
    cdef public bint forwarded  # an x-forwarded-* field was among its fields
    # The connection's limits (read once: they do not change while the server runs).
    cdef Py_ssize_t limit_head
    cdef Py_ssize_t limit_line
    cdef Py_ssize_t limit_fields
    cdef Py_ssize_t limit_field
    # The protocol's own "1.1" and "1.0": the versions it compares with are then the same
    # objects (a string equality test that is an identity test, not a character compare).
    cdef str http11
    cdef str http10

    cdef Py_ssize_t scan(self, bytes data, Py_ssize_t start) except -1
