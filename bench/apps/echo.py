"""echo: reads the whole request body (64 KiB from ``bench/lua/post_64k.lua``) and sends it back
with content-length. Measures request-body reading: buffering, ``receive`` calls, flow control."""

from __future__ import annotations

from ._asgi import Receive, Scope, Send, lifespan


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        chunks = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/octet-stream"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
    elif scope["type"] == "lifespan":
        await lifespan(receive, send)
