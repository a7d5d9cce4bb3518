"""Slow clients over real sockets: the request-head deadline, the body progress timeout, the
send timeout and the TLS handshake timeout, each with a short configured value."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import PounceProcess, RawClient, get, request

pytestmark = pytest.mark.timeout(30)

TIMEOUT = 0.5  # every slow-client timeout of the servers below
# The server options both protocols' slow-client tests run with (test_h2_timeouts.py too).
SLOW_OPTIONS = (
    *("--no-access-log", "--timeout-keep-alive", "5", "--timeout-request-header", str(TIMEOUT)),
    *("--timeout-request-body", str(TIMEOUT), "--timeout-send", str(TIMEOUT)),
)
H = b"Host: test\r\n"


@pytest.fixture(scope="module")
def slow_server(parser: str) -> Iterator[PounceProcess]:
    proc = PounceProcess("testapp:app", "--http", parser, *SLOW_OPTIONS)
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.stop()


def events(port: int, key: str) -> list[str]:
    return json.loads(request(port, get(f"/events?id={key}")).body)


def wait_events(port: int, key: str, expected: str, timeout: float = 3.0) -> list[str]:
    deadline = time.monotonic() + timeout
    seen = events(port, key)
    while expected not in seen and time.monotonic() < deadline:
        time.sleep(0.05)
        seen = events(port, key)
    return seen


def assert_408_and_closed(c: RawClient, started: float) -> None:
    resp = c.read_response()
    elapsed = time.monotonic() - started
    assert resp.status == 408
    assert resp.header("connection") == "close"
    assert c.is_closed()
    assert TIMEOUT * 0.8 <= elapsed < TIMEOUT + 1.5, elapsed


def test_trickled_head_gets_408_at_the_absolute_deadline(slow_server):
    with RawClient(slow_server.port) as c:
        started = time.monotonic()
        c.send(b"GET / HTTP/1.1\r\n" + H)
        # A byte every 0.1 s keeps arriving: it must not push the deadline back.
        for _ in range(30):
            try:
                c.send(b"X-A: a\r\n")
            except (BrokenPipeError, ConnectionResetError):
                break
            c.sock.settimeout(0.1)
            try:
                chunk = c.sock.recv(65536)
            except TimeoutError:
                continue
            c.buf += chunk
            break
        c.sock.settimeout(5)
        assert_408_and_closed(c, started)


def test_stalled_head_gets_408(slow_server):
    with RawClient(slow_server.port) as c:
        started = time.monotonic()
        c.send(b"GET / HTTP/1.1\r\n" + H + b"X-Partial: yes")
        assert_408_and_closed(c, started)


def test_head_deadline_starts_at_the_first_byte_of_each_request(slow_server):
    with RawClient(slow_server.port) as c:
        c.send(get("/"))
        assert c.read_response().status == 200
        # Idle longer than the head timeout: that is the keep-alive timeout's business.
        time.sleep(TIMEOUT * 1.6)
        c.send(get("/"))
        assert c.read_response().status == 200
        # The next head starts and stalls: its own deadline applies.
        started = time.monotonic()
        c.send(b"GET / HTTP/1.1\r\n")
        assert_408_and_closed(c, started)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_stalled_body_gets_408_and_app_sees_disconnect(slow_server, chunked):
    key = f"stall-body-{chunked}-{time.monotonic_ns()}"
    if chunked:
        head = b"POST /body-events?id=%s HTTP/1.1\r\n%sTransfer-Encoding: chunked\r\n\r\n" % (
            key.encode(),
            H,
        )
        part = b"3\r\nabc\r\n"
    else:
        head = b"POST /body-events?id=%s HTTP/1.1\r\n%sContent-Length: 10\r\n\r\n" % (
            key.encode(),
            H,
        )
        part = b"abc"
    with RawClient(slow_server.port) as c:
        c.send(head + part)
        started = time.monotonic()
        assert_408_and_closed(c, started)
    seen = wait_events(slow_server.port, key, "http.disconnect")
    assert seen == ["http.request", "http.disconnect"]


def test_slow_but_steady_body_is_not_cut_off(slow_server):
    with RawClient(slow_server.port) as c:
        c.send(b"POST /echo HTTP/1.1\r\n" + H + b"Content-Length: 8\r\n\r\n")
        for byte in b"abcdefgh":  # 8 x 0.2 s: longer than the timeout in total, never idle
            time.sleep(TIMEOUT * 0.4)
            c.send(bytes([byte]))
        resp = c.read_response()
        assert resp.status == 200
        assert resp.body == b"abcdefgh"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_client_that_stops_reading_is_closed_and_memory_stays_flat(slow_server):
    port = slow_server.port
    pid = int(request(port, get("/pid")).body)
    before = rss_kib(pid)
    key = f"flood-{time.monotonic_ns()}"
    with RawClient(port) as c:
        c.send(get(f"/flood?id={key}&n=2048"))  # 128 MiB that the client does not read
        seen = wait_events(port, key, "cancelled", timeout=TIMEOUT + 3)
        assert seen == ["cancelled"]  # the app's pending send ended with the connection
        # What the kernel had queued still arrives, then the end: far less than was sent.
        assert c.is_closed(timeout=3)
        assert len(c.buf) < 64 * 1024 * 1024
    assert rss_kib(pid) - before < 32 * 1024


def test_client_reading_slowly_gets_the_whole_response(slow_server):
    with RawClient(slow_server.port) as c:
        c.send(get("/stream?n=4&size=300000"))
        time.sleep(TIMEOUT * 0.5)  # paused writes, but shorter than the send timeout
        resp = c.read_response()
        assert resp.status == 200
        assert len(resp.body) == 4 * 300000


@pytest.mark.parametrize("hello", [b"", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"])
def test_tls_handshake_timeout(pounce_server, certs, hello):
    server = pounce_server(
        "testapp:app",
        "--no-access-log",
        "--ssl-certfile",
        str(certs.cert),
        "--ssl-keyfile",
        str(certs.key),
        "--timeout-tls-handshake",
        str(TIMEOUT),
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        started = time.monotonic()
        if hello:
            sock.sendall(hello)  # half a ClientHello
        try:
            assert sock.recv(65536) == b""
        except ConnectionResetError:
            pass
        elapsed = time.monotonic() - started
    assert TIMEOUT * 0.8 <= elapsed < TIMEOUT + 2, elapsed
    # A real client still gets through.
    ctx = certs.client_context(["http/1.1"])
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
        tls.sendall(get("/"))
        assert tls.recv(65536).startswith(b"HTTP/1.1 200")


def test_timeout_options_are_validated():
    from pounce import Config
    from pounce.errors import ConfigError

    for name in ("timeout_request_header", "timeout_request_body", "timeout_send"):
        with pytest.raises(ConfigError, match="--" + name.replace("_", "-")):
            Config(app="x:y", **{name: 0})
