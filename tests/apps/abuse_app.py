"""The app behind the resource-hygiene test: a hello, a body echo, a WebSocket echo, and
``/gc``, which runs a full garbage collection in the worker and answers what it freed."""

from __future__ import annotations

import gc
import json
from collections import Counter
from typing import Any


def collect() -> bytes:
    """A full collection; JSON of the freed objects' count by type name (cyclic garbage)."""
    gc.set_debug(gc.DEBUG_SAVEALL)  # keep what it frees in gc.garbage, to be counted
    try:
        gc.collect()
        freed = Counter(type(obj).__qualname__ for obj in gc.garbage)
    finally:
        gc.garbage.clear()
        gc.set_debug(0)
    gc.collect()  # saved, they were not freed: this frees them
    return json.dumps(freed).encode()


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            await send({**message, "type": "websocket.send"})
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    path = scope["path"]
    reply = body if path == "/echo" else collect() if path == "/gc" else b"Hello, world!"
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", b"%d" % len(reply))],
        }
    )
    await send({"type": "http.response.body", "body": reply})
