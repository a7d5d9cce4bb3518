"""Malformed requests, size limits and application errors, under both parsers.

A malformed request gets its status, the connection closes, and the app never sees it (the
test app records every request it serves under ``/events?id=seen``-style keys; the checks here
use a follow-up request on a fresh connection to prove the worker is alive).
"""

from __future__ import annotations

import time

import httpx
import pytest

from tests.support import PounceProcess, RawClient, get

H = b"Host: x\r\n"

MALFORMED = {
    "bad request line": (b"GARBAGE\r\n\r\n", 400),
    "missing version": (b"GET /\r\n" + H + b"\r\n", 400),
    "space in target": (b"GET /a b HTTP/1.1\r\n" + H + b"\r\n", 400),
    "non-ascii target": (b"GET /\xff HTTP/1.1\r\n" + H + b"\r\n", 400),
    "control char in target": (b"GET /a\x01b HTTP/1.1\r\n" + H + b"\r\n", 400),
    "header without colon": (b"GET / HTTP/1.1\r\n" + H + b"NoColon\r\n\r\n", 400),
    "space before colon": (b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400),
    "invalid header name": (b"GET / HTTP/1.1\r\n" + H + b"X(y): 1\r\n\r\n", 400),
    "CL and TE together": (
        b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\n",
        400,
    ),
    "duplicate content-length": (
        b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
        400,
    ),
    "differing content-length": (
        b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nabc",
        400,
    ),
    "invalid content-length": (b"POST / HTTP/1.1\r\n" + H + b"Content-Length: abc\r\n\r\n", 400),
    "negative content-length": (b"POST / HTTP/1.1\r\n" + H + b"Content-Length: -1\r\n\r\n", 400),
    "unknown transfer-encoding": (
        b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip\r\n\r\nabc",
        400,
    ),
    "chunked not last": (
        b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
        400,
    ),
    "bad chunk size": (
        b"POST /echo HTTP/1.1\r\n"
        + H
        + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
        400,
    ),
    "missing host": (b"GET / HTTP/1.1\r\n\r\n", 400),
    "two hosts": (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    "HTTP/2.0 request line": (b"GET / HTTP/2.0\r\n" + H + b"\r\n", 505),
    "HTTP/1.2": (b"GET / HTTP/1.2\r\n" + H + b"\r\n", 505),
    "HTTP/0.9 style line": (b"GET /\r\n\r\n", 400),
    "HTTP/3.0": (b"GET / HTTP/3.0\r\n" + H + b"\r\n", 505),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_request_is_refused_and_closed(h1, parser, case):
    data, status = MALFORMED[case]
    marker = f"{parser}-{case}".replace(" ", "_")
    # Route every malformed request to a tracked URL: the app records it if it ever sees it.
    data = data.replace(b" / HTTP", b" /?track=%s HTTP" % marker.encode(), 1)
    data = data.replace(b" /echo HTTP", b" /echo?track=%s HTTP" % marker.encode(), 1)
    with RawClient(h1.port) as c:
        c.send(data)
        resp = c.read_response()
        assert resp.status == status, resp
        assert resp.header("connection") == "close"
        assert c.is_closed()
    # the worker is alive and well, and the app never saw the request
    assert httpx.get(h1.url + "/", timeout=5).status_code == 200
    tracked = httpx.get(h1.url + "/events?id=tracked", timeout=5).json()
    assert marker not in tracked


@pytest.mark.parametrize("case", ["CL and TE together", "two hosts", "bad chunk size"])
def test_malformed_request_byte_by_byte(h1, case):
    data, status = MALFORMED[case]
    with RawClient(h1.port) as c:
        for i in range(len(data)):
            c.send(data[i : i + 1])
        assert c.read_response().status == status
        assert c.is_closed()


def test_valid_request_then_junk_answers_first_then_400(h1):
    with RawClient(h1.port) as c:
        c.send(get("/") + b"\x00\x01junk\r\n\r\n")
        first = c.read_response()
        assert first.status == 200
        assert first.body == b"Hello, world!"
        second = c.read_response()
        assert second.status == 400
        assert c.is_closed()


def test_oversized_head_gets_431(h1):
    with RawClient(h1.port) as c:
        c.send(b"GET / HTTP/1.1\r\n" + H + b"X-Big: " + b"a" * 20000 + b"\r\n\r\n")
        resp = c.read_response()
        assert resp.status == 431
        assert c.is_closed()


def test_many_headers_over_limit_get_431(h1):
    headers = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 100) for i in range(200))
    with RawClient(h1.port) as c:
        c.send(b"GET / HTTP/1.1\r\n" + H + headers + b"\r\n")
        assert c.read_response().status == 431
        assert c.is_closed()


def test_oversized_head_trickled_gets_431(h1):
    with RawClient(h1.port) as c:
        c.send(b"GET / HTTP/1.1\r\n" + H + b"X-Big: ")
        for _ in range(40):
            try:
                c.send(b"a" * 1000)
            except (BrokenPipeError, ConnectionResetError):
                break
        resp = c.read_response()
        assert resp.status == 431
        assert c.is_closed()


def test_too_long_request_line_gets_414(h1):
    with RawClient(h1.port) as c:
        c.send(b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n" + H + b"\r\n")
        resp = c.read_response()
        assert resp.status == 414
        assert c.is_closed()


def test_head_limit_is_configurable(pounce_server, parser):
    server = pounce_server(
        "testapp:app", "--http", parser, "--h11-max-incomplete-event-size", "1024"
    )
    with RawClient(server.port) as c:
        c.send(b"GET / HTTP/1.1\r\n" + H + b"X-A: " + b"a" * 1100 + b"\r\n\r\n")
        assert c.read_response().status == 431
    with RawClient(server.port) as c:
        c.send(b"GET / HTTP/1.1\r\n" + H + b"X-A: " + b"a" * 500 + b"\r\n\r\n")
        assert c.read_response().status == 200


def test_exception_before_response_gives_500(h1):
    with RawClient(h1.port) as c:
        c.send(get("/raise"))
        resp = c.read_response()
        assert resp.status == 500
        assert resp.body == b"Internal Server Error\n"
        assert c.is_closed()


def test_exception_after_response_started_closes_connection(h1):
    with RawClient(h1.port) as c:
        c.send(get("/raise-after"))
        data = c.read_all()
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK")
        assert b"transfer-encoding: chunked" in head
        assert body == b"7\r\npartial\r\n"  # no terminating chunk: the client sees the abort


def test_exception_after_start_before_body_still_gets_500(h1):
    # The head was never written (it waits for the first body bytes), so a clean 500 is possible.
    with RawClient(h1.port) as c:
        c.send(get("/raise-after-start"))
        resp = c.read_response()
        assert resp.status in (500, 200)
        if resp.status == 200:  # the head was flushed when the app yielded: the body is cut
            assert resp.chunked is False or resp.body == b""
        assert c.is_closed()


def test_app_returning_without_response_gives_500(h1):
    with RawClient(h1.port) as c:
        c.send(get("/no-response"))
        assert c.read_response().status == 500
        assert c.is_closed()


def test_app_returning_with_incomplete_response_closes(h1):
    with RawClient(h1.port) as c:
        c.send(get("/incomplete"))
        data = c.read_all()
        assert data.startswith(b"HTTP/1.1 200 OK")
        assert data.endswith(b"\r\n\r\n4\r\npart\r\n")


@pytest.mark.parametrize("where", ["value", "name", "nul"])
def test_invalid_response_header_gives_500_and_nothing_of_it(h1, where):
    logged = h1.output().count("InvalidHeader")
    with RawClient(h1.port) as c:
        c.send(get(f"/bad-header?where={where}"))
        resp = c.read_response()
        assert resp.status == 500
        assert b"injected" not in resp.raw_head + resp.body
        assert b"evil" not in resp.raw_head + resp.body
        assert b"should not be sent" not in resp.raw_head + resp.body
    wait_logged(h1, "InvalidHeader", logged + 1)


def wait_logged(proc: PounceProcess, text: str, count: int, timeout: float = 5.0) -> None:
    """Wait until ``text`` appears ``count`` times in the server's log."""
    deadline = time.monotonic() + timeout
    while proc.output().count(text) < count:
        assert time.monotonic() < deadline, proc.output()[-2000:]
        time.sleep(0.05)
