"""Apps of each ``--interface`` for tests/integration/test_interfaces.py.

``flask_app`` and ``wsgi_app`` answer the same routes, so one test runs against both:

- ``/hello``: ``hello``, with a custom response header;
- ``/echo`` (POST): the request body, and the ``x-test`` request header as ``x-echo``;
- ``/stream``: five chunks of 1000 bytes, produced one at a time by a generator;
- ``/teapot``: status 418 with a reason the app chose.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from flask import Flask, Response, request

CHUNK = b"x" * 1000
CHUNKS = 5

flask_app = Flask(__name__)


@flask_app.get("/hello")
def hello() -> Response:
    return Response(b"hello", headers={"x-app": "flask"}, content_type="text/plain")


@flask_app.post("/echo")
def echo() -> Response:
    return Response(
        request.get_data(),
        headers={"x-echo": request.headers.get("x-test", "")},
        content_type="application/octet-stream",
    )


@flask_app.get("/stream")
def stream() -> Response:
    def chunks() -> Iterator[bytes]:
        for _ in range(CHUNKS):
            yield CHUNK

    return Response(chunks(), content_type="application/octet-stream")


@flask_app.get("/teapot")
def teapot() -> Response:
    return Response(b"short and stout", status="418 I'm a teapot")


StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def wsgi_app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """A plain PEP 3333 app, no framework."""
    path = environ["PATH_INFO"]
    if path == "/hello":
        start_response("200 OK", [("content-type", "text/plain"), ("x-app", "wsgi")])
        return [b"hello"]
    if path == "/echo" and environ["REQUEST_METHOD"] == "POST":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else environ["wsgi.input"].read()
        start_response(
            "200 OK",
            [
                ("content-type", "application/octet-stream"),
                ("x-echo", environ.get("HTTP_X_TEST", "")),
            ],
        )
        return [body]
    if path == "/stream":
        start_response("200 OK", [("content-type", "application/octet-stream")])
        return (CHUNK for _ in range(CHUNKS))
    if path == "/teapot":
        start_response("418 I'm a teapot", [("content-type", "text/plain")])
        return [b"short and stout"]
    start_response("404 Not Found", [("content-type", "text/plain")])
    return [b"not found"]


class ASGI2App:
    """An ASGI 2 app: instantiated with the scope, then called with (receive, send)."""

    def __init__(self, scope: dict[str, Any]) -> None:
        self.scope = scope

    async def __call__(self, receive: Any, send: Any) -> None:
        if self.scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        text = f"asgi {self.scope['asgi']['version']} {self.scope['path']} {len(body)}"
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"x-app", b"asgi2")]}
        )
        await send({"type": "http.response.body", "body": text.encode()})


def asgi3_plain_def(scope: dict[str, Any], receive: Any, send: Any) -> Any:
    """ASGI 3 written as a plain ``def`` returning the coroutine (a wrapper, a decorator):
    uvicorn's auto-detection would call it as ASGI 2; pounce sees it needs three arguments."""
    return _asgi3(scope, receive, send)


async def _asgi3(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    text = f"asgi {scope['asgi']['version']} {scope['path']}"
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": text.encode()})
