"""``Upgrade: h2c`` on a real pounce process, from a raw socket: answered as HTTP/1.1 by
default; with ``--h2c-upgrade``, 101 and the response on stream 1, except for a request that
carries proxy headers, whether its peer is a trusted proxy or not (the smuggling rule,
pounce/http2/negotiate.py). Under both parsers; the twin is the run's (compiled or pure).
Through a real nginx: test_h2c_smuggling.py."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.h2support import h2c_upgrade
from tests.support import PounceProcess


def _serve(*args: str) -> Iterator[PounceProcess]:
    proc = PounceProcess("scope_app:app", "--no-access-log", *args)
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def off(parser: str) -> Iterator[PounceProcess]:
    """Default settings (the peer, 127.0.0.1, is a trusted proxy: the default allow list)."""
    yield from _serve("--http", parser)


@pytest.fixture(scope="module")
def on(parser: str) -> Iterator[PounceProcess]:
    yield from _serve("--http", parser, "--h2c-upgrade")


@pytest.fixture(scope="module")
def on_untrusted(parser: str) -> Iterator[PounceProcess]:
    """--h2c-upgrade where the peer is not in --forwarded-allow-ips."""
    yield from _serve("--http", parser, "--h2c-upgrade", "--forwarded-allow-ips", "10.9.9.9")


def test_off_by_default_answers_http11(off):
    with h2c_upgrade(off.port, "/scope?via=upgrade") as attempt:
        response = attempt.response
        assert not attempt.switched
        assert response.status == 200
        scope = json.loads(response.body)
        assert scope["http_version"] == "1.1" and scope["query_string"] == "via=upgrade"
        # The app saw an ordinary request, Upgrade field and all (RFC 9110 §7.8).
        assert ["upgrade", "h2c"] in scope["headers"]
        # As after any Upgrade request pounce does not switch, the connection ends here.
        assert response.header("connection") == "close"
        assert attempt.raw.is_closed()


def test_on_switches_and_answers_on_stream_1(on):
    with h2c_upgrade(on.port, "/scope?via=upgrade") as attempt:
        assert attempt.switched
        assert attempt.response.header("upgrade") == "h2c"
        first = attempt.h2.response(1)
        scope = json.loads(bytes(first.body))
        assert first.status == 200
        assert scope["http_version"] == "2" and scope["query_string"] == "via=upgrade"
        names = [name for name, _ in scope["headers"]]
        assert "upgrade" not in names and "http2-settings" not in names
        second = attempt.h2.get("/admin")  # the connection is HTTP/2 now: stream 3
        assert second.status == 200
        assert json.loads(bytes(second.body))["path"] == "/admin"


PROXY_FIELDS = [
    ("X-Forwarded-For", "203.0.113.7"),
    ("X-Forwarded-Proto", "https"),
    ("X-Forwarded-Host", "example.com"),
    ("Forwarded", "for=203.0.113.7"),
    ("X-Real-IP", "203.0.113.7"),
    ("Via", "1.1 proxy"),
]


@pytest.mark.parametrize(("name", "value"), PROXY_FIELDS)
def test_on_refuses_proxy_headers_from_a_trusted_proxy(on, name, value):
    with h2c_upgrade(on.port, "/scope", headers=[(name, value)]) as attempt:
        assert not attempt.switched
        assert attempt.response.status == 200
        scope = json.loads(attempt.response.body)
        assert scope["http_version"] == "1.1"
        if name == "X-Forwarded-For":  # trusted: the header named the client
            assert scope["client"][0] == "203.0.113.7"
        if name == "X-Forwarded-Proto":
            assert scope["scheme"] == "https"


@pytest.mark.parametrize(("name", "value"), PROXY_FIELDS[:2])
def test_on_refuses_proxy_headers_from_an_untrusted_peer(on_untrusted, name, value):
    """Decided: refused as well. The header is not believed for the client address, but it
    still says a proxy may be in front (one missing from --forwarded-allow-ips), and a client
    that forges it only loses its own upgrade."""
    with h2c_upgrade(on_untrusted.port, "/scope", headers=[(name, value)]) as attempt:
        assert not attempt.switched
        scope = json.loads(attempt.response.body)
        assert scope["http_version"] == "1.1"
        assert scope["client"][0] == "127.0.0.1" and scope["scheme"] == "http"
    with h2c_upgrade(on_untrusted.port, "/scope") as attempt:  # no proxy header: switched
        assert attempt.switched and attempt.h2.response(1).status == 200
