"""Constants and helpers shared by the pure and compiled HTTP/1.1 protocols.

Some serve HTTP/2 and WebSocket too, defined here once: ASGI_VERSION, METHODS,
NO_BODY_STATUSES, OUT_BATCH, describe_connection.
"""

from __future__ import annotations

import socket
from http import HTTPStatus
from typing import Any

from .._compat import HAS_HTTPTOOLS
from ..errors import BadRequest, ParserUpgrade

if HAS_HTTPTOOLS:
    import httptools

    UPGRADE_ERRORS: tuple[type[BaseException], ...] = (httptools.HttpParserUpgrade, ParserUpgrade)
    PARSE_ERRORS: tuple[type[BaseException], ...] = (httptools.HttpParserError, BadRequest)
else:  # pragma: no cover - exercised by environments without httptools
    httptools = None  # type: ignore[assignment]  # read only when HAS_HTTPTOOLS
    UPGRADE_ERRORS = (ParserUpgrade,)
    PARSE_ERRORS = (BadRequest,)

# scope["asgi"] of every HTTP/1.1, HTTP/2 and WebSocket scope.
ASGI_VERSION = {"version": "3.0", "spec_version": "2.4"}

# Request body buffered per request before reading pauses, and the level it resumes at.
BODY_HIGH_WATER = 64 * 1024
BODY_LOW_WATER = 16 * 1024
# After an error response with input possibly still arriving: how long to keep reading (and
# discarding) before closing, so that the client reads the response instead of a reset.
LINGER_SECONDS = 2.0
# Above this, body parts are handed to writelines() instead of being joined.
JOIN_LIMIT = 16 * 1024
# Streamed body bytes held back to be written together (one write per loop iteration) at most;
# on HTTP/2, queued DATA bytes past which they are written at once.
OUT_BATCH = 64 * 1024

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
LAST_CHUNK = b"0\r\n\r\n"
CHUNKED_LINE = b"transfer-encoding: chunked\r\n"
CLOSE_LINE = b"connection: close\r\n"
KEEP_ALIVE_LINE = b"connection: keep-alive\r\n"
# RFC 9110 §15.3.5, §15.4.5: responses that carry no content (on both HTTP versions).
NO_BODY_STATUSES = frozenset({204, 304})
# The scope's method str of common methods, without decoding (both HTTP versions).
METHODS = {
    m.encode(): m
    for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE")
}


class StopParsing(Exception):
    """Raised from a parser callback to drop the rest of the input (connection closing)."""


def error_response(status: int, reason: str, default_headers: bytes) -> bytes:
    """A complete plain-text error response that closes the connection."""
    phrase = HTTPStatus(status).phrase
    body = (f"{phrase}: {reason}\n" if reason and reason != phrase else f"{phrase}\n").encode()
    extra = b"retry-after: 1\r\n" if status == 503 else b""
    return b"".join(
        (
            b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: %d\r\n" % (status, phrase.encode(), len(body)),
            default_headers,
            extra,
            CLOSE_LINE,
            b"\r\n",
            body,
        )
    )


async def service_unavailable(scope: Any, receive: Any, send: Any) -> None:
    """The app that answers in place of the real one beyond --limit-concurrency."""
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", b"20"),
                (b"retry-after", b"1"),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b"Service Unavailable\n"})


def socket_address(addr: Any) -> tuple[str, int] | None:
    """(host, port) for an IP socket address; None for a unix socket."""
    if isinstance(addr, tuple) and len(addr) >= 2:
        return (str(addr[0]), int(addr[1]))
    return None


def describe_connection(
    transport: Any, state: Any
) -> tuple[tuple[str, int] | None, tuple[str, int] | None, str, bool]:
    """``(server, client, scheme, proxy_trusted)`` of a new connection, for every protocol.

    ``proxy_trusted``: whether this peer may set the client and scheme through
    X-Forwarded-For/-Proto (or Forwarded). A peer on a UNIX socket has no address: it is
    trusted under ``*``, ``unix:`` or ``unix:PATH`` naming the socket it came in on.
    """
    server = client = None
    sock = transport.get_extra_info("socket")
    if sock is not None:
        server = socket_address(sock.getsockname())
        client = socket_address(transport.get_extra_info("peername"))
    scheme = "https" if transport.get_extra_info("sslcontext") is not None else "http"
    trusted = False
    proxy = state.proxy
    if proxy is not None:
        if client is not None:
            trusted = proxy.is_trusted(client[0])
        elif sock is not None and sock.family == socket.AF_UNIX:
            path = sock.getsockname()
            trusted = proxy.trusts_unix(path if isinstance(path, str) else None)
        else:
            trusted = proxy.always
    return server, client, scheme, trusted
