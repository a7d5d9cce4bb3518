"""An app module that runs asyncio.run() at import (a setup step some apps do): it works
only when the server imports the app before its own event loop starts."""

import asyncio


async def _setup() -> bytes:
    await asyncio.sleep(0)
    return b"set up at import"


BODY = asyncio.run(_setup())


async def app(scope, receive, send):
    if scope["type"] == "http":
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", str(len(BODY)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": BODY})
