"""HTTP/1.1 connection handling and the ASGI scope, under both parsers."""

from __future__ import annotations

import json
import shutil
import subprocess
import time

import httpx
import pytest

from tests.support import RawClient, get, request


def test_hello_with_httpx(h1):
    r = httpx.get(h1.url + "/", timeout=5)
    assert r.status_code == 200
    assert r.text == "Hello, world!"
    assert r.headers["content-length"] == "13"
    assert r.headers["server"] == "pounce"
    assert r.headers["date"].endswith(" GMT")
    assert r.http_version == "HTTP/1.1"


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is installed by ci/test")
def test_hello_with_curl(h1):
    out = subprocess.run(
        ["curl", "-s", "-i", "--max-time", "5", h1.url + "/?via=curl"],
        capture_output=True,
        timeout=10,
        check=True,
    ).stdout
    head, _, body = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"content-length: 13" in head
    assert body == b"Hello, world!"


def test_scope(h1):
    raw = (
        b"GET /scope?x=1&y=%20 HTTP/1.1\r\nHost: example.org\r\n"
        b"X-Dup: one\r\nx-dup: two\r\nUser-Agent: raw\r\n\r\n"
    )
    resp = request(h1.port, raw)
    scope = json.loads(resp.body)
    assert scope["type"] == "http"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["http_version"] == "1.1"
    assert scope["method"] == "GET"
    assert scope["scheme"] == "http"
    assert scope["path"] == "/scope"
    assert scope["raw_path"] == "/scope"
    assert scope["query_string"] == "x=1&y=%20"
    assert scope["root_path"] == ""
    assert scope["server"] == ["127.0.0.1", h1.port]
    assert scope["client"][0] == "127.0.0.1"
    assert isinstance(scope["client"][1], int)
    # lower-cased names; order and duplicates kept
    assert scope["headers"] == [
        ["host", "example.org"],
        ["x-dup", "one"],
        ["x-dup", "two"],
        ["user-agent", "raw"],
    ]
    assert scope["state"] == {"started": "yes", "pid": scope["state"]["pid"]}
    assert "extensions" not in scope or isinstance(scope["extensions"], dict)


def test_path_is_percent_decoded_utf8(pounce_server):
    server = pounce_server("scope_app:app", "--no-access-log")
    resp = request(server.port, get("/caf%C3%A9/a%2Fb?q=%C3%A9"))
    scope = json.loads(resp.body)
    assert scope["path"] == "/café/a/b"
    assert scope["raw_path"] == "/caf%C3%A9/a%2Fb"
    assert scope["query_string"] == "q=%C3%A9"


def test_root_path(pounce_server):
    server = pounce_server("scope_app:app", "--root-path", "/api", "--no-access-log")
    scope = json.loads(request(server.port, get("/items?x=1")).body)
    assert scope["root_path"] == "/api"
    assert scope["path"] == "/api/items"
    assert scope["raw_path"] == "/api/items"


def test_lifespan_state_is_a_copy_per_request(pounce_server):
    server = pounce_server("state_app:app", "--no-access-log")
    with RawClient(server.port) as c:
        for expected in (1, 1, 1):
            c.send(get("/"))
            resp = c.read_response()
            assert json.loads(resp.body) == {"counter": expected, "shared": ["startup"]}


def test_keep_alive_serves_many_requests_on_one_connection(h1):
    with RawClient(h1.port) as c:
        for i in range(5):
            c.send(get(f"/?n={i}"))
            resp = c.read_response()
            assert resp.status == 200
            assert resp.body == b"Hello, world!"
            assert resp.header("connection") is None
        assert not c.is_closed(0.2)


def test_pipelined_requests_are_answered_in_order(h1):
    with RawClient(h1.port) as c:
        c.send(
            b"GET /slow?t=0.3 HTTP/1.1\r\nHost: x\r\n\r\n"
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nfirst"
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
            b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3\r\nsec\r\n3\r\nond\r\n0\r\n\r\n"
        )
        bodies = [c.read_response().body for _ in range(4)]
        assert bodies == [b"slow done", b"first", b"Hello, world!", b"second"]
        assert not c.is_closed(0.2)


def test_connection_close_from_client(h1):
    with RawClient(h1.port) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        resp = c.read_response()
        assert resp.status == 200
        assert resp.header("connection") == "close"
        assert c.is_closed()


def test_requests_after_connection_close_are_not_processed(h1):
    with RawClient(h1.port) as c:
        c.send(
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        resp = c.read_response()
        assert resp.body == b"Hello, world!"
        assert c.read_all() == b""


def test_http10_without_keep_alive_closes(h1):
    with RawClient(h1.port) as c:
        c.send(b"GET / HTTP/1.0\r\n\r\n")
        resp = c.read_response()
        assert resp.status == 200
        assert resp.body == b"Hello, world!"
        assert resp.header("connection") == "close"
        assert c.is_closed()


def test_http10_with_keep_alive_stays_open(h1):
    with RawClient(h1.port) as c:
        for _ in range(3):
            c.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            resp = c.read_response()
            assert resp.status == 200
            assert resp.header("connection") == "keep-alive"
        assert not c.is_closed(0.2)


def test_http10_streaming_response_is_close_delimited(h1):
    with RawClient(h1.port) as c:
        c.send(b"GET /stream?n=3&size=4 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        resp = c.read_response()
        assert resp.header("transfer-encoding") is None
        assert resp.header("connection") == "close"
        assert resp.body == b"AAAABBBBCCCC"


def test_head_sends_no_body(h1):
    with RawClient(h1.port) as c:
        c.send(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
        resp = c.read_response(head_request=True)
        assert resp.status == 200
        assert resp.header("content-length") == "13"
        # the next response must start right after the head: no body bytes in between
        c.send(get("/"))
        resp2 = c.read_response()
        assert resp2.body == b"Hello, world!"


def test_head_on_streaming_route_sends_no_chunks(h1):
    with RawClient(h1.port) as c:
        c.send(b"HEAD /stream?n=3 HTTP/1.1\r\nHost: x\r\n\r\n")
        resp = c.read_response(head_request=True)
        assert resp.status == 200
        assert resp.header("transfer-encoding") is None
        c.send(get("/"))
        assert c.read_response().body == b"Hello, world!"


@pytest.mark.parametrize("code", [204, 304])
def test_no_body_statuses(h1, code):
    with RawClient(h1.port) as c:
        c.send(get(f"/status?code={code}&body=ignored"))
        resp = c.read_response()
        assert resp.status == code
        assert resp.header("transfer-encoding") is None
        assert resp.header("content-length") is None
        c.send(get("/"))
        assert c.read_response().body == b"Hello, world!"


def test_304_keeps_the_apps_content_length(h1):
    with RawClient(h1.port) as c:
        c.send(get("/status?code=304&cl=42"))
        resp = c.read_response()
        assert resp.status == 304
        assert resp.header("content-length") == "42"
        c.send(get("/"))
        assert c.read_response().body == b"Hello, world!"


def test_keep_alive_timeout_closes_idle_connection(pounce_server, parser):
    server = pounce_server("testapp:app", "--http", parser, "--timeout-keep-alive", "0.5")
    with RawClient(server.port) as c:
        c.send(get("/"))
        assert c.read_response().status == 200
        start = time.monotonic()
        assert c.is_closed(3.0)
        assert 0.3 < time.monotonic() - start < 2.0


def test_idle_connection_without_request_times_out(pounce_server):
    server = pounce_server("testapp:app", "--timeout-keep-alive", "0.5")
    with RawClient(server.port) as c:
        assert c.is_closed(3.0)


def test_default_headers_can_be_switched_off(pounce_server):
    server = pounce_server("testapp:app", "--no-server-header", "--no-date-header")
    resp = request(server.port, get("/"))
    assert resp.header("server") is None
    assert resp.header("date") is None


def test_extra_headers_from_cli(pounce_server):
    server = pounce_server("testapp:app", "--header", "X-Extra: one", "--header", "server:custom")
    resp = request(server.port, get("/"))
    assert resp.header("x-extra") == "one"
    assert resp.header_all("server") == ["custom"]


def test_app_set_date_and_server_are_not_duplicated(h1):
    resp = request(h1.port, get("/set-headers?server=mine&date=yesterday"))
    assert resp.header_all("server") == ["mine"]
    assert resp.header_all("date") == ["yesterday"]


def test_date_header_is_refreshed(h1):
    first = request(h1.port, get("/")).header("date")
    time.sleep(1.2)
    second = request(h1.port, get("/")).header("date")
    assert first != second


def test_context_vars_do_not_leak_between_requests(h1):
    """Each request runs in its own context, inside a real task (eager or not)."""
    with RawClient(h1.port) as c:
        for i in range(3):
            c.send(get(f"/ctx?set=v{i}"))
            assert json.loads(c.read_response().body) == ["unset", True]


def test_send_and_receive_work_inside_tasks(h1, parser):
    with RawClient(h1.port) as c:
        c.send(get(f"/task-send?id=task-{parser}"))
        assert c.read_response().body == b"ok"
    events = httpx.get(f"{h1.url}/events?id=task-{parser}", timeout=5).json()
    assert events == ["http.request"]


def test_task_semantics_inside_requests(h1):
    """Timeouts, anyio cancel scopes and current_task() behave as in a task of the request's
    own, request after request on one keep-alive connection."""
    with RawClient(h1.port) as c:
        for _ in range(3):
            c.send(get("/task-semantics"))
            assert json.loads(c.read_response().body) == ["timeout", "moved-on", True, 0]


def test_next_request_is_not_held_up_by_background_work(h1, parser):
    key = f"bg-{parser}"
    with RawClient(h1.port) as c:
        c.send(get(f"/background?t=1.0&id={key}"))
        assert c.read_response().body == b"answered"
        start = time.monotonic()
        c.send(get("/"))
        assert c.read_response().body == b"Hello, world!"
        assert time.monotonic() - start < 0.5
    deadline = time.monotonic() + 5
    while httpx.get(f"{h1.url}/events?id={key}", timeout=5).json() != ["background done"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
