"""HTTP/2 request header checks (RFC 9113 §8.2, §8.3) in one pass over the decoded fields.

A request that fails them is malformed, which RFC 9113 §8.1.1 makes a *stream* error of type
PROTOCOL_ERROR: the connection and its other streams carry on. (h2's own validation raises a
connection error instead, and walks the headers through a chain of generators; the H2
connection turns it off and calls this.)
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pounce.http2.constants import CONNECTION_HEADERS

Header = tuple[bytes, bytes]

# RFC 9113 §8.2.1: names are lower-case tokens: no 0x00-0x20, A-Z, 0x7f-0xff, and no colon
# except the one that starts a pseudo-header.
_BAD_NAME = re.compile(rb"[^!-9;-@\[-~]")
# RFC 9113 §8.2.1: values hold no NUL, LF or CR, and neither start nor end with SP or HTAB.
_BAD_VALUE = re.compile(rb"[\x00\r\n]|^[ \t]|[ \t]$")
# RFC 9113 §8.3.1, RFC 8441 §4 (:protocol).
_PSEUDO = frozenset((b":method", b":scheme", b":authority", b":path", b":protocol"))


class MalformedHeaders(Exception):
    """The header block breaks RFC 9113 §8.2/§8.3: reset the stream with PROTOCOL_ERROR."""


def _check_field(name: bytes, value: bytes) -> None:
    if not name or _BAD_NAME.search(name):
        raise MalformedHeaders(f"invalid field name {name!r}")
    if value and _BAD_VALUE.search(value):
        raise MalformedHeaders(f"invalid value for {name!r}")
    if name in CONNECTION_HEADERS:  # RFC 9113 §8.2.2; TE only as "trailers"
        raise MalformedHeaders(f"connection-specific field {name!r}")
    if name == b"te" and value != b"trailers":
        raise MalformedHeaders("te other than trailers")


def split_request_headers(
    headers: Iterable[Header],
) -> tuple[dict[bytes, bytes], list[Header]]:
    """Validate a request header block; returns (pseudo-headers, regular fields)."""
    pseudo: dict[bytes, bytes] = {}
    regular: list[Header] = []
    for name, value in headers:
        if name[:1] == b":":
            if regular:
                raise MalformedHeaders("pseudo-header after a regular field")
            if name not in _PSEUDO:
                raise MalformedHeaders(f"unknown pseudo-header {name!r}")
            if name in pseudo:
                raise MalformedHeaders(f"duplicate pseudo-header {name!r}")
            if value and _BAD_VALUE.search(value):
                raise MalformedHeaders(f"invalid value for {name!r}")
            pseudo[name] = value
        else:
            _check_field(name, value)
            regular.append((name, value))
    method = pseudo.get(b":method")
    if not method:
        raise MalformedHeaders("no :method")
    if method == b"CONNECT" and b":protocol" not in pseudo:
        # §8.5: plain CONNECT names only an authority.
        if b":scheme" in pseudo or b":path" in pseudo or not pseudo.get(b":authority"):
            raise MalformedHeaders("malformed CONNECT")
    else:
        if b":protocol" in pseudo and method != b"CONNECT":
            raise MalformedHeaders(":protocol without CONNECT")
        if not pseudo.get(b":scheme") or not pseudo.get(b":path"):
            raise MalformedHeaders("missing :scheme or :path")
    authority = pseudo.get(b":authority")
    if authority is not None:
        for name, value in regular:
            if name == b"host" and value != authority:
                # §8.3.1: Host must not name a different entity than :authority.
                raise MalformedHeaders("host differs from :authority")
    return pseudo, regular


def check_trailers(headers: Iterable[Header]) -> None:
    """Trailers carry no pseudo-headers (RFC 9113 §8.1) and follow the field rules."""
    for name, value in headers:
        if name[:1] == b":":
            raise MalformedHeaders("pseudo-header in trailers")
        _check_field(name, value)
