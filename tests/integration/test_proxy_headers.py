"""--proxy-headers and --forwarded-allow-ips against a real server."""

from __future__ import annotations

import json

import pytest

from tests.support import request

XFF = b"GET /scope HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: %s\r\nX-Forwarded-Proto: https\r\n\r\n"


def scope_for(port: int, forwarded_for: bytes) -> dict:
    return json.loads(request(port, XFF % forwarded_for).body)


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
