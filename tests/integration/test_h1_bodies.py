"""Request and response bodies: chunked, Content-Length checks, 100-continue, trailers."""

from __future__ import annotations

import json
import os

import httpx

from tests.support import RawClient, get


def test_chunked_request_body(h1):
    with RawClient(h1.port) as c:
        c.send(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\n\r\n"
        )
        resp = c.read_response()
        assert resp.status == 200
        assert resp.body == b"hello world"


def test_chunked_request_body_byte_by_byte(h1):
    data = (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"
    )
    with RawClient(h1.port) as c:
        for i in range(len(data)):
            c.send(data[i : i + 1])
        assert c.read_response().body == b"abcdefg"


def test_large_body_with_httpx(h1):
    payload = os.urandom(3 * 1024 * 1024 + 7)
    r = httpx.post(h1.url + "/echo", content=payload, timeout=10)
    assert r.status_code == 200
    assert r.content == payload


def test_streamed_upload_with_httpx(h1):
    parts = [os.urandom(10_000) for _ in range(20)]

    def gen():
        yield from parts

    r = httpx.post(h1.url + "/echo", content=gen(), timeout=10)
    assert r.content == b"".join(parts)


def test_response_is_chunked_without_content_length(h1):
    with RawClient(h1.port) as c:
        c.send(get("/stream?n=16&size=3"))
        resp = c.read_response()
        assert resp.chunked
        assert resp.header("transfer-encoding") == "chunked"
        assert resp.header("content-length") is None
        assert resp.body == b"".join(bytes([65 + i]) * 3 for i in range(16))
        # the connection stays usable after the last chunk
        c.send(get("/"))
        assert c.read_response().body == b"Hello, world!"


def test_content_length_longer_than_declared_is_an_app_error(h1):
    key = "cl-long"
    with RawClient(h1.port) as c:
        c.send(get(f"/cl-mismatch?declared=3&actual=10&id={key}"))
        resp = c.read_response()
        assert resp.status == 500  # nothing of the response was on the wire yet
        assert c.is_closed()
    events = httpx.get(f"{h1.url}/events?id={key}", timeout=5).json()
    assert events == ["error:Response content longer than Content-Length"]


def test_content_length_shorter_than_declared_closes(h1):
    with RawClient(h1.port) as c:
        c.send(get("/cl-mismatch?declared=10&actual=3&id=cl-short"))
        head_and_body = c.read_all()
        assert head_and_body.startswith(b"HTTP/1.1 200 OK\r\n")
        assert head_and_body.endswith(b"\r\n\r\nxxx")  # short body, then the server closes


def test_expect_100_continue_is_answered_when_app_reads(h1):
    with RawClient(h1.port) as c:
        c.send(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
        )
        interim = c._read_until(b"\r\n\r\n")
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        c.send(b"body")
        resp = c.read_response()
        assert resp.status == 200
        assert resp.body == b"body"


def test_expect_100_continue_not_sent_when_app_does_not_read(h1):
    with RawClient(h1.port) as c:
        c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        resp = c.read_response()
        assert resp.status == 200
        assert b"100 Continue" not in resp.raw_head
        # the body never arrived, so the connection cannot be reused
        assert resp.header("connection") == "close"
        assert c.is_closed()


def test_expect_100_continue_with_httpx_style_client_sending_body_anyway(h1):
    with RawClient(h1.port) as c:
        c.send(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
            b"Expect: 100-continue\r\n\r\nbody"
        )
        first = c.read_response()
        if first.status == 100:
            first = c.read_response()
        assert first.status == 200
        assert first.body == b"body"


def test_trailers_are_not_merged_into_headers(h1):
    with RawClient(h1.port) as c:
        c.send(
            b"POST /scope HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: x-t\r\n\r\n"
            b"3\r\nabc\r\n0\r\nX-T: trailer-value\r\n\r\n"
        )
        scope = json.loads(c.read_response().body)
        names = [name for name, _ in scope["headers"]]
        assert "x-t" not in names
        assert scope["body_length"] == 3
        c.send(get("/"))
        assert c.read_response().body == b"Hello, world!"


def test_body_split_across_many_writes(h1):
    body = b"0123456789" * 1000
    with RawClient(h1.port) as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body))
        for i in range(0, len(body), 777):
            c.send(body[i : i + 777])
        assert c.read_response().body == body


def test_zero_length_body(h1):
    with RawClient(h1.port) as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        resp = c.read_response()
        assert resp.status == 200
        assert resp.body == b""


def test_body_of_upgrade_request_answered_as_http(h1):
    """llhttp stops at the head of an Upgrade request; its body must still reach the app."""
    with RawClient(h1.port) as c:
        c.send(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
            b"Connection: Upgrade\r\nUpgrade: example/1\r\n\r\nhel"
        )
        c.send(b"lo")
        resp = c.read_response()
        assert resp.status == 200
        assert resp.body == b"hello"
        assert resp.header("connection") == "close"


def test_chunked_upgrade_request_is_refused(h1):
    with RawClient(h1.port) as c:
        c.send(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"Connection: Upgrade\r\nUpgrade: example/1\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        )
        assert c.read_response().status == 400
        assert c.is_closed()
