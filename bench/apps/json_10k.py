"""json: a 10 KiB JSON response.

The document is encoded once at import: the scenario measures a server writing a 10 KiB body,
not the stdlib ``json`` encoder, whose cost would be the same for every server and would only
compress the ratios.
"""

from __future__ import annotations

import json

from ._asgi import Receive, Scope, Send, lifespan

TARGET_SIZE = 10 * 1024


def _document() -> bytes:
    items = []
    body = b""
    i = 0
    while True:
        items.append({"id": i, "name": f"item-{i:05d}", "price": i * 1.25, "tags": ["a", "b"]})
        candidate = json.dumps({"items": items}).encode()
        if len(candidate) > TARGET_SIZE:
            break
        body = candidate
        i += 1
    # Pad with spaces (valid JSON whitespace) to exactly 10 KiB.
    return body + b" " * (TARGET_SIZE - len(body))


BODY = _document()
START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(BODY)).encode()),
    ],
}
BODY_MESSAGE = {"type": "http.response.body", "body": BODY}


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        await send(START)
        await send(BODY_MESSAGE)
    elif scope["type"] == "lifespan":
        await lifespan(receive, send)
