"""hello: a 13-byte body with content-length set; the per-request cost of the server itself."""

from __future__ import annotations

from ._asgi import Receive, Scope, Send, lifespan

BODY = b"Hello, world!"
START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/plain"), (b"content-length", b"13")],
}
BODY_MESSAGE = {"type": "http.response.body", "body": BODY}


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        await send(START)
        await send(BODY_MESSAGE)
    elif scope["type"] == "lifespan":
        await lifespan(receive, send)
