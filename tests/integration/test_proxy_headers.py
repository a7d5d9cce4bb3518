"""--proxy-headers, --forwarded-allow-ips and --proxy-headers-forwarded against a real server:
HTTP/1.1 under both parsers (the compiled build's fast head scanner included), HTTP/2, WebSocket
and a UNIX socket, with httpx, websockets and raw requests."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.support import request

pytestmark = pytest.mark.timeout(60)

XFF = b"GET /scope HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: %s\r\nX-Forwarded-Proto: https\r\n\r\n"


def scope_for(port: int, forwarded_for: bytes) -> dict:
    return json.loads(request(port, XFF % forwarded_for).body)


def get(server: Any, headers: list[tuple[str, str]]) -> dict:
    response = httpx.get(f"{server.url}/", headers=headers, timeout=5)
    assert response.status_code == 200
    return response.json()


def test_trusted_by_default_from_localhost(h1):
    scope = scope_for(h1.port, b"6.6.6.6, 203.0.113.7")
    assert scope["client"] == ["203.0.113.7", 0]
    assert scope["scheme"] == "https"


@pytest.mark.parametrize(
    ("allow", "expected"),
    [
        ("127.0.0.1,203.0.113.0/24", "6.6.6.6"),
        ("*", "6.6.6.6"),
        ("10.0.0.1", None),  # our peer (127.0.0.1) is not trusted: headers ignored
    ],
)
def test_forwarded_allow_ips(pounce_server, allow, expected):
    server = pounce_server("testapp:app", "--forwarded-allow-ips", allow)
    scope = scope_for(server.port, b"6.6.6.6, 203.0.113.7")
    if expected is None:
        assert scope["client"][0] == "127.0.0.1"
        assert scope["scheme"] == "http"
    else:
        assert scope["client"] == [expected, 0]
        assert scope["scheme"] == "https"


def test_no_proxy_headers(pounce_server):
    server = pounce_server("testapp:app", "--no-proxy-headers")
    scope = scope_for(server.port, b"203.0.113.7")
    assert scope["client"][0] == "127.0.0.1"
    assert scope["scheme"] == "http"


def test_env_forwarded_allow_ips(pounce_server):
    server = pounce_server("testapp:app", env={"FORWARDED_ALLOW_IPS": "10.9.9.9"})
    assert scope_for(server.port, b"203.0.113.7")["client"][0] == "127.0.0.1"


@pytest.fixture(params=["httptools", "h11"])
def proxy_server(request, pounce_server):
    """proxy_app under each HTTP/1.1 parser, peers 127.0.0.1 and 10.0.0.0/8 trusted."""
    return pounce_server(
        "proxy_app:app",
        "--http",
        request.param,
        "--no-access-log",
        "--forwarded-allow-ips",
        "127.0.0.1,10.0.0.0/8",
    )


@pytest.mark.parametrize(
    ("headers", "client", "scheme"),
    [
        # Two field lines are one list (RFC 9110 §5.3): the client's own line stays on the left.
        (
            [("X-Forwarded-For", "6.6.6.6"), ("X-Forwarded-For", "203.0.113.7")],
            ["203.0.113.7", 0],
            "http",
        ),
        ([("X-Forwarded-For", "6.6.6.6, 203.0.113.7:4711")], ["203.0.113.7", 4711], "http"),
        ([("X-Forwarded-For", "[2001:db8::1]:443, 10.0.0.1:80")], ["2001:db8::1", 443], "http"),
        # An empty element after trusted hops ends the walk: the peer stays the client.
        ([("X-Forwarded-For", "9.9.9.9 , , , 10.0.0.1")], ["127.0.0.1", None], "http"),
        # The last X-Forwarded-Proto line wins.
        (
            [("X-Forwarded-Proto", "http"), ("X-Forwarded-Proto", "https")],
            ["127.0.0.1", None],
            "https",
        ),
        (
            [("X-Forwarded-Proto", "https"), ("X-Forwarded-Proto", "http")],
            ["127.0.0.1", None],
            "http",
        ),
        # Forwarded is not read unless --proxy-headers-forwarded.
        ([("Forwarded", "for=6.6.6.6;proto=https")], ["127.0.0.1", None], "http"),
    ],
)
def test_x_forwarded_through_httpx(proxy_server, headers, client, scheme):
    scope = get(proxy_server, headers)
    if client[1] is None:  # the TCP peer: its port is the client's ephemeral one
        assert scope["client"][0] == client[0] and scope["client"][1] > 0
    else:
        assert scope["client"] == client
    assert scope["scheme"] == scheme
    assert scope["host"] == [f"127.0.0.1:{proxy_server.port}"]


def test_fast_head_scanner_sees_every_line(proxy_server):
    """A minimal head, the one the compiled build's fast scanner reads without llhttp."""
    raw = (
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 6.6.6.6\r\n"
        b"X-Forwarded-For: 203.0.113.7, 10.0.0.9\r\nX-Forwarded-Proto: https\r\n\r\n"
    )
    scope = json.loads(request(proxy_server.port, raw).body)
    assert (scope["client"], scope["scheme"]) == (["203.0.113.7", 0], "https")


@pytest.fixture(params=["httptools", "h11"])
def forwarded_server(request, pounce_server):
    return pounce_server(
        "proxy_app:app",
        "--http",
        request.param,
        "--no-access-log",
        "--proxy-headers-forwarded",
    )


def test_forwarded_header(forwarded_server):
    scope = get(
        forwarded_server,
        [
            ("Forwarded", "for=6.6.6.6;host=evil.example"),
            ("Forwarded", 'for="[2001:db8:cafe::17]:4711";proto=https;host="example.com:8443"'),
            ("X-Forwarded-For", "9.9.9.9"),
        ],
    )
    assert scope["client"] == ["2001:db8:cafe::17", 4711]
    assert scope["scheme"] == "https"
    assert scope["host"] == ["example.com:8443"]
    assert scope["server"] == ["127.0.0.1", forwarded_server.port]  # the socket's, unchanged


def test_forwarded_header_raw_minimal_head(forwarded_server):
    raw = b"GET / HTTP/1.1\r\nHost: x\r\nForwarded: for=203.0.113.7;proto=https\r\n\r\n"
    scope = json.loads(request(forwarded_server.port, raw).body)
    assert (scope["client"], scope["scheme"], scope["host"]) == (["203.0.113.7", 0], "https", ["x"])


def test_forwarded_obfuscated_hop_keeps_the_peer(forwarded_server):
    scope = get(forwarded_server, [("Forwarded", "for=6.6.6.6, for=_hidden;proto=https")])
    assert scope["client"][0] == "127.0.0.1"
    assert scope["scheme"] == "https"


def test_http2(pounce_server):
    server = pounce_server("proxy_app:app", "--no-access-log", "--proxy-headers-forwarded")
    plain = pounce_server("proxy_app:app", "--no-access-log")

    async def main() -> tuple[dict, dict]:
        async with httpx.AsyncClient(http1=False, http2=True, timeout=10) as client:
            a = await client.get(
                f"{server.url}/", headers=[("forwarded", "for=203.0.113.7;host=example.com")]
            )
            b = await client.get(
                f"{plain.url}/",
                headers=[
                    ("x-forwarded-for", "6.6.6.6"),
                    ("x-forwarded-for", "203.0.113.8:99"),
                    ("x-forwarded-proto", "https"),
                ],
            )
            return a.json(), b.json()

    forwarded, xff = asyncio.run(main())
    assert forwarded["http_version"] == "2"
    assert (forwarded["client"], forwarded["host"]) == (["203.0.113.7", 0], ["example.com"])
    assert (xff["client"], xff["scheme"]) == (["203.0.113.8", 99], "https")


def test_websocket(pounce_server):
    server = pounce_server("proxy_app:app", "--no-access-log")

    async def main() -> dict:
        headers = [
            ("X-Forwarded-For", "6.6.6.6"),
            ("X-Forwarded-For", "203.0.113.7"),
            ("X-Forwarded-Proto", "https"),
        ]
        async with connect(f"ws://127.0.0.1:{server.port}/", additional_headers=headers) as ws:
            return json.loads(await ws.recv())

    scope = asyncio.run(asyncio.wait_for(main(), 20))
    assert (scope["type"], scope["client"], scope["scheme"]) == (
        "websocket",
        ["203.0.113.7", 0],
        "wss",
    )


@pytest.mark.parametrize(
    ("allow", "trusted"),
    [
        (None, False),
        ("unix:", True),
        ("unix:{path}", True),
        ("{path}", True),
        ("unix:/x.sock", False),
    ],
)
def test_unix_socket_peer(pounce_server, tmp_path, allow, trusted):
    path = str(tmp_path / "pounce.sock")
    args = ["--uds", path, "--no-access-log"]
    if allow is not None:
        args += ["--forwarded-allow-ips", allow.format(path=path)]
    pounce_server("proxy_app:app", *args, use_fd=False)
    with httpx.Client(transport=httpx.HTTPTransport(uds=path), timeout=5) as client:
        scope = client.get(
            "http://localhost/",
            headers=[("X-Forwarded-For", "203.0.113.7"), ("X-Forwarded-Proto", "https")],
        ).json()
    if trusted:
        assert (scope["client"], scope["scheme"]) == (["203.0.113.7", 0], "https")
    else:
        assert (scope["client"], scope["scheme"]) == (None, "http")


@pytest.mark.parametrize("allow", ["10.0.0.0/33", "1.2.3", "10.0.0.1:80"])
def test_bad_allow_ips_exit_2(pounce_server, allow):
    server = pounce_server("testapp:app", "--forwarded-allow-ips", allow, ready=False)
    assert server.wait(15) == 2
    assert f"--forwarded-allow-ips: {allow!r} is not an IP address or network" in server.output()
    assert "Traceback" not in server.output()
