"""The app of the HTTP/2 shutdown tests (tests/integration/test_h2_shutdown.py).

``/slow?t=SECONDS&size=BYTES&tag=NAME`` prints ``app saw NAME`` (so a test knows its stream is
in flight, or that a request never reached the app), waits, then answers ``size`` bytes of
``body(size)``. Lifespan shutdown prints ``lifespan shutdown``.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qs


def body(size: int) -> bytes:
    """The response body: a pattern that shows a lost or repeated chunk."""
    pattern = bytes(range(251))
    return (pattern * (size // len(pattern) + 1))[:size]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                print("lifespan shutdown", flush=True)
                await send({"type": "lifespan.shutdown.complete"})
                return
    query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
    print(f"app saw {query.get('tag', scope['path'])}", flush=True)
    await asyncio.sleep(float(query.get("t", "0")))
    data = body(int(query.get("size", "16")))
    headers = [(b"content-type", b"application/octet-stream")]
    headers.append((b"content-length", str(len(data)).encode()))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": data})
