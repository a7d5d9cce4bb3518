"""``--proxy-protocol`` behind a real HAProxy (issue 17), and what a bad or missing header gets.

HAProxy (Debian package ``haproxy``) runs in the foreground with a generated config in a
temporary directory and is stopped by its PID (the helpers of test_proxy_haproxy.py). Its
frontend listens in HTTP mode; its server line sends the PROXY header (``send-proxy``: v1,
``send-proxy-v2``: v2) to pounce over HTTP/1.1, h2c (``proto h2``) or TLS (``ssl verify none``,
with ALPN h2 or not). The client connects from 127.0.0.5 (any 127/8 address is local on
Linux) with a source port it knows, and the app (tests/apps/proxy_app.py) must see exactly that
address and port as its client. pounce trusts only 127.0.0.1 (HAProxy) to send the header.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import h2.config
import h2.connection
import h2.events
import pytest

from tests.integration.conftest import Certs
from tests.integration.test_proxy_haproxy import (
    DEFAULTS,
    _stop,
    require_haproxy,
    start_haproxy,
)
from tests.support import PounceProcess

pytestmark = pytest.mark.timeout(60)

CLIENT_ADDRESS = "127.0.0.5"

CONF = (
    DEFAULTS
    + """\
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    server pounce 127.0.0.1:{upstream} {server_options}
"""
)


@pytest.fixture
def haproxy(tmp_path: Path) -> Iterator[Callable[[int, str], int]]:
    """``haproxy(upstream_port, server_options) -> port``: HAProxy in front of pounce."""
    require_haproxy()
    started: list[subprocess.Popen[bytes]] = []

    def start(upstream: int, server_options: str) -> int:
        return start_haproxy(
            tmp_path,
            started,
            lambda port: CONF.format(port=port, upstream=upstream, server_options=server_options),
        )

    yield start
    for proc in started:
        _stop(proc)


@pytest.fixture
def proxied(
    pounce_server: Callable[..., PounceProcess], certs: Certs
) -> Callable[..., PounceProcess]:
    """pounce with ``--proxy-protocol``, trusting HAProxy (127.0.0.1) only; ``tls=True``: with
    the test certificate."""

    def start(*args: str, tls: bool = False) -> PounceProcess:
        if tls:
            args = ("--ssl-certfile", str(certs.cert), "--ssl-keyfile", str(certs.key), *args)
        return pounce_server(
            "proxy_app:app",
            "--proxy-protocol",
            "--forwarded-allow-ips",
            "127.0.0.1",
            "--timeout-request-header",
            "2",
            *args,
        )

    return start


def exchange(port: int, request: bytes, source: str = CLIENT_ADDRESS) -> tuple[bytes, int]:
    """Send ``request`` from ``source`` and read until the server closes: (bytes, our port)."""
    with socket.socket() as sock:
        sock.settimeout(10)
        sock.bind((source, 0))
        sock.connect(("127.0.0.1", port))
        own_port = sock.getsockname()[1]
        sock.sendall(request)
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass  # closed with our bytes unread (Linux then sends a reset): also no answer
    return data, own_port


def get(port: int, headers: str = "") -> tuple[dict, int]:
    request = f"GET / HTTP/1.1\r\nHost: example\r\n{headers}Connection: close\r\n\r\n"
    data, own_port = exchange(port, request.encode())
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), data
    if b"transfer-encoding: chunked" in head.lower():
        size, _, rest = body.partition(b"\r\n")
        body = rest[: int(size, 16)]
    return json.loads(body), own_port


SERVER_LINES = [
    pytest.param("send-proxy", "1.1", "http", id="h1-v1"),
    pytest.param("send-proxy-v2", "1.1", "http", id="h1-v2"),
    pytest.param("send-proxy proto h2", "2", "http", id="h2c-v1"),
    pytest.param("send-proxy-v2 proto h2", "2", "http", id="h2c-v2"),
    pytest.param("send-proxy-v2 ssl verify none", "1.1", "https", id="tls-v2"),
    pytest.param("send-proxy ssl verify none", "1.1", "https", id="tls-v1"),
    pytest.param("send-proxy-v2 ssl verify none alpn h2", "2", "https", id="tls-h2-v2"),
]


@pytest.mark.parametrize(("server_line", "http_version", "scheme"), SERVER_LINES)
def test_the_app_sees_the_client_haproxy_saw(
    haproxy, proxied, server_line: str, http_version: str, scheme: str
) -> None:
    server = proxied(tls=scheme == "https")
    port = haproxy(server.port, server_line)
    for _ in range(2):  # HAProxy may reuse its server connection: each request is checked
        scope, own_port = get(port)
        assert scope["client"] == [CLIENT_ADDRESS, own_port]
        assert (scope["http_version"], scope["scheme"]) == (http_version, scheme)
    # The access log names the client too.
    server.wait_for_log(f"{CLIENT_ADDRESS}:{own_port} - ")


@pytest.mark.parametrize("server_line", ["send-proxy", "send-proxy-v2 proto h2"])
def test_a_forged_x_forwarded_for_is_not_believed(haproxy, proxied, server_line) -> None:
    """The client (127.0.0.5, from the header) is not a trusted proxy: its own
    X-Forwarded-For is ignored."""
    server = proxied()
    port = haproxy(server.port, server_line)
    scope, own_port = get(port, "X-Forwarded-For: 6.6.6.6\r\n")
    assert scope["client"] == [CLIENT_ADDRESS, own_port]
    assert "6.6.6.6" not in server.output()


def test_x_forwarded_for_from_a_client_configured_as_trusted(haproxy, pounce_server) -> None:
    """Unless --forwarded-allow-ips names the header's source too: then its X-Forwarded-For
    is read as from any trusted proxy."""
    server = pounce_server(
        "proxy_app:app", "--proxy-protocol", "--forwarded-allow-ips", f"127.0.0.1,{CLIENT_ADDRESS}"
    )
    port = haproxy(server.port, "send-proxy-v2")
    scope, _ = get(port, "X-Forwarded-For: 6.6.6.6\r\n")
    assert scope["client"] == ["6.6.6.6", 0]


def test_websocket_client_from_the_header(proxied) -> None:
    """A WebSocket handshake after a v1 header: the websocket scope's client is the header's."""
    server = proxied("--forwarded-allow-ips", "127.0.0.1")
    request = (
        b"PROXY TCP4 203.0.113.7 127.0.0.1 40000 80\r\n"
        b"GET /ws HTTP/1.1\r\nHost: example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    data, _ = exchange(server.port, request, source="127.0.0.1")
    assert data.startswith(b"HTTP/1.1 101 "), data
    frame = data.partition(b"\r\n\r\n")[2]
    assert frame[0] == 0x81  # one text frame: the scope summary
    size = frame[1] & 0x7F
    start = 2 if size < 126 else 4
    size = size if size < 126 else int.from_bytes(frame[2:4], "big")
    scope = json.loads(frame[start : start + size])
    assert scope["type"] == "websocket"
    assert scope["client"] == ["203.0.113.7", 40000]


NO_ANSWER = [
    pytest.param(b"GET / HTTP/1.1\r\nHost: example\r\n\r\n", "missing", id="no-header"),
    pytest.param(b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 80\r\nGET /", "malformed", id="bad-port"),
    pytest.param(b"PROXY UNKNOWN " + b"x" * 120, "oversized", id="v1-too-long"),
    pytest.param(b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\xff\xff", "oversized", id="v2-too-long"),
    pytest.param(b"PROXY TCP4 1.2.3.4", "timeout", id="stalled"),
]


@pytest.mark.parametrize(("data", "kind"), NO_ANSWER)
def test_closed_without_a_response(proxied, data: bytes, kind: str) -> None:
    """A direct connection to a --proxy-protocol port with no header, a bad one, or one that
    stalls (--timeout-request-header 2) is closed and nothing is written back."""
    server = proxied()
    started = time.monotonic()
    answer, _ = exchange(server.port, data, source="127.0.0.1")
    assert answer == b""
    assert time.monotonic() - started < 8
    server.wait_for_log("PROXY protocol: closing the connection from ('127.0.0.1', ")
    assert f"({kind})" in server.output()
    assert "Traceback" not in server.output()


def test_truncated_by_eof(proxied) -> None:
    server = proxied()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c\x01\x02")
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(100) == b""
    server.wait_for_log("(truncated)")


def test_untrusted_peer_closed_even_with_a_valid_header(pounce_server) -> None:
    """Only --forwarded-allow-ips peers may send the header: 127.0.0.5 is closed at once."""
    server = pounce_server(
        "proxy_app:app", "--proxy-protocol", "--forwarded-allow-ips", "127.0.0.1"
    )
    request = b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"
    answer, _ = exchange(server.port, request, source=CLIENT_ADDRESS)
    assert answer == b""
    server.wait_for_log("(untrusted)")


def test_local_and_unknown_keep_the_peer_address(proxied) -> None:
    """v2 LOCAL (a health check) and v1 UNKNOWN: the connection's own address is the client."""
    server = proxied()
    local = b"\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00"
    for header in (local, b"PROXY UNKNOWN\r\n"):
        data, own_port = exchange(
            server.port,
            header + b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            source="127.0.0.1",
        )
        assert data.startswith(b"HTTP/1.1 200 "), data
        assert f'"client": ["127.0.0.1", {own_port}]'.encode() in data


@pytest.mark.parametrize("server_line", ["send-proxy-v2 ssl verify none", "send-proxy proto h2"])
def test_on_the_asyncio_loop(haproxy, proxied, server_line: str) -> None:
    """The hand-over (and start_tls with the bytes read after the header) on asyncio's own
    loop too; the tests above run on uvloop."""
    server = proxied("--loop", "asyncio", tls="ssl" in server_line)
    port = haproxy(server.port, server_line)
    scope, own_port = get(port)
    assert scope["client"] == [CLIENT_ADDRESS, own_port]


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_tls_client_hello_in_the_same_segment_as_the_header(proxied, certs: Certs, loop) -> None:
    """The header and the ClientHello sent in one write: the bytes after the header go to TLS.
    (The TLS client runs on a MemoryBIO, so that its first flight can be joined to the header.)
    """
    server = proxied("--loop", loop, tls=True)
    context = certs.client_context(["http/1.1"])
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    header = b"PROXY TCP6 2001:db8::7 2001:db8::1 4242 443\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        first = True
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                flight = outgoing.read()
                sock.sendall(header + flight if first else flight)
                first = False
                incoming.write(sock.recv(65536))
        tls.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        sock.sendall(outgoing.read())
        response = b""
        while b'"client"' not in response:
            incoming.write(sock.recv(65536))
            with contextlib.suppress(ssl.SSLWantReadError):
                response += tls.read(65536)
    assert response.startswith(b"HTTP/1.1 200 "), response
    assert b'"client": ["2001:db8::7", 4242]' in response
    assert b'"scheme": "https"' in response


def test_h2c_upgrade_keeps_the_header_client(proxied) -> None:
    """``Upgrade: h2c`` after a v1 header: stream 1 (the upgraded request) and stream 3 (a new
    request over HTTP/2) have the header's client: the switch from HTTP/1.1 carries it over."""
    server = proxied("--h2c-upgrade")
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    settings = conn.initiate_upgrade_connection().decode("ascii")
    request = (
        "PROXY TCP4 203.0.113.9 127.0.0.1 5555 80\r\n"
        "GET / HTTP/1.1\r\nHost: example\r\nConnection: Upgrade, HTTP2-Settings\r\n"
        f"Upgrade: h2c\r\nHTTP2-Settings: {settings}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        head, _, rest = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101 "), head
        bodies: dict[int, bytes] = {1: b"", 3: b""}
        ended: set[int] = set()
        conn.send_headers(
            3,
            [(":method", "GET"), (":scheme", "http"), (":authority", "example"), (":path", "/")],
            end_stream=True,
        )
        sock.sendall(conn.data_to_send())
        while ended != {1, 3}:
            for event in conn.receive_data(rest):
                if isinstance(event, h2.events.DataReceived):
                    bodies[event.stream_id] += event.data
                    conn.acknowledge_received_data(len(event.data), event.stream_id)
                if isinstance(event, h2.events.StreamEnded):
                    ended.add(event.stream_id)
            sock.sendall(conn.data_to_send())
            rest = b"" if ended == {1, 3} else sock.recv(65536)
    for stream_id in (1, 3):
        scope = json.loads(bodies[stream_id])
        assert scope["http_version"] == "2"
        assert scope["client"] == ["203.0.113.9", 5555], stream_id
