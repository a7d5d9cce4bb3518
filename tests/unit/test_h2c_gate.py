"""``Upgrade: h2c`` in both HTTP/1.1 twins, over a fake transport: off by default (no header
is looked at), on with ``--h2c-upgrade``, and refused on a request that came through a proxy
(pounce/http2/negotiate.py). The twins must write the same bytes in every case."""

from __future__ import annotations

import asyncio
from typing import Any

import h2.config
import h2.connection
import pytest

from pounce import Config
from pounce.http1 import _protocol as h1_source
from pounce.http1 import protocol as h1_module
from pounce.http2 import negotiate
from pounce.http2.protocol import H2Protocol
from tests.conftest import compiled, needs_compiled
from tests.fakes import spin, start_h1

_http1 = compiled("_http1")
PARSERS = ["httptools", "h11"]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b"%s %s" % (scope["http_version"].encode(), (scope["client"] or ("-",))[0].encode())
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", b"%d" % len(body))],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _settings() -> str:
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    return client.initiate_upgrade_connection().decode("ascii")


SETTINGS = _settings()


def upgrade_request(*extra: str) -> bytes:
    lines = [
        "GET / HTTP/1.1",
        "Host: h",
        "Connection: Upgrade, HTTP2-Settings",
        "Upgrade: h2c",
        f"HTTP2-Settings: {SETTINGS}",
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def run(protocol_class: type, parser: str, data: bytes, **options: Any) -> tuple[bytes, bool]:
    """Feed one request; the bytes written and whether HTTP/2 took the transport."""

    async def main() -> tuple[bytes, bool]:
        proto, transport = await start_h1(
            protocol_class, parser, app, access_log=False, date_header=False, **options
        )
        proto.data_received(data)
        await spin(20)
        switched = isinstance(transport.protocol, H2Protocol)
        if switched:
            transport.protocol.connection_lost(None)
        return bytes(transport.out), switched

    return asyncio.run(main())


@pytest.fixture
def no_h2c_look(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail if either build calls the h2c rule (each imported it from negotiate into its own
    module: the one source http1/_protocol.py, and its compiled build _http1)."""

    def called(*args: Any) -> bool:
        raise AssertionError("try_h2c_upgrade was called")

    monkeypatch.setattr(h1_source, "try_h2c_upgrade", called)
    if _http1 is not None:
        monkeypatch.setattr(_http1, "try_h2c_upgrade", called)


def plain(body: bytes) -> bytes:
    """The HTTP/1.1 answer to an upgrade request pounce does not switch: the connection then
    closes (llhttp stops reading at an Upgrade request's head)."""
    head = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\nserver: pounce\r\nconnection: close\r\n\r\n"
    return head % len(body) + body


def test_config_default_is_off() -> None:
    config = Config(app="a:b")
    assert config.h2c_upgrade is False and config.http2 is True


@pytest.mark.parametrize(
    "options", [{}, {"http2": False}, {"http2": False, "h2c_upgrade": True}], ids=str
)
@pytest.mark.parametrize("parser", PARSERS)
def test_off_answers_http11_without_looking(
    no_h2c_look, h1_protocol_class, parser, options
) -> None:
    out, switched = run(h1_protocol_class, parser, upgrade_request(), **options)
    assert not switched
    assert out == plain(b"1.1 127.0.0.1")


@pytest.mark.parametrize("parser", PARSERS)
def test_on_switches_to_http2(h1_protocol_class, parser) -> None:
    out, switched = run(h1_protocol_class, parser, upgrade_request(), h2c_upgrade=True)
    assert switched
    assert out.startswith(
        b"HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: h2c\r\n\r\n"
    )


PROXY_FIELDS = [
    "X-Forwarded-For: 203.0.113.7",
    "X-Forwarded-Proto: http",
    "X-Forwarded-Host: example.com",
    "x-FORWARDED-for: 203.0.113.7",
    "Forwarded: for=203.0.113.7",
    "X-Real-IP: 203.0.113.7",
    "Via: 1.1 nginx",
]


@pytest.mark.parametrize("field", PROXY_FIELDS)
@pytest.mark.parametrize(
    "options",
    [
        {},  # the peer (127.0.0.1) is a trusted proxy: X-Forwarded-For sets the client
        {"forwarded_allow_ips": "10.9.9.9"},  # not trusted: the client stays the peer
        {"proxy_headers": False},
    ],
    ids=["trusted", "untrusted", "no-proxy-headers"],
)
@pytest.mark.parametrize("parser", PARSERS)
def test_on_refuses_a_request_that_came_through_a_proxy(
    h1_protocol_class, parser, options, field
) -> None:
    out, switched = run(
        h1_protocol_class, parser, upgrade_request(field), h2c_upgrade=True, **options
    )
    assert not switched
    trusted_xff = not options and field.lower().startswith("x-forwarded-for")
    assert out == plain(b"1.1 203.0.113.7" if trusted_xff else b"1.1 127.0.0.1")


@needs_compiled("_http1")
@pytest.mark.parametrize("parser", PARSERS)
def test_twins_write_the_same_bytes(parser) -> None:
    cases: list[tuple[bytes, dict[str, Any]]] = [
        (upgrade_request(), {}),
        (upgrade_request(), {"h2c_upgrade": True}),
        (upgrade_request("X-Forwarded-For: 203.0.113.7"), {"h2c_upgrade": True}),
        (upgrade_request("Via: 1.1 nginx"), {"h2c_upgrade": True}),
    ]
    for data, options in cases:
        pure = run(h1_module.H1ProtocolPy, parser, data, **options)
        compiled = run(_http1.H1Protocol, parser, data, **options)
        assert pure == compiled, options


@pytest.mark.parametrize(
    ("name", "proxied"),
    [
        (b"x-forwarded-for", True),
        (b"x-forwarded-proto", True),
        (b"x-forwarded-host", True),
        (b"x-forwarded-port", True),
        (b"forwarded", True),
        (b"x-real-ip", True),
        (b"via", True),
        (b"x-forwarded", False),
        (b"host", False),
        (b"upgrade", False),
        (b"http2-settings", False),
    ],
)
def test_proxy_header_names(name: bytes, proxied: bool) -> None:
    assert negotiate.is_proxy_header(name) is proxied
