"""Response header fields for HTTP/2: the app's headers validated, lower-cased and filtered.

Rules: field names are lower-case on HTTP/2 (RFC 9113 §8.2.1), connection-specific fields
are not sent (§8.2.2), and names and values follow RFC 9110 §5.1/§5.5 like on HTTP/1.1.
A ``content-length`` must be digits and appear once (RFC 9110 §8.6).

A response repeats the same few names, so each valid name is checked and lower-cased once
and remembered (bounded) with what it means here; values are checked every time.
"""

from __future__ import annotations

from pounce._headers import validate_header_name, validate_header_value
from pounce.asgi.cycle import Headers
from pounce.errors import InvalidHeader
from pounce.http2.constants import CONNECTION_HEADERS

Field = tuple[bytes, bytes]

# What a (valid) response header name is, once lower-cased.
_PLAIN, _SKIP, _DATE, _SERVER, _LENGTH = range(5)
_NAME_CACHE_MAX = 512
_names: dict[bytes, tuple[bytes, int]] = {}


def _classify(name: bytes) -> tuple[bytes, int]:
    validate_header_name(name)  # raises InvalidHeader (also for a non-bytes name)
    lname = name.lower()
    if lname in CONNECTION_HEADERS:
        kind = _SKIP
    elif lname == b"date":
        kind = _DATE
    elif lname == b"server":
        kind = _SERVER
    elif lname == b"content-length":
        kind = _LENGTH
    else:
        kind = _PLAIN
    entry = (lname, kind)
    if type(name) is bytes and len(_names) < _NAME_CACHE_MAX:
        _names[name] = entry
    return entry


def response_fields(
    headers: Headers, defaults: list[Field] | None
) -> tuple[list[Field], bytes | None]:
    """The fields to send and the content-length value (None without one).

    ``defaults`` (the server's date/server/extra headers) are appended, except a date or
    server the app set itself; None for trailers, which get no defaults and no
    content-length check.
    """
    out: list[Field] = []
    content_length: bytes | None = None
    has_date = has_server = False
    names = _names
    for name, value in headers:
        entry = names.get(name) if type(name) is bytes else None
        if entry is None:
            entry = _classify(name)
        validate_header_value(value)
        lname, kind = entry
        if kind:
            if kind == _SKIP:
                continue
            if kind == _LENGTH:
                if defaults is None:  # trailers: no body follows
                    pass
                elif content_length is not None or not value.isdigit():
                    raise InvalidHeader(f"invalid content-length {value!r}")
                content_length = value
            elif kind == _DATE:
                has_date = True
            else:
                has_server = True
        out.append((lname, value))
    if defaults:
        if has_date or has_server:
            for name, value in defaults:
                if (name == b"date" and has_date) or (name == b"server" and has_server):
                    continue
                out.append((name, value))
        else:
            out += defaults
    return out, content_length
