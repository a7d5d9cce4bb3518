"""The app of the --debug error page tests (tests/integration/test_debug_page.py)."""

from typing import Any

from testapp import lifespan

# Markup in the message: the HTML page must show it as text, never run it.
MESSAGE = "<script>alert('pwned')</script> & \"quoted\""


class DebugPageError(Exception):
    pass


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await lifespan(scope, receive, send)
        return
    path = scope["path"]
    if path == "/raise":
        raise DebugPageError(MESSAGE)
    if path == "/raise-after":
        # Part of the response is on the wire before the exception.
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise DebugPageError(MESSAGE)
    body = b"ok"
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
