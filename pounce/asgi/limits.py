"""Request size limits and slow-client rules of HTTP/1.1 (both builds) and HTTP/2 where they
apply, and the 503 app that answers beyond ``--limit-concurrency``. The checks on complete
heads are inline in the parser callbacks (a length comparison each); what is here runs only on
the error path or for a head still arriving.

Limits (``--limit-*``), as gunicorn's, with the status RFC 9110 gives each:
- request target longer than ``--limit-request-line``: 414 (RFC 9110 §15.5.15);
- one header field line (``name: value``) longer than ``--limit-request-field-size``, more
  than ``--limit-request-fields`` fields, or a head over ``--h11-max-incomplete-event-size``:
  431 (RFC 6585 §5);
- a trailer section (after a chunked body) is a field section too (RFC 9112 §7.1.2), held to
  the same field size, field count and total size: 431, never merged into the headers;
- a body over ``--limit-request-body``: 413 (RFC 9110 §15.5.14), before the app runs when
  Content-Length announces it, else when the chunked body crosses the limit (nothing past the
  limit is buffered: the app's ``receive()`` gets ``http.disconnect``).

Timeouts (checked by the server's periodic sweep through ``check_deadline``, never a timer
per request): the whole head must arrive within ``--timeout-request-header`` of its first byte
(RFC 9110 §15.5.9: 408); an announced body that makes no progress for
``--timeout-request-body`` gets 408; a client that reads nothing for ``--timeout-send``
while our writes are paused is closed.
"""

from __future__ import annotations

from typing import Any

from pounce.asgi.response import PLAIN_TEXT

# A request line in progress holds the method, the target so far and perhaps part of the
# version: allow this much around the target before calling it too long, so that a line
# trickled in never gets 414 where the same line in one write would not.
LINE_SLACK = 32

# HTTP/2 refusal of a connection past --limit-connections (RFC 9113 §3.4: the server's
# preface is a SETTINGS frame; §6.8: GOAWAY with last-stream-id 0 tells the client that no
# stream was processed, so every request on it may safely be retried elsewhere).
H2_REFUSE_CONNECTION = (
    b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"  # SETTINGS, empty
    b"\x00\x00\x08\x07\x00\x00\x00\x00\x00"  # GOAWAY, 8 bytes, stream 0
    b"\x00\x00\x00\x00\x00\x00\x00\x00"  # last-stream-id 0, NO_ERROR
)

REQUEST_LINE_TOO_LONG = (414, "Request line too long")
FIELD_TOO_LARGE = (431, "Request header field too large")
TOO_MANY_FIELDS = (431, "Too many request header fields")
HEAD_TOO_LARGE = (431, "Request header fields too large")
BODY_TOO_LARGE = (413, "Request body too large")
HEADER_TIMEOUT = (408, "Request header timeout")
BODY_TIMEOUT = (408, "Request body timeout")
CONNECTION_LIMIT = (503, "Too many connections")


def partial_head_error(
    state: Any, head_size: int, partial_line: int, line_done: bool
) -> tuple[int, str] | None:
    """The error for a request head still arriving, or None while it is within the limits.

    ``head_size``: bytes of the fields the parser has reported; ``partial_line``: bytes of the
    line in progress; ``line_done``: the request line has ended.
    """
    if not line_done:
        if partial_line > state.limit_request_line + LINE_SLACK:
            return REQUEST_LINE_TOO_LONG
    elif partial_line > state.limit_field_size + 1:  # + the CR of "name: value\r"
        return FIELD_TOO_LARGE
    if head_size + partial_line > state.max_head_size:
        return HEAD_TOO_LARGE if line_done else REQUEST_LINE_TOO_LONG
    return None


def trailer_field_error(
    state: Any, field_size: int, section_size: int, count: int
) -> tuple[int, str] | None:
    """The error for one more trailer field (``count`` so far, ``section_size`` bytes in
    all), or None while the trailer section is within the head's limits."""
    if field_size > state.limit_field_size:
        return FIELD_TOO_LARGE
    if count > state.limit_fields:
        return TOO_MANY_FIELDS
    if section_size > state.max_head_size:
        return HEAD_TOO_LARGE
    return None


def trailers_error(state: Any, fields: list[tuple[bytes, bytes]]) -> tuple[int, str] | None:
    """The same for a whole trailer section (HTTP/2 trailers)."""
    section = 0
    for count, (name, value) in enumerate(fields, 1):
        size = len(name) + len(value) + 2
        section += size + 2
        error = trailer_field_error(state, size, section, count)
        if error is not None:
            return error
    return None


def h2_request_error(
    state: Any, path: bytes, headers: list[tuple[bytes, bytes]]
) -> tuple[int, str] | None:
    """The same limits for an HTTP/2 request head (its regular fields; pseudo-header fields
    are bounded by --h2-max-header-list-size with the rest of the decoded list)."""
    if len(path) > state.limit_request_line:
        return REQUEST_LINE_TOO_LONG
    if len(headers) > state.limit_fields:
        return TOO_MANY_FIELDS
    limit = state.limit_field_size
    content_length = b""
    for name, value in headers:
        if len(name) + len(value) + 2 > limit:
            return FIELD_TOO_LARGE
        if name == b"content-length":
            content_length = value
    if state.limit_body and content_length.isdigit() and int(content_length) > state.limit_body:
        return BODY_TOO_LARGE
    return None


def over_connection_limit(state: Any) -> bool:
    """True when a new connection would exceed ``--limit-connections`` (0: no limit)."""
    limit = state.limit_connections
    return bool(limit) and len(state.connections) >= limit


async def service_unavailable(scope: Any, receive: Any, send: Any) -> None:
    """The app that answers in place of the real one beyond --limit-concurrency."""
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", PLAIN_TEXT),
                (b"content-length", b"20"),
                (b"retry-after", b"1"),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b"Service Unavailable\n"})
