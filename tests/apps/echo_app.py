"""The app h2spec talks to (tests/integration/test_h2spec.py, README: Conformance): it reads
the whole request body before it answers, then sends it back (``Hello, world!`` when there is
none, so that every response has a body). A client that goes away ends it quietly."""

from __future__ import annotations

from typing import Any


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    reply = body or b"Hello, world!"
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(reply))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": reply})
