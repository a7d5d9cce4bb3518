"""Apps for the Server API tests (tests/integration/test_server_api.py)."""

import asyncio
import contextvars
import os

# Set in the main context before any loop exists: a request task started from that context
# sees it, one started in a fresh context (--reset-contextvars) does not.
REQUEST_VAR: contextvars.ContextVar[str] = contextvars.ContextVar("request_var")
REQUEST_VAR.set("inherited")


class MarkedLoop(asyncio.SelectorEventLoop):
    """A loop the app can recognise: made by ``loop_factory`` or by ``MarkedPolicy``."""


def loop_factory() -> asyncio.AbstractEventLoop:
    return MarkedLoop()


def not_a_loop_factory() -> object:
    return object()


class MarkedPolicy(asyncio.DefaultEventLoopPolicy):
    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        return MarkedLoop()


if os.environ.get("SERVER_API_SET_POLICY"):
    # What --loop none must respect: the event loop policy the app chose at import.
    asyncio.set_event_loop_policy(MarkedPolicy())


async def _answer(send, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def loop_app(scope, receive, send):
    """Answers with the class name of the running event loop."""
    if scope["type"] == "http":
        await _answer(send, type(asyncio.get_running_loop()).__name__.encode())


async def context_app(scope, receive, send):
    """Answers (HTTP, or one WebSocket text message) with REQUEST_VAR as the task sees it."""
    if scope["type"] == "http":
        await _answer(send, REQUEST_VAR.get("unset").encode())
    elif scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": REQUEST_VAR.get("unset")})
        await send({"type": "websocket.close", "code": 1000})


async def slow_app(scope, receive, send):
    """Lifespan marks in SHUTDOWN_MARKER; ``/slow`` takes 30 s, anything else answers ok."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                marker = os.environ.get("SHUTDOWN_MARKER")
                if marker:
                    with open(marker, "w") as f:
                        f.write("shutdown ran")
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["path"] == "/slow":
        await asyncio.sleep(30)
    await _answer(send, b"ok")
