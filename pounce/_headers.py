"""Header lookup, validation and HTTP/1.1 head serialization: the pure-Python twin.

The compiled twin is ``pounce/_speedups/_headers.pyx``; the selector at the bottom of this
module makes the plain names mean "best available". Both twins raise the exception classes of
``pounce.errors`` and return identical values for identical input (see
``tests/unit/test_headers_differential.py``).

Headers are ASGI-style sequences of ``(name, value)`` byte pairs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from ._compat import USE_EXTENSIONS, record_selection
from .errors import BadRequest, InvalidHeader
from .header_flags import (
    REQ_CHUNKED,
    REQ_CONNECTION_CLOSE,
    REQ_CONNECTION_KEEP_ALIVE,
    REQ_CONNECTION_UPGRADE,
    REQ_EXPECT_CONTINUE,
    REQ_HAS_UPGRADE,
    RESP_CHUNKED,
    RESP_CONNECTION_CLOSE,
    RESP_HAS_DATE,
    RESP_HAS_SERVER,
)
from .http_syntax import BAD_VALUE_BYTES, TOKEN_CHARS
from .status_lines import STATUS_LINES

Header = tuple[bytes, bytes]

_TCHAR = frozenset(TOKEN_CHARS)  # RFC 9110 §5.6.2
_DIGITS = frozenset(b"0123456789")


def status_line(status: int) -> bytes:
    """``HTTP/1.1 <status> <reason>\\r\\n``; pre-built for 100-599."""
    if type(status) is int and 100 <= status < 600:
        return STATUS_LINES[status - 100]
    if type(status) is not int or not 100 <= status <= 999:
        raise InvalidHeader(f"invalid HTTP status code: {status!r}")
    return b"HTTP/1.1 %d \r\n" % status


def get_header(headers: Sequence[Header], name: bytes) -> bytes | None:
    """The value of the first header called ``name`` (lower-case), or None."""
    for key, value in headers:
        if key == name:
            return value
    return None


def validate_header_name(name: bytes) -> None:
    """Raise InvalidHeader unless ``name`` is a non-empty RFC 9110 token."""
    if type(name) is not bytes:
        raise InvalidHeader(f"header name must be bytes, not {type(name).__name__}")
    if not name or not _TCHAR.issuperset(name):
        raise InvalidHeader(f"invalid header name {name!r}")


def validate_header_value(value: bytes) -> None:
    """Raise InvalidHeader if ``value`` holds CR, LF, NUL or another control byte."""
    if type(value) is not bytes:
        raise InvalidHeader(f"header value must be bytes, not {type(value).__name__}")
    if value.translate(None, BAD_VALUE_BYTES) != value:
        raise InvalidHeader(f"invalid header value {value!r}")


def _parse_content_length(value: bytes) -> int:
    value = value.strip(b" \t")
    if not value or not _DIGITS.issuperset(value) or len(value) > 18:
        raise InvalidHeader(f"invalid content-length {value!r}")
    return int(value)


def build_response_head(status: int, headers: Iterable[Header]) -> tuple[bytes, int, int]:
    """Serialise the status line and the app's headers for HTTP/1.1.

    Returns ``(head, content_length, flags)``: ``head`` has no terminating blank line, so that
    the caller can append the headers it adds (date, server, framing) before it;
    ``content_length`` is -1 when the app set none; ``flags`` are the ``RESP_*`` bits.
    Every name and value is validated: nothing of an invalid header reaches the wire.
    """
    parts = [status_line(status)]
    content_length = -1
    flags = 0
    for name, value in headers:
        validate_header_name(name)
        validate_header_value(value)
        n = len(name)
        if n in (4, 6, 10, 14, 17):
            lname = name.lower()
            if lname == b"content-length":
                if content_length != -1:
                    raise InvalidHeader("duplicate content-length response header")
                content_length = _parse_content_length(value)
            elif lname == b"transfer-encoding":
                if b"chunked" in value.lower():
                    flags |= RESP_CHUNKED
            elif lname == b"connection":
                if b"close" in value.lower():
                    flags |= RESP_CONNECTION_CLOSE
            elif lname == b"date":
                flags |= RESP_HAS_DATE
            elif lname == b"server":
                flags |= RESP_HAS_SERVER
        parts += (name, b": ", value, b"\r\n")
    if content_length != -1 and flags & RESP_CHUNKED:
        # RFC 9112 §6.3: a sender MUST NOT send Content-Length with Transfer-Encoding.
        raise InvalidHeader("response sets both content-length and transfer-encoding")
    return b"".join(parts), content_length, flags


def _has_token(value: bytes, token: bytes) -> bool:
    """True if the comma-separated list ``value`` holds ``token`` (case-insensitive)."""
    return any(item.strip(b" \t") == token for item in value.lower().split(b","))


def analyze_request_headers(headers: Sequence[Header], http11: bool) -> tuple[int, int]:
    """Check an HTTP/1.x request head's framing headers and read its connection options.

    ``headers`` have lower-case names. Returns ``(content_length, flags)`` where
    ``content_length`` is -1 when absent and ``flags`` are the ``REQ_*`` bits. Raises
    BadRequest(400) for what RFC 9112 says a server must refuse: a missing or repeated Host
    (§3.2), Content-Length with Transfer-Encoding, a repeated or malformed Content-Length,
    or a transfer coding other than chunked (§6.1-§6.3).
    """
    hosts = 0
    content_length = -1
    flags = 0
    te_seen = False
    for name, value in headers:
        if type(name) is not bytes or type(value) is not bytes:
            raise TypeError("request headers must be pairs of bytes")
        n = len(name)
        if n == 4:
            if name == b"host":
                hosts += 1
        elif n == 14:
            if name == b"content-length":
                if content_length != -1:
                    raise BadRequest(400, "Duplicate Content-Length")
                v = value.strip(b" \t")
                if not v or not _DIGITS.issuperset(v) or len(v) > 18:
                    raise BadRequest(400, "Invalid Content-Length")
                content_length = int(v)
        elif n == 17:
            if name == b"transfer-encoding":
                if te_seen or value.strip(b" \t").lower() != b"chunked":
                    raise BadRequest(400, "Unsupported Transfer-Encoding")
                te_seen = True
                flags |= REQ_CHUNKED
        elif n == 10:
            if name == b"connection":
                v = value.lower()
                if b"close" in v and _has_token(v, b"close"):
                    flags |= REQ_CONNECTION_CLOSE
                if b"keep-alive" in v and _has_token(v, b"keep-alive"):
                    flags |= REQ_CONNECTION_KEEP_ALIVE
                if b"upgrade" in v and _has_token(v, b"upgrade"):
                    flags |= REQ_CONNECTION_UPGRADE
        elif n == 6:
            if name == b"expect" and value.strip(b" \t").lower() == b"100-continue":
                flags |= REQ_EXPECT_CONTINUE
        elif n == 7:
            if name == b"upgrade":
                flags |= REQ_HAS_UPGRADE
    if hosts > 1 or (http11 and hosts == 0):
        raise BadRequest(400, "Missing Host header" if hosts == 0 else "Duplicate Host header")
    if te_seen:
        if content_length != -1:
            raise BadRequest(400, "Content-Length with Transfer-Encoding")
        if not http11:
            # RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means the framing is faulty.
            raise BadRequest(400, "Transfer-Encoding in an HTTP/1.0 request")
    return content_length, flags


get_header_py = get_header
validate_header_name_py = validate_header_name
validate_header_value_py = validate_header_value
status_line_py = status_line
build_response_head_py = build_response_head
analyze_request_headers_py = analyze_request_headers
IMPLEMENTATION = "pure"

_error: ImportError | None = None
if not TYPE_CHECKING and USE_EXTENSIONS:
    try:
        from ._speedups._headers import (
            analyze_request_headers,
            build_response_head,
            get_header,
            status_line,
            validate_header_name,
            validate_header_value,
        )
    except ImportError as exc:  # recorded: `pounce --version` and the tests report it
        _error = exc
    else:
        IMPLEMENTATION = "compiled"
record_selection("_headers", __name__, _error)

if not TYPE_CHECKING:
    try:
        from ._speedups import _headers as _compiled
    except ImportError:
        _compiled = None
    get_header_c = getattr(_compiled, "get_header", None)
    validate_header_name_c = getattr(_compiled, "validate_header_name", None)
    validate_header_value_c = getattr(_compiled, "validate_header_value", None)
    status_line_c = getattr(_compiled, "status_line", None)
    build_response_head_c = getattr(_compiled, "build_response_head", None)
    analyze_request_headers_c = getattr(_compiled, "analyze_request_headers", None)
