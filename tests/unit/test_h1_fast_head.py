"""The compiled protocol's fast request-head scanner reads every head exactly as llhttp does.

The scanner takes only the plainest complete, bodyless heads and hands everything else to
llhttp. These tests feed the same bytes to the compiled protocol with the scanner on and off,
and require the same requests at the app (method, version, target, headers, body) and the
same bytes on the wire. Hypothesis builds heads from a grammar of near-valid requests: odd
methods, targets, versions, line ends, field names, separators and values.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import compiled_module
from tests.fakes import spin, start_h1

_http1 = compiled_module("_http1")


async def echo_scope(scope: dict[str, Any], receive: Any, send: Any) -> None:
    body = b""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return
        body += message["body"]
        if not message["more_body"]:
            break
    seen = (
        scope["client"],
        scope["scheme"],
        scope["method"],
        scope["http_version"],
        scope["path"],
        scope["raw_path"],
        scope["query_string"],
        scope["headers"],
        body,
    )
    reply = repr(seen).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", str(len(reply)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": reply})


def run(data: bytes, fast: bool, **limits: int) -> tuple[bytes, bool]:
    async def main() -> tuple[bytes, bool]:
        # A peer at 127.0.0.1 (tests.fakes.PEER): a trusted proxy by default.
        proto, transport = await start_h1(
            _http1.H1Protocol,
            "httptools",
            echo_scope,
            access_log=False,
            date_header=False,
            http="httptools",
            **limits,
        )
        proto.data_received(data)
        await spin(20)
        return bytes(transport.out), transport.closed

    _http1.set_fast_head(fast)
    try:
        return asyncio.run(main())
    finally:
        _http1.set_fast_head(True)


def same_reading(data: bytes, **limits: int) -> bytes:
    fast = run(data, True, **limits)
    slow = run(data, False, **limits)
    assert fast == slow
    return fast[0]


def test_plain_get_is_read_by_the_scanner_as_by_llhttp() -> None:
    out = same_reading(b"GET /a%20b?q=1 HTTP/1.1\r\nHost: h\r\nX-Y:  v w\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"'/a b'" in out and b"(b'x-y', b'v w')" in out


def test_trusted_proxy_headers_apply_on_the_scanner_path() -> None:
    out = same_reading(
        b"GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 10.0.0.9\r\n"
        b"X-Forwarded-Proto: https\r\n\r\n"
    )
    assert out.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"('10.0.0.9', 0), 'https', 'GET'" in out


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.0\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET /2 HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
        b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 00\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost : h\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h \r\n\r\n",
        b"GET / HTTP/1.1\r\nHost:\r\n\r\n",
        b"GET / HTTP/1.1\nHost: h\n\n",
        b"GET / HTTP/1.1\r\n folded: x\r\n\r\n",
        b"GET /\x7f HTTP/1.1\r\n\r\n",
        b"GET /# HTTP/1.1\r\n\r\n",
        b"GET http://h/ HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.2\r\n\r\n",
        b"GET / HTTP/2.0\r\n\r\n",
        b"get / HTTP/1.1\r\n\r\n",
        b"CONNECT h:443 HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n",
        b"GET / HTTP/1.1\r\nX: \xff\r\n\r\n",
        b"GET  / HTTP/1.1\r\n\r\n",
        b"\r\nGET / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\n\r\n\x00junk",
    ],
)
def test_edge_cases_read_as_llhttp_reads_them(data: bytes) -> None:
    same_reading(data)


LIMITED = b"GET /0123456789abcdef HTTP/1.1\r\nHost: h\r\nX-Long: 0123456789abcdef\r\nA: 1\r\n\r\n"


@pytest.mark.parametrize(
    ("limits", "status"),
    [
        ({"limit_request_line": 16}, b"414"),
        ({"limit_request_field_size": 20}, b"431"),
        ({"limit_request_fields": 2}, b"431"),
        (
            {"limit_request_line": 17, "limit_request_field_size": 26, "limit_request_fields": 3},
            b"200",
        ),
    ],
)
def test_limits_hold_on_the_scanner_path(limits: dict[str, int], status: bytes) -> None:
    out = same_reading(LIMITED, **limits)
    assert out.startswith(b"HTTP/1.1 " + status)


METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "get", "GETX"]
TARGET_CHARS = "abcXYZ09-._~!$&'()*+,;=:@/?%" + ' #"<>{}|\\^`\x00\x7f\x80\t'
VERSIONS = ["HTTP/1.1", "HTTP/1.0", "HTTP/1.2", "HTTP/2.0", "HTTP/0.9", "http/1.1", "HTTP/1.1 "]
EOLS = ["\r\n"] * 8 + ["\n", "\r", "\r\r\n"]
NAMES = [
    "Host",
    "host",
    "User-Agent",
    "Content-Length",
    "Transfer-Encoding",
    "Connection",
    "Upgrade",
    "Expect",
    "X-Forwarded-For",
    "X-Forwarded-Proto",
    "Cookie",
    "X_Under",
    "Bad Name",
    "Bad\x00",
    "",
    "\xe9",
]
SEPARATORS = [":", ": ", ":\t", " :", ":  ", "\t:"]
VALUE_CHARS = "abcXYZ019 ,;=/-\t\"'" + "\x00\x7f\x80\xff\x0b"
SPECIAL_VALUES = [
    *("0", "5", "+0", "00", "0,0", "chunked", "close", "keep-alive", "upgrade", ""),
    *("https", "10.0.0.1", "10.0.0.1, 127.0.0.1"),
]

header = st.tuples(
    st.sampled_from(NAMES),
    st.sampled_from(SEPARATORS),
    st.one_of(st.sampled_from(SPECIAL_VALUES), st.text(VALUE_CHARS, max_size=12)),
    st.sampled_from(EOLS),
)
head = st.tuples(
    st.sampled_from(METHODS),
    st.one_of(st.just("/"), st.text(TARGET_CHARS, max_size=16).map(lambda t: "/" + t)),
    st.sampled_from(VERSIONS),
    st.sampled_from(EOLS),
    st.lists(header, max_size=5),
    st.sampled_from(["\r\n"] * 6 + ["\n", ""]),
    st.sampled_from(["", "GET /next HTTP/1.1\r\nHost: h\r\n\r\n", "abc", "\r\n"]),
)


def render(parts: tuple[Any, ...]) -> bytes:
    method, target, version, eol, headers, end, tail = parts
    text = f"{method} {target} {version}{eol}"
    text += "".join(f"{n}{s}{v}{e}" for n, s, v, e in headers)
    return (text + end + tail).encode("latin-1")


@settings(max_examples=300, deadline=None)
@given(parts=head)
def test_any_head_reads_as_llhttp_reads_it(parts: tuple[Any, ...]) -> None:
    same_reading(render(parts))
