"""``--interface``: run ASGI 2 and WSGI applications as the ASGI 3 app the server calls.

pounce's protocols only ever call ``app(scope, receive, send)`` (ASGI 3). This module turns the
other two interfaces uvicorn supports into that shape, once, when the app is loaded:

- ``asgi3``: the app itself, unwrapped, so an ASGI 3 app pays nothing per request.
- ``asgi2``: the "double callable" of ASGI 2 (asgiref's spec, "Legacy Applications"): the app
  is called with the scope alone and returns an instance that is awaited with
  ``(receive, send)``; ``scope["asgi"]["version"]`` is ``"2.0"`` for it, as uvicorn sends.
- ``wsgi``: PEP 3333 through a2wsgi's ``WSGIMiddleware`` (the ``pounce[wsgi]`` extra), the
  library uvicorn uses too; it runs the WSGI callable in a thread pool, streams the response
  and answers a WebSocket scope with a close (403 to the handshake) and lifespan with
  "complete". pounce adds ``wsgi.input_terminated`` to the environ (see ``_InputTerminated``).

``auto`` follows uvicorn 0.55 (``Config.load``): a class is ASGI 2 unless it has ``__await__``;
a coroutine function, or an object whose ``__call__`` is one, is ASGI 3; anything
else ASGI 2. On top of that, a synchronous callable that can only be called with exactly two
positional arguments is WSGI (``app(environ, start_response)``), and one that needs exactly
three is ASGI 3 (a plain ``def`` returning an awaitable): uvicorn would call either as ASGI 2,
with one argument, and every request would fail with a ``TypeError``.
"""

from __future__ import annotations

import inspect
import sys
from typing import Any

from pounce.asgi.types import ASGIApp, Receive, Scope, Send

from .errors import ConfigError

# --interface: how the app is called (Config validates the choice).
INTERFACE_CHOICES = ("auto", "asgi3", "asgi2", "wsgi")

__all__ = ["ASGI2Adapter", "detect_interface", "have_a2wsgi", "wrap_app"]

# ASGI spec, "Legacy Applications": an ASGI 2 app sees version "2.0" in its scope.
ASGI2_VERSION = {"version": "2.0", "spec_version": "2.3"}

# As uvicorn: asyncio's test before 3.14 (it also knows objects marked as coroutine functions),
# inspect's from 3.14, where asyncio's is deprecated.
if sys.version_info >= (3, 14):
    from inspect import iscoroutinefunction as _iscoroutinefunction
else:
    from asyncio import iscoroutinefunction as _iscoroutinefunction

A2WSGI_MISSING = "a2wsgi is required (pip install pounce[wsgi])"


class ASGI2Adapter:
    """Calls an ASGI 2 app (``app(scope)`` then ``instance(receive, send)``) as ASGI 3."""

    __slots__ = ("app",)

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        asgi = scope.get("asgi")
        if asgi is not None:
            scope["asgi"] = {**asgi, "version": "2.0"}
        else:
            scope["asgi"] = dict(ASGI2_VERSION)
        instance = self.app(scope)
        await instance(receive, send)


def have_a2wsgi() -> bool:
    try:
        import a2wsgi  # noqa: F401, PLC0415  # optional (a2wsgi): only WSGI apps need it
    except ImportError:
        return False
    return True


def _is_coroutine_function(obj: Any) -> bool:
    return obj is not None and _iscoroutinefunction(obj)


def _required_positional(func: Any) -> int | None:
    """How many positional arguments ``func`` needs and takes, or None when it is flexible
    (``*args``, optional positionals) or has no readable signature (some builtins)."""
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return None
    kinds = inspect.Parameter
    count = 0
    for param in sig.parameters.values():
        required = param.default is kinds.empty
        if param.kind is kinds.VAR_POSITIONAL:
            return None
        if param.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD):
            if not required:
                return None
            count += 1
        elif param.kind is kinds.KEYWORD_ONLY and required:
            return None
    return count


def detect_interface(app: Any) -> str:
    """``asgi3``, ``asgi2`` or ``wsgi`` for ``--interface auto`` (see the module docstring)."""
    if inspect.isclass(app):
        # An ASGI 2 app may be a class: instantiating it with the scope is the first call.
        return "asgi3" if hasattr(app, "__await__") else "asgi2"
    call = getattr(app, "__call__", None)  # noqa: B004 - the bound method is inspected
    if _is_coroutine_function(app) or _is_coroutine_function(call):
        return "asgi3"
    # The signature of the app itself: a function's, or an instance's __call__ without self.
    arity = _required_positional(app)
    if arity == 2:
        return "wsgi"
    if arity == 3:
        return "asgi3"
    return "asgi2"


def wrap_app(app: Any, interface: str) -> ASGIApp:
    """The ASGI 3 callable that runs ``app`` as ``--interface`` says."""
    if interface not in INTERFACE_CHOICES:  # Config validates; run() callers may not have
        raise ConfigError(f"--interface: must be one of {', '.join(INTERFACE_CHOICES)}")
    chosen = detect_interface(app) if interface == "auto" else interface
    if chosen == "asgi3":
        return app
    if chosen == "asgi2":
        return ASGI2Adapter(app)
    try:
        from a2wsgi import WSGIMiddleware  # noqa: PLC0415  # optional (a2wsgi): WSGI apps
    except ImportError as exc:
        detected = " (auto-detected: the app takes environ, start_response)"
        raise ConfigError(
            f"--interface wsgi{detected if interface == 'auto' else ''}: {A2WSGI_MISSING}"
        ) from exc
    # a2wsgi calls receive() in its worker thread and awaits it on the loop: the server's
    # receive() does its work at the await (tests/unit/test_receive_timing.py).
    wsgi = _InputTerminated(app)
    return WSGIMiddleware(wsgi)  # type: ignore[arg-type,return-value]  # a2wsgi's TypedDicts


def is_wsgi_adapter(app: Any) -> bool:
    """True for the adapter ``wrap_app`` made for a WSGI app. WSGI has no WebSocket, so the
    server then answers an upgrade request as plain HTTP, through the app, as uvicorn does
    (its ``ws_protocol_class`` is None for ``--interface wsgi``)."""
    return isinstance(getattr(app, "app", None), _InputTerminated)


class _InputTerminated:
    """Sets ``wsgi.input_terminated`` (as gunicorn and mod_wsgi do), which a2wsgi leaves out.

    a2wsgi's ``wsgi.input`` returns end-of-file where the request body ends, chunked or not,
    so the flag is true; without it Werkzeug (Flask) reads a body that has no content-length
    (``Transfer-Encoding: chunked``, RFC 9112 §7.1, or HTTP/2 without the header) as empty.
    """

    __slots__ = ("app",)

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        environ["wsgi.input_terminated"] = True
        return self.app(environ, start_response)
