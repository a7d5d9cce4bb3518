"""``--interface`` without sockets: auto-detection (uvicorn 0.55's rule plus the WSGI and plain
``def`` ASGI 3 cases), the adapters, and the errors for a bad choice or a missing a2wsgi."""

from __future__ import annotations

import asyncio
import functools
import sys
from typing import Any

import pytest

from pounce.config import Config
from pounce.errors import ConfigError
from pounce.interfaces import ASGI2Adapter, detect_interface, wrap_app


async def asgi3_function(scope: Any, receive: Any, send: Any) -> None:
    pass


class ASGI3Instance:
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        pass


class ASGI2Class:
    def __init__(self, scope: Any) -> None:
        self.scope = scope

    async def __call__(self, receive: Any, send: Any) -> None:
        pass


class AwaitableClass:
    """A class with ``__await__``: uvicorn counts it as ASGI 3."""

    def __init__(self, scope: Any, receive: Any, send: Any) -> None:
        pass

    def __await__(self) -> Any:
        yield


def asgi2_function(scope: Any) -> Any:
    async def instance(receive: Any, send: Any) -> None:
        pass

    return instance


def wsgi_function(environ: Any, start_response: Any) -> list[bytes]:
    return []


class WSGIInstance:
    def __call__(self, environ: Any, start_response: Any) -> list[bytes]:
        return []


def plain_def_asgi3(scope: Any, receive: Any, send: Any) -> Any:
    return asgi3_function(scope, receive, send)


def flexible(*args: Any) -> Any:
    return None


@pytest.mark.parametrize(
    ("app", "expected"),
    [
        (asgi3_function, "asgi3"),
        (ASGI3Instance(), "asgi3"),
        (functools.partial(asgi3_function), "asgi3"),
        (ASGI2Class, "asgi2"),
        (AwaitableClass, "asgi3"),
        (asgi2_function, "asgi2"),
        (wsgi_function, "wsgi"),
        (WSGIInstance(), "wsgi"),
        (plain_def_asgi3, "asgi3"),
        (flexible, "asgi2"),  # no fixed arity: uvicorn's fallback
        (lambda scope, extra=None: None, "asgi2"),  # optional positional: not WSGI's shape
    ],
)
def test_detect_interface(app: Any, expected: str) -> None:
    assert detect_interface(app) == expected


def test_detect_frameworks() -> None:
    from fastapi import FastAPI
    from flask import Flask
    from starlette.applications import Starlette

    assert detect_interface(Starlette()) == "asgi3"
    assert detect_interface(FastAPI()) == "asgi3"
    assert detect_interface(Flask("x")) == "wsgi"


def test_asgi3_app_is_not_wrapped() -> None:
    # Nothing is added per request for an ASGI 3 app: the server calls the app itself.
    assert wrap_app(asgi3_function, "auto") is asgi3_function
    instance = ASGI3Instance()
    assert wrap_app(instance, "asgi3") is instance


def test_named_interface_is_not_second_guessed() -> None:
    assert isinstance(wrap_app(asgi3_function, "asgi2"), ASGI2Adapter)
    from a2wsgi import WSGIMiddleware

    assert isinstance(wrap_app(wsgi_function, "auto"), WSGIMiddleware)
    assert wrap_app(wsgi_function, "asgi3") is wsgi_function


def test_asgi2_adapter_calls_with_scope_then_receive_send() -> None:
    seen: dict[str, Any] = {}

    class App:
        def __init__(self, scope: Any) -> None:
            seen["scope"] = scope

        async def __call__(self, receive: Any, send: Any) -> None:
            seen["message"] = await receive()
            await send({"type": "http.response.start", "status": 204})

    sent: list[Any] = []

    async def receive() -> Any:
        return {"type": "http.request", "body": b"x", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}}
    asyncio.run(ASGI2Adapter(App)(scope, receive, send))
    assert seen["scope"]["asgi"] == {"version": "2.0", "spec_version": "2.3"}
    assert seen["message"]["body"] == b"x"
    assert sent == [{"type": "http.response.start", "status": 204}]


def test_wsgi_adapter_runs_a_wsgi_app() -> None:
    def app(environ: Any, start_response: Any) -> list[bytes]:
        assert environ["wsgi.input_terminated"] is True
        body = environ["wsgi.input"].read()
        start_response("201 Created", [("x-len", str(len(body)))])
        return [b"got ", body]

    messages = [
        {"type": "http.request", "body": b"ab", "more_body": True},
        {"type": "http.request", "body": b"cd", "more_body": False},
    ]
    sent: list[Any] = []

    async def receive() -> Any:
        return messages.pop(0)

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http", "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/", "raw_path": b"/", "query_string": b"", "root_path": "",
        "headers": [(b"transfer-encoding", b"chunked")],
        "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
    }  # fmt: skip
    asyncio.run(wrap_app(app, "wsgi")(scope, receive, send))
    assert sent[0] == {"type": "http.response.start", "status": 201, "headers": [(b"x-len", b"4")]}
    assert b"".join(m.get("body", b"") for m in sent[1:]) == b"got abcd"


def test_bad_interface_names_the_option() -> None:
    with pytest.raises(
        ConfigError, match=r"^--interface: must be one of auto, asgi3, asgi2, wsgi$"
    ):
        Config(app="a:b", interface="asgi4")


@pytest.fixture
def no_a2wsgi(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "a2wsgi", None)  # import a2wsgi raises ImportError


@pytest.mark.usefixtures("no_a2wsgi")
def test_wsgi_without_a2wsgi_names_the_extra() -> None:
    message = "--interface wsgi: a2wsgi is required (pip install pounce[wsgi])"
    with pytest.raises(ConfigError) as info:
        Config(app="a:b", interface="wsgi")
    assert str(info.value) == message
    with pytest.raises(ConfigError, match=r"auto-detected.*pip install pounce\[wsgi\]"):
        wrap_app(wsgi_function, "auto")
    # ASGI apps never need it.
    assert isinstance(wrap_app(ASGI2Class, "auto"), ASGI2Adapter)


@pytest.mark.parametrize("ws", ["auto", "wsproto", "websockets", "websockets-sansio", "none"])
def test_ws_accepts_uvicorns_names(ws: str) -> None:
    assert Config(app="a:b", ws=ws).ws == ws


def test_ws_rejects_unknown_name() -> None:
    with pytest.raises(ConfigError, match=r"^--ws: must be one of "):
        Config(app="a:b", ws="tornado")
