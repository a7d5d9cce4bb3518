"""Disconnects and backpressure on HTTP/1.1, under both parsers."""

from __future__ import annotations

import json
import socket
import time

import httpx

from tests.support import RawClient, get


def events(server, key: str, want: int, timeout: float = 5.0) -> list:
    deadline = time.monotonic() + timeout
    while True:
        got = httpx.get(f"{server.url}/events?id={key}", timeout=5).json()
        if len(got) >= want or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def test_disconnect_reaches_app_waiting_in_receive(h1, parser):
    key = f"wait-{parser}"
    c = RawClient(h1.port)
    c.send(
        b"POST /wait-disconnect?id=%s HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"
        % key.encode()
    )
    assert events(h1, key, 1) == ["waiting"]
    c.close()
    assert events(h1, key, 2) == ["waiting", "http.disconnect"]


def test_disconnect_cancels_busy_bodyless_get(h1, parser):
    key = f"busy-{parser}"
    c = RawClient(h1.port)
    c.send(get(f"/busy?id={key}"))
    assert events(h1, key, 1) == ["started"]
    c.close()
    assert events(h1, key, 2) == ["started", "cancelled"]


def test_writes_after_disconnect_are_dropped_quietly(pounce_server, parser):
    server = pounce_server("testapp:app", "--http", parser)
    c = RawClient(server.port)
    c.send(get("/slow?t=0.5"))
    time.sleep(0.1)
    c.close()
    time.sleep(0.8)
    # the worker serves on, and nothing was logged as an error for the dropped response
    assert httpx.get(server.url + "/", timeout=5).status_code == 200
    log = server.output()
    assert "Exception" not in log and "ERROR" not in log


def test_reading_pauses_while_app_does_not_read(h1):
    """A client pushing a huge body at an app that is not reading gets stalled by TCP."""
    total = 256 * 1024 * 1024
    sock = socket.create_connection(("127.0.0.1", h1.port), timeout=5)
    try:
        sock.sendall(
            b"POST /slow-reader?t=1.5 HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % total
        )
        sock.setblocking(False)
        chunk = b"x" * 65536
        sent = 0
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            try:
                sent += sock.send(chunk)
            except BlockingIOError:
                time.sleep(0.01)
        # Without backpressure the server would swallow ~1 GB/s into memory. With it, only
        # what fits in the socket buffers and the 64 KiB high-water mark gets through.
        assert sent < 48 * 1024 * 1024, sent
    finally:
        sock.close()


def test_reading_resumes_as_app_reads(h1):
    body = b"y" * (8 * 1024 * 1024)
    r = httpx.post(h1.url + "/slow-reader?t=0.3", content=body, timeout=20)
    assert r.status_code == 200
    assert r.text == str(len(body))


def test_send_waits_while_client_does_not_read(h1, parser):
    key = f"bp-{parser}"
    chunks = 1024  # 64 MiB in total
    c = RawClient(h1.port, timeout=20)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    c.send(get(f"/big-stream?n={chunks}&id={key}&mark=1.0"))
    time.sleep(1.5)
    accepted = httpx.get(f"{h1.url}/events?id={key}", timeout=5).json()
    assert accepted, "the app should have sent something"
    # send() must have blocked: far less than the whole 64 MiB was accepted while unread
    assert accepted[0] < 24 * 1024 * 1024, accepted
    resp = c.read_response()
    assert resp.status == 200
    assert len(resp.body) == chunks * 65536
    c.close()


def test_pipelined_heads_pause_reading_until_answered(h1):
    many = b"".join(get(f"/?i={i}") for i in range(200))
    with RawClient(h1.port, timeout=10) as c:
        c.send(many)
        bodies = [c.read_response().body for _ in range(200)]
        assert bodies == [b"Hello, world!"] * 200


def test_scope_client_survives_many_connections(h1):
    ports = set()
    for _ in range(20):
        with RawClient(h1.port) as c:
            c.send(get("/scope"))
            ports.add(tuple(json.loads(c.read_response().body)["client"]))
    assert len(ports) == 20
