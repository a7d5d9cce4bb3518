"""Constants and helpers of the HTTP/1.1 protocol (both builds of ``http1/_protocol.py``) and
of the WebSocket handshake's refusals: the parser library's errors, body buffering levels,
the fixed lines of a response head, and the complete error responses pounce writes itself.
"""

from __future__ import annotations

from http import HTTPStatus

from pounce._compat import HAS_HTTPTOOLS
from pounce.asgi.response import PLAIN_TEXT
from pounce.errors import BadRequest, ParserUpgrade

if HAS_HTTPTOOLS:
    import httptools

    UPGRADE_ERRORS: tuple[type[BaseException], ...] = (httptools.HttpParserUpgrade, ParserUpgrade)
    PARSE_ERRORS: tuple[type[BaseException], ...] = (httptools.HttpParserError, BadRequest)
else:  # pragma: no cover - exercised by environments without httptools
    httptools = None  # type: ignore[assignment]  # read only when HAS_HTTPTOOLS
    UPGRADE_ERRORS = (ParserUpgrade,)
    PARSE_ERRORS = (BadRequest,)

# Request body buffered per request before reading pauses, and the level it resumes at.
BODY_HIGH_WATER = 64 * 1024
BODY_LOW_WATER = 16 * 1024
# After an error response with input possibly still arriving: how long to keep reading (and
# discarding) before closing, so that the client reads the response instead of a reset.
LINGER_SECONDS = 2.0
# Above this, body parts are handed to writelines() instead of being joined.
JOIN_LIMIT = 16 * 1024

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
LAST_CHUNK = b"0\r\n\r\n"
CHUNKED_LINE = b"transfer-encoding: chunked\r\n"
CLOSE_LINE = b"connection: close\r\n"
KEEP_ALIVE_LINE = b"connection: keep-alive\r\n"


class StopParsing(Exception):
    """Raised from a parser callback to drop the rest of the input (connection closing)."""


def error_response(
    status: int, reason: str, default_headers: bytes, page: tuple[bytes, bytes] | None = None
) -> bytes:
    """A complete error response that closes the connection: the status phrase (and reason) as
    plain text, or ``page``, a (content type, body) pair (--debug's traceback)."""
    phrase = HTTPStatus(status).phrase
    if page is None:
        content_type = PLAIN_TEXT
        body = (f"{phrase}: {reason}\n" if reason and reason != phrase else f"{phrase}\n").encode()
    else:
        content_type, body = page
    extra = b"retry-after: 1\r\n" if status == 503 else b""
    return b"".join(
        (
            b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\n"
            b"content-length: %d\r\n" % (status, phrase.encode(), content_type, len(body)),
            default_headers,
            extra,
            CLOSE_LINE,
            b"\r\n",
            body,
        )
    )
