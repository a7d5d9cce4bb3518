"""WebSocket apps for tests/integration/test_ws*.py; the path picks the behaviour."""

from __future__ import annotations

import asyncio
import json
from typing import Any

# Close codes the apps saw, reported to tests through /log (HTTP) on the same server.
DISCONNECTS: list[dict[str, Any]] = []


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                scope["state"]["flavour"] = "pounce"
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "http":
        await http_app(scope, receive, send)
        return
    path = scope["path"]
    message = await receive()
    assert message["type"] == "websocket.connect"
    if path == "/deny":
        await send({"type": "websocket.close", "code": 1000})
        return
    if path == "/custom-deny":
        await send(
            {
                "type": "websocket.http.response.start",
                "status": 401,
                "headers": [(b"content-type", b"text/plain"), (b"x-why", b"token")],
            }
        )
        await send({"type": "websocket.http.response.body", "body": b"no ", "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b"entry"})
        return
    if path == "/no-accept":
        return
    if path == "/deny-no-body":
        # A denial response ended without any body message (the app returns after start).
        headers = [(b"x-why", b"token")]
        await send({"type": "websocket.http.response.start", "status": 401, "headers": headers})
        return
    if path == "/never-accept":
        # Waits for more than websocket.connect before deciding; only a disconnect comes.
        print("never-accept: waiting", flush=True)  # tests wait for this line in the log
        message = await receive()
        DISCONNECTS.append({"path": path, **message})
        return
    if path == "/crash-before-accept":
        raise RuntimeError("boom before accept")
    subprotocol = None
    offered = scope["subprotocols"]
    if "chat.v2" in offered:
        subprotocol = "chat.v2"
    await send(
        {"type": "websocket.accept", "subprotocol": subprotocol, "headers": [(b"x-ws", b"yes")]}
    )
    if path == "/scope":
        info = {
            k: scope[k]
            for k in ("type", "scheme", "http_version", "subprotocols", "path", "query_string")
        }
        info["query_string"] = info["query_string"].decode()
        info["has_method"] = "method" in scope
        info["state"] = scope["state"].get("flavour")
        info["extensions"] = sorted(scope.get("extensions", {}))
        await send({"type": "websocket.send", "text": json.dumps(info)})
        await send({"type": "websocket.close", "code": 1000})
        return
    if path == "/close":
        await send({"type": "websocket.close", "code": 4001, "reason": "bye now"})
        message = await receive()
        DISCONNECTS.append({"path": path, **message})
        return
    if path == "/crash":
        await receive()
        raise RuntimeError("boom after accept")
    if path == "/slow":
        # Does not receive for a while: backpressure must hold the client back.
        await asyncio.sleep(1.0)
    if path == "/size":
        # Answers with the size of each message it gets.
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                DISCONNECTS.append({"path": path, **message})
                return
            data = message.get("bytes")
            size = len(data) if data is not None else len(message["text"].encode())
            await send({"type": "websocket.send", "text": str(size)})
    # echo
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            DISCONNECTS.append({"path": path, **message})
            return
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})


async def http_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["path"] == "/log":
        body = json.dumps(DISCONNECTS).encode()
    else:
        body = b"hello " + scope["path"].encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(body)),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
