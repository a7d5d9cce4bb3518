"""Lifespan puts a value in state; each request mutates its own shallow copy of it."""

import json


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                scope["state"]["counter"] = 0
                scope["state"]["shared"] = ["startup"]
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    state = scope["state"]
    state["counter"] += 1  # must not leak into the next request's copy
    body = json.dumps(state).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
