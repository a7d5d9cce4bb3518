# cython: language_level=3
"""The request-head kernel of the one-source HTTP/1.1 protocol (compiled build only).

``pounce/http1/_protocol.py`` is the protocol's one source; compiled as ``pounce._speedups._http1``
it cimports this module (``_http1.pxd``) for the two pieces that read bytes through C pointers:
the fast request-head scanner (``HeadScanner``) and the target split for plain origin-form
targets (``split_target_fast``). Neither has a pure-Python twin: the pure build reads every head
with the parser library (llhttp or h11) and splits every target with ``pounce._url``, which give
the same results (tests/unit/test_h1_fast_head.py holds the scanner to llhttp's reading).
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.string cimport memcmp

from pounce.http_syntax import TOKEN_CHARS

# The fast request-head scanner's character classes (RFC 9110 §5.6.2 tokens, from their one
# definition in pounce/http_syntax.py; RFC 3986 characters for the target; visible ASCII, SP
# and HTAB for values). Anything else is llhttp's.
cdef unsigned char TOKEN_CHAR[256]
cdef unsigned char URL_CHAR[256]
cdef unsigned char VALUE_CHAR[256]
cdef unsigned char LOWER_CHAR[256]


cdef void _init_fast_tables():
    cdef int c
    for c in range(256):
        LOWER_CHAR[c] = c + 32 if 65 <= c <= 90 else c
        TOKEN_CHAR[c] = c in TOKEN_CHARS
        URL_CHAR[c] = (48 <= c <= 57) or (65 <= c <= 90) or (97 <= c <= 122) or (
            c in b"-._~!$&'()*+,;=:@/?%"
        )
        VALUE_CHAR[c] = (32 <= c <= 126) or c == 9


_init_fast_tables()


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
cdef class HeadScanner:
    """Reads the plainest request heads without llhttp; one per connection (its limits)."""

    def __init__(self, Py_ssize_t limit_head, Py_ssize_t limit_line, Py_ssize_t limit_fields,
                 Py_ssize_t limit_field, str http11, str http10):
        # (The head's attributes start as None, 0 and False, as every C slot does.)
        self.limit_head, self.limit_line = limit_head, limit_line
        self.limit_fields, self.limit_field = limit_fields, limit_field
        self.http11, self.http10 = http11, http10

    cdef Py_ssize_t scan(self, bytes data, Py_ssize_t start) except -1:
        """Parse one complete, bodyless request head at ``data[start:]`` without llhttp.

        Returns the number of bytes the request took (its parts are then in this object's
        attributes), or 0 when the bytes are anything but the plainest form of a request: then
        llhttp reads them, with all its checks and error answers. Accepted is only what llhttp
        reads the same way (RFC 9112 §3 and §5, strictly: a known method, an origin-form target
        of unreserved/reserved/percent characters, exactly ``HTTP/1.1`` or ``HTTP/1.0``, CRLF
        line ends, token field names directly followed by a colon, visible-ASCII values without
        trailing whitespace). Every header that frames a body or changes the protocol
        (content-length other than 0, transfer-encoding, upgrade) and any head that reaches a
        limit (request line, field size, field count, head size) goes to llhttp, so the limits
        and the smuggling defences stay in one place.
        """
        cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(data)
        cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
        cdef Py_ssize_t i = start, j, name_start, name_len, value_start, value_len, url_start
        cdef Py_ssize_t size, limit = self.limit_head
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
        if size > limit or size > self.limit_line:
            return 0
        url = PyBytes_FromStringAndSize(<const char*>p + url_start, size)
        i += 1
        if memcmp(p + i, b"HTTP/1.", 7) != 0 or p[i + 8] != 13 or p[i + 9] != 10:
            return 0
        c = p[i + 7]
        if c == 49:
            version = self.http11
        elif c == 48:
            version = self.http10
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
                or count > self.limit_fields
                or name_len + value_len + 2 > self.limit_field
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
        self.method, self.version, self.url = method, version, url
        self.headers, self.size, self.forwarded = headers, size, forwarded
        return i - start
