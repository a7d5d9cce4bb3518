"""The ASGI app the HTTP/1.1 integration tests talk to. Routes by path.

What the app observed (disconnects, cancellations, bytes it managed to send) is recorded in
EVENTS under a key the test chooses (``?id=``) and read back through ``/events?id=``.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import os
import socket
import sys
import time
from typing import Any
from urllib.parse import parse_qs

EVENTS: dict[str, list[Any]] = {}
REQUEST_VAR: contextvars.ContextVar[str] = contextvars.ContextVar("request_var", default="unset")


def record(key: str, event: Any) -> None:
    EVENTS.setdefault(key, []).append(event)


async def send_response(
    send: Any, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    hdrs = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": hdrs + (headers or [])})
    await send({"type": "http.response.body", "body": body})


async def read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionError("client went away")
        chunks.append(message["body"])
        if not message.get("more_body", False):
            return b"".join(chunks)


def scope_json(scope: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in scope.items():
        if key == "headers":
            out[key] = [[k.decode("latin-1"), v.decode("latin-1")] for k, v in value]
        elif isinstance(value, bytes):
            out[key] = value.decode("latin-1")
        elif isinstance(value, tuple):
            out[key] = list(value)
        else:
            out[key] = value
    return out


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await lifespan(scope, receive, send)
        return
    path = scope["path"]
    query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
    key = query.get("id", "")
    if "track" in query:  # lets a test prove which requests reached the app
        record("tracked", query["track"])
    handler = ROUTES.get(path)
    if handler is None:
        await send_response(send, 404, b"not found")
        return
    await handler(scope, receive, send, query, key)


async def lifespan(scope: dict[str, Any], receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            scope["state"]["started"] = "yes"
            scope["state"]["pid"] = os.getpid()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def hello(scope, receive, send, query, key):
    await send_response(send, 200, b"Hello, world!")


async def echo(scope, receive, send, query, key):
    body = await read_body(receive)
    await send_response(send, 200, body)


async def dump_scope(scope, receive, send, query, key):
    body = await read_body(receive)
    data = scope_json(scope)
    data["body_length"] = len(body)
    await send_response(send, 200, json.dumps(data).encode(), [(b"x-scope", b"1")])


async def stream(scope, receive, send, query, key):
    n = int(query.get("n", "16"))
    size = int(query.get("size", "10"))
    await send({"type": "http.response.start", "status": 200, "headers": []})
    for i in range(n):
        await send(
            {"type": "http.response.body", "body": bytes([65 + i % 26]) * size, "more_body": True}
        )
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def status(scope, receive, send, query, key):
    code = int(query.get("code", "200"))
    headers = [(b"x-status", str(code).encode())]
    if "cl" in query:
        headers.append((b"content-length", query["cl"].encode()))
    await send({"type": "http.response.start", "status": code, "headers": headers})
    await send({"type": "http.response.body", "body": query.get("body", "").encode()})


async def raise_before(scope, receive, send, query, key):
    raise RuntimeError("boom before start")


async def raise_after(scope, receive, send, query, key):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"partial", "more_body": True})
    raise RuntimeError("boom after start")


async def raise_after_start_only(scope, receive, send, query, key):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    raise RuntimeError("boom after start, before any body")


async def no_response(scope, receive, send, query, key):
    return None


async def incomplete(scope, receive, send, query, key):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"part", "more_body": True})


async def content_length_mismatch(scope, receive, send, query, key):
    declared = int(query["declared"])
    actual = int(query["actual"])
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", str(declared).encode())],
        }
    )
    try:
        await send({"type": "http.response.body", "body": b"x" * actual})
    except RuntimeError as exc:
        record(key, f"error:{exc}")
        raise


async def slow(scope, receive, send, query, key):
    await asyncio.sleep(float(query.get("t", "1")))
    await send_response(send, 200, b"slow done")


async def wait_disconnect(scope, receive, send, query, key):
    """Read the body, then wait in receive() for http.disconnect."""
    await read_body(receive)
    record(key, "waiting")
    message = await receive()
    record(key, message["type"])


async def busy_until_cancelled(scope, receive, send, query, key):
    """A bodyless GET that takes long to produce its response: cancelled on disconnect."""
    record(key, "started")
    try:
        await asyncio.sleep(30)
    except asyncio.CancelledError:
        record(key, "cancelled")
        raise
    await send_response(send, 200, b"late")


async def events(scope, receive, send, query, key):
    await send_response(send, 200, json.dumps(EVENTS.get(key, [])).encode())


async def slow_reader(scope, receive, send, query, key):
    """Wait before reading the body, so that the server must pause reading."""
    await asyncio.sleep(float(query.get("t", "1")))
    body = await read_body(receive)
    await send_response(send, 200, str(len(body)).encode())


async def big_stream(scope, receive, send, query, key):
    """Stream ``n`` chunks of 64 KiB; record how many bytes send() accepted over time."""
    n = int(query.get("n", "256"))
    chunk = b"z" * 65536
    await send({"type": "http.response.start", "status": 200, "headers": []})
    sent = 0
    loop = asyncio.get_running_loop()
    start = loop.time()
    for _ in range(n):
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
        sent += len(chunk)
        if loop.time() - start < float(query.get("mark", "0.5")):
            EVENTS[key] = [sent]
    await send({"type": "http.response.body", "body": b""})


async def body_events(scope, receive, send, query, key):
    """Read the body, recording each message type; answer with the byte count. With
    ``start=1`` the response starts (head and a first part) before the body is read."""
    started = query.get("start") == "1"
    if started:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"started ", "more_body": True})
    total = 0
    while True:
        message = await receive()
        record(key, message["type"])
        if message["type"] == "http.disconnect":
            return
        total += len(message["body"])
        if not message.get("more_body", False):
            break
    if started:
        await send({"type": "http.response.body", "body": str(total).encode()})
    else:
        await send_response(send, 200, str(total).encode())


async def flood(scope, receive, send, query, key):
    """Send ``n`` chunks of 64 KiB to a client that may not read; record how it ended."""
    n = int(query.get("n", "1024"))
    chunk = b"f" * 65536
    await send({"type": "http.response.start", "status": 200, "headers": []})
    try:
        for _ in range(n):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    except asyncio.CancelledError:
        record(key, "cancelled")
        raise
    record(key, "finished")


async def bad_header(scope, receive, send, query, key):
    where = query.get("where", "value")
    name, value = b"x-bad", b"ok"
    if where == "value":
        value = b"evil\r\nset-cookie: injected=1"
    elif where == "name":
        name = b"x-bad\r\ninjected"
    elif where == "nul":
        value = b"a\x00b"
    await send({"type": "http.response.start", "status": 200, "headers": [(name, value)]})
    await send({"type": "http.response.body", "body": b"should not be sent"})


async def state(scope, receive, send, query, key):
    await send_response(send, 200, json.dumps(scope.get("state", {})).encode())


async def set_headers(scope, receive, send, query, key):
    headers = [(k.encode(), v.encode()) for k, v in query.items() if k != "id"]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"ok"})


async def pid(scope, receive, send, query, key):
    await send_response(send, 200, str(os.getpid()).encode())


async def context_var(scope, receive, send, query, key):
    """Report the variable's value as this request found it, then set it."""
    before = REQUEST_VAR.get()
    REQUEST_VAR.set(query.get("set", "x"))
    task = asyncio.current_task()
    await send_response(send, 200, json.dumps([before, task is not None]).encode())


async def sends_in_tasks(scope, receive, send, query, key):
    """send() and receive() results handed to create_task / ensure_future, as some apps do."""
    message = await asyncio.ensure_future(receive())
    start = {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    await asyncio.create_task(send(start))
    await asyncio.ensure_future(send({"type": "http.response.body", "body": b"ok"}))
    record(key, message["type"])


async def task_semantics(scope, receive, send, query, key):
    """asyncio.timeout, an anyio cancel scope and current_task() identity inside a request."""
    import anyio

    results = []
    task = asyncio.current_task()
    try:
        if sys.version_info >= (3, 11):
            async with asyncio.timeout(0.05):
                await asyncio.sleep(5)
        else:  # no asyncio.timeout on 3.10 (ci/test-versions runs it): wait_for
            await asyncio.wait_for(asyncio.sleep(5), 0.05)
    except (TimeoutError, asyncio.TimeoutError):  # one class from 3.11 on
        results.append("timeout")
    with anyio.move_on_after(0.05) as scope_:
        await anyio.sleep(5)
    results.append("moved-on" if scope_.cancel_called else "not-cancelled")
    await asyncio.sleep(0)
    results.append(asyncio.current_task() is task and task is not None)
    results.append(asyncio.current_task().cancelling() if hasattr(task, "cancelling") else 0)
    await send_response(send, 200, json.dumps(results).encode())


async def background_after_response(scope, receive, send, query, key):
    """Answers at once, then keeps working (as a framework's background task would)."""
    await send_response(send, 200, b"answered")
    await asyncio.sleep(float(query.get("t", "0.5")))
    record(key, "background done")


async def block_loop(scope, receive, send, query, key):
    """Block the worker's event loop for ``t`` seconds inside a socket-read callback, as a
    burst of CPU work in a busy worker does: the loop runs its timers (the sweep) next,
    before it polls the sockets again."""
    loop = asyncio.get_running_loop()
    r, w = socket.socketpair()
    done = loop.create_future()

    def block() -> None:
        loop.remove_reader(r.fileno())
        time.sleep(float(query.get("t", "1")))
        done.set_result(None)

    loop.add_reader(r.fileno(), block)
    w.send(b"x")
    try:
        await done
    finally:
        r.close()
        w.close()
    await send_response(send, 200, b"unblocked")


ROUTES = {
    "/task-semantics": task_semantics,
    "/background": background_after_response,
    "/ctx": context_var,
    "/task-send": sends_in_tasks,
    "/": hello,
    "/echo": echo,
    "/scope": dump_scope,
    "/stream": stream,
    "/status": status,
    "/raise": raise_before,
    "/raise-after": raise_after,
    "/raise-after-start": raise_after_start_only,
    "/no-response": no_response,
    "/incomplete": incomplete,
    "/cl-mismatch": content_length_mismatch,
    "/slow": slow,
    "/wait-disconnect": wait_disconnect,
    "/busy": busy_until_cancelled,
    "/events": events,
    "/slow-reader": slow_reader,
    "/big-stream": big_stream,
    "/body-events": body_events,
    "/flood": flood,
    "/bad-header": bad_header,
    "/state": state,
    "/set-headers": set_headers,
    "/pid": pid,
    "/block-loop": block_loop,
}
