"""The app the gunicorn worker tests run (tests/integration/test_gunicorn.py).

``/pid`` names the worker process that answered, ``/import-pid`` the process that imported
this module (the arbiter with ``--preload``), ``/echo`` returns the request body, ``/slow?t=``
answers after ``t`` seconds without blocking the loop, ``/block?t=`` blocks the event loop,
``/scope`` shows the client, scheme and lifespan state the server passed. A WebSocket is
echoed (text and bytes) until the client closes.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any
from urllib.parse import parse_qs

IMPORT_PID = os.getpid()


async def _reply(send: Any, body: bytes, status: int = 200) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body))],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _lifespan(receive: Any, send: Any, state: dict[str, Any] | None) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            if state is not None:
                state["started_in"] = os.getpid()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _websocket(receive: Any, send: Any) -> None:
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send, scope.get("state"))
        return
    if scope["type"] == "websocket":
        await _websocket(receive, send)
        return
    path = scope["path"]
    query = parse_qs(scope["query_string"].decode())
    if path == "/pid":
        await _reply(send, str(os.getpid()).encode())
    elif path == "/import-pid":
        await _reply(send, str(IMPORT_PID).encode())
    elif path == "/echo":
        await _reply(send, await _read_body(receive))
    elif path == "/slow":
        await asyncio.sleep(float(query.get("t", ["1"])[0]))
        await _reply(send, b"slow done")
    elif path == "/block":
        time.sleep(float(query.get("t", ["30"])[0]))  # blocks the whole worker on purpose
        await _reply(send, b"unblocked")
    elif path == "/scope":
        state = scope.get("state") or {}
        info = {
            "client": list(scope["client"]) if scope.get("client") else None,
            "scheme": scope["scheme"],
            "http_version": scope["http_version"],
            "started_in": state.get("started_in"),
            "pid": os.getpid(),
        }
        await _reply(send, json.dumps(info).encode())
    else:
        await _reply(send, b"hello")
