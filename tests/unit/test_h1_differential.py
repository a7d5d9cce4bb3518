"""The compiled and pure HTTP/1.1 protocols, fed identical bytes, write identical bytes.

Each twin runs over a fake transport on a real event loop, with the date header off so that
the output is deterministic. Requests cover keep-alive, pipelining, bodies, errors and
malformed input; Hypothesis adds random splits and random junk.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pounce.http1 import protocol as h1_module
from tests.conftest import compiled, needs_compiled
from tests.fakes import spin, start_h1

_http1 = compiled("_http1")


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    path = scope["path"]
    body = b""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return
        body += message["body"]
        if not message["more_body"]:
            break
    if path == "/raise":
        raise RuntimeError("boom")
    if path == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x-a", b"1")]})
        for part in (b"ab", b"", b"cd"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    if path == "/bad":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x", b"a\nb")]})
        return
    reply = b"%s %s %d %s" % (
        scope["method"].encode(),
        scope["raw_path"],
        len(body),
        scope["query_string"],
    )
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", str(len(reply)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": reply})


def run(
    protocol_class: type,
    parser: str,
    chunks: list[bytes],
    expire: bool = False,
    **options: Any,
) -> tuple[bytes, bool, bool]:
    """Feed ``chunks``; with ``expire``, then let every deadline pass (as the sweep would)."""

    async def main() -> tuple[bytes, bool, bool]:
        proto, transport = await start_h1(
            protocol_class, parser, app, access_log=False, date_header=False, http="h11", **options
        )
        for chunk in chunks:
            if transport.closed:
                break
            proto.data_received(chunk)
            await spin(5)
        await spin(20)
        if expire and proto.deadline:
            # As the server's sweep: a connection that marks itself idle gets a second look.
            now = proto.deadline + 1000.0
            again = proto.check_deadline(now)
            await spin(20)
            if again:
                proto.check_deadline(now + 0.001)
        return bytes(transport.out), transport.closed, transport.eof

    return asyncio.run(main())


REQUESTS = [
    b"GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n",
    b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n",
    b"GET /stream HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET /stream HTTP/1.0\r\n\r\n",
    b"HEAD /stream HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET /raise HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET /bad HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"GET / HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: h\r\n\r\n\x00junk\r\n\r\n",
    b"GET / HTTP/2.0\r\nHost: h\r\n\r\n",
    b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\nabc",
]


@needs_compiled("_http1")
@pytest.mark.parametrize("parser", ["httptools", "h11"])
@pytest.mark.parametrize("data", REQUESTS)
def test_twins_agree(parser, data):
    pure = run(h1_module.H1ProtocolPy, parser, [data])
    compiled = run(_http1.H1Protocol, parser, [data])
    assert pure == compiled
    assert pure[0].startswith(b"HTTP/1.1 ")


@needs_compiled("_http1")
@settings(max_examples=60, deadline=None)
@given(
    data=st.lists(st.sampled_from(REQUESTS), min_size=1, max_size=3).map(b"".join),
    cuts=st.lists(st.integers(min_value=1, max_value=40), max_size=4),
    parser=st.sampled_from(["httptools", "h11"]),
)
def test_twins_agree_on_any_split(data, cuts, parser):
    chunks, pos = [], 0
    for cut in cuts:
        chunks.append(data[pos : pos + cut])
        pos += cut
    chunks.append(data[pos:])
    chunks = [c for c in chunks if c]
    assert run(h1_module.H1ProtocolPy, parser, chunks) == run(_http1.H1Protocol, parser, chunks)


@needs_compiled("_http1")
@settings(max_examples=60, deadline=None)
@given(junk=st.binary(max_size=80), parser=st.sampled_from(["httptools", "h11"]))
def test_twins_agree_on_junk(junk, parser):
    data = [b"GET / HTTP/1.1\r\nHost: h\r\n\r\n" + junk]
    assert run(h1_module.H1ProtocolPy, parser, data) == run(_http1.H1Protocol, parser, data)


LIMITS = {
    "limit_request_line": 40,
    "limit_request_field_size": 40,
    "limit_request_fields": 4,
    "limit_request_body": 10,
}
# (request, the status both twins answer with, under the LIMITS above)
LIMIT_CASES = [
    (b"GET /" + b"a" * 50 + b" HTTP/1.1\r\nHost: h\r\n\r\n", 414),
    (b"GET /" + b"a" * 100, 414),  # the line never ends
    (b"GET / HTTP/1.1\r\nHost: h\r\nX: " + b"v" * 50 + b"\r\n\r\n", 431),
    (b"GET / HTTP/1.1\r\nHost: h\r\nX: " + b"v" * 100, 431),  # the field never ends
    (b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\n\r\n", 431),
    (b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 1\r\nC: 1\r\n\r\n", 200),
    (b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world", 413),
    (b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789", 200),
    (
        b"POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n",
        413,
    ),
]


@needs_compiled("_http1")
@pytest.mark.parametrize("parser", ["httptools", "h11"])
@pytest.mark.parametrize("bytewise", [False, True], ids=["one-write", "bytewise"])
@pytest.mark.parametrize(("data", "status"), LIMIT_CASES)
def test_twins_agree_on_limits(parser, bytewise, data, status):
    chunks = [data[i : i + 1] for i in range(len(data))] if bytewise else [data]
    pure = run(h1_module.H1ProtocolPy, parser, chunks, **LIMITS)
    compiled = run(_http1.H1Protocol, parser, chunks, **LIMITS)
    assert pure == compiled
    assert pure[0].startswith(b"HTTP/1.1 %d " % status)


# (input that stops short, the status once the sweep finds its deadline passed)
STALLED = [
    (b"GET / HTTP/1.1\r\nHost: h\r\nX-Partial", 408),
    (b"GET / HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\n", 408),  # the next head
    (b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nab", 408),
    (b"POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n", 408),
]


@needs_compiled("_http1")
@pytest.mark.parametrize("parser", ["httptools", "h11"])
@pytest.mark.parametrize(("data", "status"), STALLED)
def test_twins_agree_on_expired_deadlines(parser, data, status):
    pure = run(h1_module.H1ProtocolPy, parser, [data], expire=True)
    compiled = run(_http1.H1Protocol, parser, [data], expire=True)
    assert pure == compiled
    assert b"HTTP/1.1 %d " % status in pure[0]
    assert pure[2]  # the response is followed by the end of the stream


@pytest.mark.parametrize("parser", ["httptools", "h11"])
def test_idle_keep_alive_connection_closes_without_408(parser):
    out, closed, eof = run(
        h1_module.H1ProtocolPy, parser, [b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"], expire=True
    )
    assert out.count(b"HTTP/1.1 ") == 1
    assert closed and not eof


@settings(max_examples=40, deadline=None)
@given(
    data=st.sampled_from([case for case, _ in LIMIT_CASES]),
    cuts=st.lists(st.integers(min_value=1, max_value=30), max_size=6),
    parser=st.sampled_from(["httptools", "h11"]),
)
def test_limits_hold_on_any_split(data, cuts, parser):
    """The same status however the bytes are split (pure twin; the compiled one agrees)."""
    chunks, pos = [], 0
    for cut in cuts:
        chunks.append(data[pos : pos + cut])
        pos += cut
    chunks = [c for c in [*chunks, data[pos:]] if c]
    whole = run(h1_module.H1ProtocolPy, parser, [data], **LIMITS)[0]
    split = run(h1_module.H1ProtocolPy, parser, chunks, **LIMITS)[0]
    assert split[:12] == whole[:12]
