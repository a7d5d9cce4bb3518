# cython: language_level=3
"""Compiled twin of ``pounce/_headers.py``: same functions, same results, same exceptions.

Byte classes come from 256-entry tables; the response head is built in two passes (validate
and measure, then copy into one preallocated bytes object) so that no intermediate list or
join is needed.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE
from libc.string cimport memcmp, memcpy

from pounce.errors import BadRequest, InvalidHeader
from pounce.http_syntax import BAD_VALUE_BYTES, TOKEN_CHARS
from pounce.status_lines import STATUS_LINES as _STATUS_LINES

include "header_flags.pxi"

cdef unsigned char TCHAR[256]
cdef unsigned char BAD_VALUE[256]
cdef unsigned char LOWER[256]


cdef void _init_tables():
    # The byte classes of pounce/http_syntax.py (their one definition) as tables.
    cdef int i
    cdef bytes tchars = TOKEN_CHARS
    cdef bytes bad_value = BAD_VALUE_BYTES
    for i in range(256):
        TCHAR[i] = 0
        BAD_VALUE[i] = 0
        LOWER[i] = i + 32 if 65 <= i <= 90 else i
    for i in range(len(tchars)):
        TCHAR[<unsigned char>tchars[i]] = 1
    for i in range(len(bad_value)):
        BAD_VALUE[<unsigned char>bad_value[i]] = 1


_init_tables()


# The one table of pounce/status_lines.py, read once into a C-level name.
cdef tuple STATUS_LINES = _STATUS_LINES


cpdef bytes status_line(object status):
    """``HTTP/1.1 <status> <reason>\\r\\n``; pre-built for 100-599."""
    cdef long code
    if type(status) is int:
        code = status
        if 100 <= code < 600:
            return <bytes>PyTuple_GET_ITEM(STATUS_LINES, code - 100)
        if 600 <= code <= 999:
            return b"HTTP/1.1 %d \r\n" % code
    raise InvalidHeader(f"invalid HTTP status code: {status!r}")


def get_header(headers, bytes name):
    """The value of the first header called ``name`` (lower-case), or None."""
    cdef Py_ssize_t i, n
    cdef object item
    if type(headers) is list:
        n = PyList_GET_SIZE(headers)
        for i in range(n):
            item = <object>PyList_GET_ITEM(headers, i)
            if type(item) is tuple and PyTuple_GET_SIZE(item) == 2:
                if <object>PyTuple_GET_ITEM(item, 0) == name:
                    return <object>PyTuple_GET_ITEM(item, 1)
            else:
                key, value = item
                if key == name:
                    return value
        return None
    for key, value in headers:
        if key == name:
            return value
    return None


cdef inline bint _is_token(bytes name):
    cdef Py_ssize_t i, n = PyBytes_GET_SIZE(name)
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(name)
    if n == 0:
        return False
    for i in range(n):
        if not TCHAR[p[i]]:
            return False
    return True


cdef inline bint _is_field_value(bytes value):
    cdef Py_ssize_t i, n = PyBytes_GET_SIZE(value)
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(value)
    for i in range(n):
        if BAD_VALUE[p[i]]:
            return False
    return True


cpdef validate_header_name(object name):
    """Raise InvalidHeader unless ``name`` is a non-empty RFC 9110 token."""
    if type(name) is not bytes:
        raise InvalidHeader(f"header name must be bytes, not {type(name).__name__}")
    if not _is_token(<bytes>name):
        raise InvalidHeader(f"invalid header name {name!r}")


cpdef validate_header_value(object value):
    """Raise InvalidHeader if ``value`` holds CR, LF, NUL or another control byte."""
    if type(value) is not bytes:
        raise InvalidHeader(f"header value must be bytes, not {type(value).__name__}")
    if not _is_field_value(<bytes>value):
        raise InvalidHeader(f"invalid header value {value!r}")


cdef inline bint _ieq(const unsigned char* p, Py_ssize_t n, const char* lower_literal):
    """Case-insensitive compare of p[:n] with a lower-case literal of the same length."""
    cdef Py_ssize_t i
    for i in range(n):
        if LOWER[p[i]] != <unsigned char>lower_literal[i]:
            return False
    return True


cdef inline bint _icontains(bytes value, const char* needle, Py_ssize_t m):
    """Case-insensitive substring test for a lower-case needle of length m."""
    cdef Py_ssize_t i, j, n = PyBytes_GET_SIZE(value)
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(value)
    for i in range(n - m + 1):
        for j in range(m):
            if LOWER[p[i + j]] != <unsigned char>needle[j]:
                break
        else:
            return True
    return False


cdef long long _digits_value(bytes value, bint* ok):
    """Parse ``*WSP 1*DIGIT *WSP`` (at most 18 digits); sets ok to False when it is not."""
    cdef Py_ssize_t n = PyBytes_GET_SIZE(value)
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(value)
    cdef Py_ssize_t start = 0, end = n, i
    cdef long long result = 0
    while start < end and (p[start] == 32 or p[start] == 9):
        start += 1
    while end > start and (p[end - 1] == 32 or p[end - 1] == 9):
        end -= 1
    if end == start or end - start > 18:
        ok[0] = False
        return 0
    for i in range(start, end):
        if p[i] < 48 or p[i] > 57:
            ok[0] = False
            return 0
        result = result * 10 + (p[i] - 48)
    ok[0] = True
    return result


cdef inline tuple _pair(object item):
    if type(item) is tuple and PyTuple_GET_SIZE(item) == 2:
        return <tuple>item
    name, value = item
    return (name, value)


def build_response_head(object status, object headers):
    """Serialise the status line and the app's headers for HTTP/1.1.

    Returns ``(head, content_length, flags)``; see the pure twin for the contract.
    """
    cdef bytes line = status_line(status)
    cdef list items
    cdef Py_ssize_t i, count, total, pos, n, vlen
    cdef tuple pair
    cdef object name, value
    cdef const unsigned char* p
    cdef long long content_length = -1
    cdef int flags = 0
    cdef bint ok
    cdef bytes out
    cdef char* buf

    if type(headers) is list:
        items = <list>headers
    else:
        items = list(headers)
    count = PyList_GET_SIZE(items)
    pairs = [None] * count
    total = PyBytes_GET_SIZE(line)
    for i in range(count):
        pair = _pair(<object>PyList_GET_ITEM(items, i))
        pairs[i] = pair
        name = <object>PyTuple_GET_ITEM(pair, 0)
        value = <object>PyTuple_GET_ITEM(pair, 1)
        validate_header_name(name)
        validate_header_value(value)
        n = PyBytes_GET_SIZE(name)
        p = <const unsigned char*>PyBytes_AS_STRING(name)
        if n == 14 and _ieq(p, 14, b"content-length"):
            if content_length != -1:
                raise InvalidHeader("duplicate content-length response header")
            content_length = _digits_value(<bytes>value, &ok)
            if not ok:
                raise InvalidHeader(f"invalid content-length {value.strip(b' \t')!r}")
        elif n == 17 and _ieq(p, 17, b"transfer-encoding"):
            if _icontains(<bytes>value, b"chunked", 7):
                flags |= RESP_CHUNKED
        elif n == 10 and _ieq(p, 10, b"connection"):
            if _icontains(<bytes>value, b"close", 5):
                flags |= RESP_CONNECTION_CLOSE
        elif n == 4 and _ieq(p, 4, b"date"):
            flags |= RESP_HAS_DATE
        elif n == 6 and _ieq(p, 6, b"server"):
            flags |= RESP_HAS_SERVER
        total += n + PyBytes_GET_SIZE(<bytes>value) + 4
    if content_length != -1 and flags & RESP_CHUNKED:
        raise InvalidHeader("response sets both content-length and transfer-encoding")

    out = PyBytes_FromStringAndSize(NULL, total)
    buf = PyBytes_AS_STRING(out)
    n = PyBytes_GET_SIZE(line)
    memcpy(buf, PyBytes_AS_STRING(line), n)
    pos = n
    for i in range(count):
        pair = <tuple>PyList_GET_ITEM(pairs, i)
        name = <object>PyTuple_GET_ITEM(pair, 0)
        value = <object>PyTuple_GET_ITEM(pair, 1)
        n = PyBytes_GET_SIZE(name)
        memcpy(buf + pos, PyBytes_AS_STRING(name), n)
        pos += n
        buf[pos] = 58  # ':'
        buf[pos + 1] = 32  # ' '
        pos += 2
        vlen = PyBytes_GET_SIZE(value)
        memcpy(buf + pos, PyBytes_AS_STRING(value), vlen)
        pos += vlen
        buf[pos] = 13
        buf[pos + 1] = 10
        pos += 2
    return out, content_length, flags


cdef bint _has_token(bytes value, const char* token, Py_ssize_t m):
    """True if the comma-separated list ``value`` holds ``token`` (case-insensitive)."""
    cdef Py_ssize_t n = PyBytes_GET_SIZE(value)
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(value)
    cdef Py_ssize_t start = 0, end, a, b
    while start <= n:
        end = start
        while end < n and p[end] != 44:  # ','
            end += 1
        a = start
        b = end
        while a < b and (p[a] == 32 or p[a] == 9):
            a += 1
        while b > a and (p[b - 1] == 32 or p[b - 1] == 9):
            b -= 1
        if b - a == m and _ieq(p + a, m, token):
            return True
        start = end + 1
    return False


cdef bint _strip_ieq(bytes value, const char* literal, Py_ssize_t m):
    """value.strip(' \\t').lower() == literal"""
    cdef Py_ssize_t n = PyBytes_GET_SIZE(value)
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(value)
    cdef Py_ssize_t a = 0, b = n
    while a < b and (p[a] == 32 or p[a] == 9):
        a += 1
    while b > a and (p[b - 1] == 32 or p[b - 1] == 9):
        b -= 1
    return b - a == m and _ieq(p + a, m, literal)


def analyze_request_headers(object headers, bint http11):
    """Check an HTTP/1.x request head's framing headers; see the pure twin for the contract."""
    cdef int hosts = 0
    cdef long long content_length = -1
    cdef int flags = 0
    cdef bint te_seen = False
    cdef bint ok
    cdef Py_ssize_t n
    cdef object name, value
    cdef const char* p
    for item in headers:
        if type(item) is tuple and PyTuple_GET_SIZE(item) == 2:
            name = <object>PyTuple_GET_ITEM(item, 0)
            value = <object>PyTuple_GET_ITEM(item, 1)
        else:
            name, value = item
        if type(name) is not bytes or type(value) is not bytes:
            raise TypeError("request headers must be pairs of bytes")
        n = PyBytes_GET_SIZE(<bytes>name)
        p = PyBytes_AS_STRING(<bytes>name)
        if n == 4:
            if memcmp(p, b"host", 4) == 0:
                hosts += 1
        elif n == 14:
            if memcmp(p, b"content-length", 14) == 0:
                if content_length != -1:
                    raise BadRequest(400, "Duplicate Content-Length")
                content_length = _digits_value(<bytes>value, &ok)
                if not ok:
                    raise BadRequest(400, "Invalid Content-Length")
        elif n == 17:
            if memcmp(p, b"transfer-encoding", 17) == 0:
                if te_seen or not _strip_ieq(<bytes>value, b"chunked", 7):
                    raise BadRequest(400, "Unsupported Transfer-Encoding")
                te_seen = True
                flags |= REQ_CHUNKED
        elif n == 10:
            if memcmp(p, b"connection", 10) == 0:
                if _has_token(<bytes>value, b"close", 5):
                    flags |= REQ_CONNECTION_CLOSE
                if _has_token(<bytes>value, b"keep-alive", 10):
                    flags |= REQ_CONNECTION_KEEP_ALIVE
                if _has_token(<bytes>value, b"upgrade", 7):
                    flags |= REQ_CONNECTION_UPGRADE
        elif n == 6:
            if memcmp(p, b"expect", 6) == 0 and _strip_ieq(<bytes>value, b"100-continue", 12):
                flags |= REQ_EXPECT_CONTINUE
        elif n == 7:
            if memcmp(p, b"upgrade", 7) == 0:
                flags |= REQ_HAS_UPGRADE
    if hosts > 1 or (http11 and hosts == 0):
        raise BadRequest(400, "Missing Host header" if hosts == 0 else "Duplicate Host header")
    if te_seen:
        if content_length != -1:
            raise BadRequest(400, "Content-Length with Transfer-Encoding")
        if not http11:
            raise BadRequest(400, "Transfer-Encoding in an HTTP/1.0 request")
    return content_length, flags
