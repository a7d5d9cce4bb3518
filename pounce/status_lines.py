"""The HTTP/1.1 status lines, defined once for both twins of ``status_line``.

``pounce/_headers.py`` indexes ``STATUS_LINES`` in Python; ``pounce/_speedups/_headers.pyx``
reads the same tuple once, at import, and indexes it without a Python lookup.
"""

from __future__ import annotations

from http import HTTPStatus


def _reason(status: int) -> bytes:
    """The registered reason phrase, or b"" for a code without one (RFC 9112 §4: a client
    ignores the reason-phrase, so an empty one is valid)."""
    try:
        return HTTPStatus(status).phrase.encode("latin-1")
    except ValueError:
        return b""


# RFC 9112 §4: status-line = HTTP-version SP status-code SP [ reason-phrase ] CRLF.
# STATUS_LINES[code - 100] is the line for each code from 100 to 599.
STATUS_LINES: tuple[bytes, ...] = tuple(
    b"HTTP/1.1 %d %s\r\n" % (code, _reason(code)) for code in range(100, 600)
)
