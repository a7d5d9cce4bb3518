"""Request size limits and the per-worker connection limit over real sockets, each sent in
one write and one byte at a time, under both parsers (and, by the suite's two runs, both
twins)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest

from tests.support import PounceProcess, RawClient, get, request

pytestmark = pytest.mark.timeout(30)

H = b"Host: test\r\n"
LINE = 100
FIELD = 100
FIELDS = 5
BODY = 100
# The server options both protocols' limit tests run with (test_h2_limits.py uses them too).
LIMIT_OPTIONS = (
    *("--limit-request-line", str(LINE), "--limit-request-field-size", str(FIELD)),
    *("--limit-request-fields", str(FIELDS), "--limit-request-body", str(BODY)),
)


@pytest.fixture(scope="module")
def limited(parser: str) -> Iterator[PounceProcess]:
    proc = PounceProcess(
        "testapp:app",
        "--http",
        parser,
        "--no-access-log",
        *LIMIT_OPTIONS,
    )
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.stop()


@pytest.fixture(params=["one-write", "bytewise"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def send(c: RawClient, data: bytes, mode: str) -> None:
    """Send ``data`` whole, or one byte per segment; stop if the server has hung up."""
    if mode == "one-write":
        c.send(data)
        return
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for i in range(len(data)):
        try:
            c.send(data[i : i + 1])
        except (BrokenPipeError, ConnectionResetError):
            return
        time.sleep(0.0005)


def answer(port: int, data: bytes, mode: str) -> tuple[int, bool]:
    """(status, closed) of the server's answer to ``data``."""
    with RawClient(port) as c:
        send(c, data, mode)
        resp = c.read_response()
        closed = resp.header("connection") == "close" and c.is_closed()
        return resp.status, closed


def tracked(port: int) -> list[str]:
    return json.loads(request(port, get("/events?id=tracked")).body)


def test_request_line_over_limit_gets_414(limited, mode):
    target = b"/" + b"a" * LINE
    assert answer(limited.port, b"GET %s HTTP/1.1\r\n%s\r\n" % (target, H), mode) == (414, True)


def test_request_line_at_limit_is_served(limited, mode):
    target = b"/?" + b"a" * (LINE - 2)
    with RawClient(limited.port) as c:
        send(c, b"GET %s HTTP/1.1\r\n%s\r\n" % (target, H), mode)
        assert c.read_response().status == 200


def test_endless_request_line_gets_414(limited, mode):
    # No end of line ever comes: the line in progress is bounded too.
    assert answer(limited.port, b"GET /" + b"a" * (LINE * 3), mode) == (414, True)


def test_header_field_over_limit_gets_431(limited, mode):
    field = b"X-Big: " + b"v" * FIELD + b"\r\n"
    assert answer(limited.port, b"GET / HTTP/1.1\r\n" + H + field + b"\r\n", mode) == (431, True)


def test_endless_header_field_gets_431(limited, mode):
    data = b"GET / HTTP/1.1\r\n" + H + b"X-Big: " + b"v" * (FIELD * 3)
    assert answer(limited.port, data, mode) == (431, True)


def test_too_many_header_fields_get_431(limited, mode):
    fields = b"".join(b"X-%d: v\r\n" % i for i in range(FIELDS))  # + Host: one too many
    assert answer(limited.port, b"GET / HTTP/1.1\r\n" + H + fields + b"\r\n", mode) == (
        431,
        True,
    )


def test_fields_at_limit_are_served(limited, mode):
    fields = b"".join(b"X-%d: v\r\n" % i for i in range(FIELDS - 1))
    with RawClient(limited.port) as c:
        send(c, b"GET / HTTP/1.1\r\n" + H + fields + b"\r\n", mode)
        assert c.read_response().status == 200


@pytest.mark.parametrize(
    ("trailers", "status"),
    [
        (b"X-Big: " + b"v" * FIELD + b"\r\n", 431),
        (b"".join(b"X-%d: v\r\n" % i for i in range(FIELDS + 1)), 431),
        (b"".join(b"X-%d: v\r\n" % i for i in range(FIELDS)), 200),
    ],
    ids=["field-size", "fields", "at-limit"],
)
def test_trailer_section_is_held_to_the_field_limits(limited, mode, trailers, status):
    # RFC 9112 §7.1.2: the trailer section is a field section like the head's.
    data = b"POST /echo HTTP/1.1\r\n%sTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n" % H
    with RawClient(limited.port) as c:
        send(c, data + trailers + b"\r\n", mode)
        resp = c.read_response()
        assert resp.status == status
        if status == 200:
            assert resp.body == b"hello"
        else:
            assert resp.header("connection") == "close"
            assert c.is_closed()


def test_content_length_over_limit_gets_413_before_the_app_runs(limited, mode):
    mark = f"cl-{mode}-{time.monotonic_ns()}"
    head = b"POST /echo?track=%s HTTP/1.1\r\n%sContent-Length: %d\r\n\r\n" % (
        mark.encode(),
        H,
        BODY + 1,
    )
    with RawClient(limited.port) as c:
        send(c, head, mode)  # the body is never sent: the answer does not wait for it
        resp = c.read_response()
        assert resp.status == 413
        assert c.is_closed()
    assert mark not in tracked(limited.port)


def test_expect_continue_over_limit_gets_413_without_100(limited):
    head = b"POST /echo HTTP/1.1\r\n%sContent-Length: %d\r\nExpect: 100-continue\r\n\r\n" % (
        H,
        BODY * 10,
    )
    with RawClient(limited.port) as c:
        c.send(head)
        assert c.read_response().status == 413
        assert c.is_closed()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_body_at_limit_is_served(limited, mode, chunked):
    body = b"b" * BODY
    if chunked:
        data = b"POST /echo HTTP/1.1\r\n%sTransfer-Encoding: chunked\r\n\r\n" % H
        data += b"".join(b"a\r\n%s\r\n" % body[i : i + 10] for i in range(0, BODY, 10))
        data += b"0\r\n\r\n"
    else:
        data = b"POST /echo HTTP/1.1\r\n%sContent-Length: %d\r\n\r\n%s" % (H, BODY, body)
    with RawClient(limited.port) as c:
        send(c, data, mode)
        resp = c.read_response()
        assert resp.status == 200
        assert resp.body == body


def test_chunked_body_over_limit_gets_413_and_app_sees_disconnect(limited, mode):
    key = f"chunked-{mode}-{time.monotonic_ns()}"
    data = b"POST /body-events?id=%s HTTP/1.1\r\n%sTransfer-Encoding: chunked\r\n\r\n" % (
        key.encode(),
        H,
    )
    data += b"32\r\n" + b"c" * 50 + b"\r\n"  # 50 bytes: within the limit
    with RawClient(limited.port) as c:
        send(c, data, mode)
        time.sleep(0.2)  # the app has read the first chunk and waits for more
        send(c, b"40\r\n" + b"c" * 64 + b"\r\n", mode)  # crosses the limit mid-body
        resp = c.read_response()
        assert resp.status == 413
        assert c.is_closed()
    seen: list[str] = []
    deadline = time.monotonic() + 3
    while "http.disconnect" not in seen and time.monotonic() < deadline:
        seen = json.loads(request(limited.port, get(f"/events?id={key}")).body)
        time.sleep(0.05)
    # Byte at a time, the first chunk comes in as many messages; then the disconnect.
    assert seen[-1] == "http.disconnect"
    assert set(seen[:-1]) == {"http.request"}


def test_connections_past_the_limit_get_503(pounce_server, parser):
    server = pounce_server(
        "testapp:app", "--http", parser, "--no-access-log", "--limit-connections", "2"
    )
    with RawClient(server.port) as a, RawClient(server.port) as b:
        for c in (a, b):
            c.send(get("/"))
            assert c.read_response().status == 200
        with RawClient(server.port) as c:
            resp = c.read_response()  # answered without a request: there is no room
            assert resp.status == 503
            assert resp.header("retry-after") == "1"
            assert resp.header("connection") == "close"
            assert c.is_closed()
        a.send(get("/"))  # the connections within the limit are untouched
        assert a.read_response().status == 200
    deadline = time.monotonic() + 5  # once they are gone, there is room again
    while True:
        with RawClient(server.port) as c:
            c.send(get("/"))
            status = c.read_response().status
        if status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert status == 200


def test_limit_options_are_validated():
    from pounce import Config
    from pounce.errors import ConfigError

    for name, value in (
        ("limit_request_line", 0),
        ("limit_request_field_size", 1),
        ("limit_request_fields", 0),
        ("limit_request_body", 0),
        ("limit_connections", 0),
    ):
        with pytest.raises(ConfigError, match="--" + name.replace("_", "-")):
            Config(app="x:y", **{name: value})
