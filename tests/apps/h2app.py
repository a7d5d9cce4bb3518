"""HTTP/2 test routes, on top of the HTTP/1.1 test app's routes (``testapp.ROUTES``)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

from testapp import EVENTS, ROUTES, read_body, record, send_response
from testapp import app as base_app


async def upload(scope, receive, send, query, key):
    """Read the whole body; answer its length and sha256."""
    body = await read_body(receive)
    digest = hashlib.sha256(body).hexdigest()
    await send_response(send, 200, json.dumps({"size": len(body), "sha256": digest}).encode())


async def download(scope, receive, send, query, key):
    """``size`` bytes of a repeating pattern, in ``chunk``-sized sends."""
    size = int(query.get("size", "1048576"))
    chunk = int(query.get("chunk", "65536"))
    pattern = bytes(range(256)) * (chunk // 256 + 1)
    headers = [(b"content-length", str(size).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    sent = 0
    while sent < size:
        n = min(chunk, size - sent)
        await send({"type": "http.response.body", "body": pattern[:n], "more_body": True})
        sent += n
        if key:
            EVENTS[key] = [sent]
    await send({"type": "http.response.body", "body": b""})
    if key:
        record(key, "done")


async def response_trailers(scope, receive, send, query, key):
    await read_body(receive)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"trailer", b"x-checksum")],
            "trailers": True,
        }
    )
    size = int(query.get("size", "0"))
    await send({"type": "http.response.body", "body": b"part1,", "more_body": True})
    await send({"type": "http.response.body", "body": b"part2" + b"." * size})
    trailers = [] if "empty" in query else [(b"x-checksum", b"abc123")]
    await send({"type": "http.response.trailers", "headers": trailers, "more_trailers": False})


async def request_trailers(scope, receive, send, query, key):
    """Report the body, the headers and the request trailers as the app saw them."""
    body = await read_body(receive)
    trailers = scope["extensions"].get("http.request.trailers", {}).get("headers", [])
    data = {
        "body": body.decode(),
        "headers": [[k.decode(), v.decode()] for k, v in scope["headers"]],
        "trailers": [[k.decode(), v.decode()] for k, v in trailers],
        "extensions": sorted(scope.get("extensions", {})),
    }
    await send_response(send, 200, json.dumps(data).encode())


async def consume_slowly(scope, receive, send, query, key):
    """Wait ``t`` seconds before reading the body, then read it all."""
    record(key, "started")
    await asyncio.sleep(float(query.get("t", "1")))
    body = await read_body(receive)
    record(key, len(body))
    await send_response(send, 200, str(len(body)).encode())


async def wait_receive(scope, receive, send, query, key):
    """Respond later; record what receive() returns while the body never ends."""
    record(key, "started")
    while True:
        message = await receive()
        record(key, message["type"])
        if message["type"] == "http.disconnect":
            return


ROUTES.update(
    {
        "/upload": upload,
        "/download": download,
        "/trailers": response_trailers,
        "/req-trailers": request_trailers,
        "/consume-slowly": consume_slowly,
        "/wait-receive": wait_receive,
    }
)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await base_app(scope, receive, send)
