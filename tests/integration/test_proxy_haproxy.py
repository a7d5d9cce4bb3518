"""Spoofing the client address through a real HAProxy (issue 14).

HAProxy's ``option forwardfor`` appends its own ``X-Forwarded-For`` field line after whatever
the client sent, so a client that sends ``X-Forwarded-For: 6.6.6.6`` reaches pounce with two
lines, ``6.6.6.6`` then its real address. RFC 9110 §5.3 makes them one list; pounce must read
the client from the right of that list, never the first line.

The client connects from 127.0.0.5 (any 127/8 address is local on Linux), so it is not a
trusted proxy; pounce trusts only HAProxy's address, 127.0.0.1. Two HAProxy setups:
``option forwardfor`` alone, and with ``http-request set-header X-Forwarded-Proto http`` (the
proxy overwrites the scheme the client claims). Under each, the app (tests/apps/proxy_app.py)
must see 127.0.0.5 as the client, under both HTTP/1.1 parsers.

HAProxy (Debian package ``haproxy``) runs in the foreground (``-db``) with a generated config
in a temporary directory and is stopped by its PID. Without it the tests skip, except when
``CI`` is set: then they fail.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import PounceProcess

pytestmark = pytest.mark.timeout(60)

HAPROXY = shutil.which("haproxy") or next(
    (p for p in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if os.access(p, os.X_OK)),
    None,
)
CLIENT_ADDRESS = "127.0.0.5"

# HAProxy in HTTP mode (test_proxy_protocol.py starts its configs with this too).
DEFAULTS = """\
global
    maxconn 100
defaults
    mode http
    timeout connect 5s
    timeout client 10s
    timeout server 10s
"""
CONF = (
    DEFAULTS
    + """\
    option forwardfor
frontend fe
    bind 127.0.0.1:{port}
{extra}
    default_backend be
backend be
    server pounce 127.0.0.1:{upstream}
"""
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)


def require_haproxy() -> str:
    """HAProxy's path; without it the test skips, or fails when ``CI`` is set."""
    if HAPROXY is None:
        if os.environ.get("CI"):
            pytest.fail("haproxy is not installed (CI must have it: apt-get install haproxy)")
        pytest.skip("haproxy is not installed (Debian package haproxy)")
    return HAPROXY


def start_haproxy(
    tmp_path: Path, started: list[subprocess.Popen[bytes]], config: Callable[[int], str]
) -> int:
    """Run HAProxy in the foreground with ``config(port)`` (a free port to listen on), record
    it in ``started`` (the caller stops each by PID) and return the port."""
    haproxy = require_haproxy()
    for attempt in range(3):  # the free port may be taken before HAProxy binds it
        port = _free_port()
        conf = tmp_path / "haproxy.cfg"
        conf.write_text(config(port))
        log = tmp_path / f"haproxy-{attempt}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [haproxy, "-db", "-f", str(conf)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        started.append(proc)
        if _wait_listening(port, proc):
            return port
        _stop(proc)
    raise AssertionError(f"haproxy did not start: {log.read_text(errors='replace')}")


@pytest.fixture
def haproxy(tmp_path: Path) -> Iterator[Callable[[int, str], int]]:
    """Start HAProxy in front of a pounce port: ``haproxy(upstream_port, extra) -> port``."""
    require_haproxy()
    started: list[subprocess.Popen[bytes]] = []

    def start(upstream: int, extra: str = "") -> int:
        return start_haproxy(
            tmp_path, started, lambda port: CONF.format(port=port, upstream=upstream, extra=extra)
        )

    yield start
    for proc in started:
        _stop(proc)


@pytest.fixture(params=["httptools", "h11"])
def upstream(request: pytest.FixtureRequest) -> Iterator[PounceProcess]:
    """pounce trusting only HAProxy (127.0.0.1), answering with the scope's client."""
    proc = PounceProcess(
        "proxy_app:app",
        "--http",
        request.param,
        "--no-access-log",
        "--forwarded-allow-ips",
        "127.0.0.1",
    )
    try:
        yield proc.wait_ready()
    finally:
        proc.stop()


def scope_through(port: int, headers: list[tuple[str, str]]) -> dict:
    transport = httpx.HTTPTransport(local_address=CLIENT_ADDRESS)
    with httpx.Client(transport=transport, timeout=10) as client:
        response = client.get(f"http://127.0.0.1:{port}/", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


SPOOFS = [
    [("X-Forwarded-For", "6.6.6.6")],
    [("X-Forwarded-For", "6.6.6.6, 127.0.0.1")],  # a forged trusted hop changes nothing
    [("X-Forwarded-For", "6.6.6.6"), ("X-Forwarded-For", "7.7.7.7")],
    [("X-Forwarded-For", "127.0.0.1:80")],
]


@pytest.mark.parametrize("headers", SPOOFS)
def test_option_forwardfor(haproxy, upstream, headers):
    port = haproxy(upstream.port, "")
    scope = scope_through(port, [*headers, ("X-Forwarded-Proto", "https")])
    assert scope["client"] == [CLIENT_ADDRESS, 0]
    # HAProxy passes the client's X-Forwarded-Proto on untouched; the next test sets it.
    assert scope["scheme"] == "https"


@pytest.mark.parametrize("headers", SPOOFS)
def test_option_forwardfor_and_proto_set_by_the_proxy(haproxy, upstream, headers):
    port = haproxy(upstream.port, "    http-request set-header X-Forwarded-Proto http")
    scope = scope_through(port, [*headers, ("X-Forwarded-Proto", "https")])
    assert scope["client"] == [CLIENT_ADDRESS, 0]
    assert scope["scheme"] == "http"


def test_without_spoofing(haproxy, upstream):
    port = haproxy(upstream.port, "")
    assert scope_through(port, [])["client"] == [CLIENT_ADDRESS, 0]


def test_access_log_shows_the_real_client(haproxy, pounce_server):
    server = pounce_server("proxy_app:app", "--forwarded-allow-ips", "127.0.0.1")
    port = haproxy(server.port, "")
    scope = scope_through(port, [("X-Forwarded-For", "6.6.6.6")])
    assert scope["client"] == [CLIENT_ADDRESS, 0]
    server.wait_for_log(f"{CLIENT_ADDRESS}:0 - ")
    assert "6.6.6.6" not in server.output()
