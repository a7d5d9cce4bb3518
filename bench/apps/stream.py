"""stream: 16 body chunks of 1 KiB sent one ``send`` at a time, no content-length, so HTTP/1.1
servers answer with chunked transfer-encoding. Measures the per-``send`` cost of a body."""

from __future__ import annotations

from ._asgi import Receive, Scope, Send, lifespan

CHUNKS = 16
CHUNK = {"type": "http.response.body", "body": b"x" * 1024, "more_body": True}
LAST = {"type": "http.response.body", "body": b"", "more_body": False}
START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"application/octet-stream")],
}


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        await send(START)
        for _ in range(CHUNKS):
            await send(CHUNK)
        await send(LAST)
    elif scope["type"] == "lifespan":
        await lifespan(receive, send)
