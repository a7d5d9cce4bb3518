"""Trust rules for X-Forwarded-For/-Proto and RFC 7239 Forwarded (pounce/proxy.py), and the
same rules as an ASGI middleware (pounce/middleware.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pounce.config import Config
from pounce.errors import ConfigError
from pounce.middleware import ProxyHeadersMiddleware
from pounce.proxy import ProxyTrust, parse_forwarded, parse_node, split_host_port

PEER = ("127.0.0.1", 5000)

# (trusted, X-Forwarded-For lines, X-Forwarded-Proto lines, peer) -> (client, scheme).
# The expected values were produced by running uvicorn 0.55's ProxyHeadersMiddleware on each
# row; pounce gives the same (the last rows of the issue are at the top).
UVICORN_CASES: list[tuple[str, list[str], list[str], Any, Any, str]] = [
    # HAProxy's option forwardfor: the client's own line, then the proxy's (RFC 9110 §5.3).
    ("127.0.0.1", ["6.6.6.6", "203.0.113.7"], [], PEER, ("203.0.113.7", 0), "http"),
    ("127.0.0.1", ["6.6.6.6, 203.0.113.7"], [], PEER, ("203.0.113.7", 0), "http"),
    # An empty element ends the walk: the client stays the peer, never an address further left.
    ("127.0.0.1,10.0.0.1", [" , 10.0.0.1"], [], PEER, PEER, "http"),
    ("127.0.0.1", [" , 10.0.0.1"], [], PEER, ("10.0.0.1", 0), "http"),
    ("127.0.0.1,10.0.0.1", ["9.9.9.9 , , , 10.0.0.1"], [], PEER, PEER, "http"),
    ("127.0.0.1", ["9.9.9.9 , , , 10.0.0.1"], [], PEER, ("10.0.0.1", 0), "http"),
    ("127.0.0.1", [" , "], [], PEER, PEER, "http"),
    ("127.0.0.1", [""], [], PEER, PEER, "http"),
    # host:port and [v6]:port entries.
    ("127.0.0.1", ["1.2.3.4:1234"], [], PEER, ("1.2.3.4", 1234), "http"),
    ("127.0.0.1", ["[2001:db8::1]:443"], [], PEER, ("2001:db8::1", 443), "http"),
    ("127.0.0.1", ["[2001:db8::1]"], [], PEER, ("2001:db8::1", 0), "http"),
    ("127.0.0.1", ["2001:db8::1"], [], PEER, ("2001:db8::1", 0), "http"),
    ("127.0.0.1", ["[2001:db8::1]x"], [], PEER, ("[2001:db8::1]x", 0), "http"),
    ("127.0.0.1", ["[2001:db8::1"], [], PEER, ("[2001:db8::1", 0), "http"),
    ("127.0.0.1", ["[2001:db8::1]:http"], [], PEER, ("2001:db8::1", 0), "http"),
    ("127.0.0.1", ["1.2.3.4:http"], [], PEER, ("1.2.3.4:http", 0), "http"),
    ("127.0.0.1", ["1.2.3.4:65535"], [], PEER, ("1.2.3.4", 65535), "http"),
    ("127.0.0.1", ["1.2.3.4:0"], [], PEER, ("1.2.3.4", 0), "http"),
    ("127.0.0.1", ["unknown"], [], PEER, ("unknown", 0), "http"),
    ("127.0.0.1", ["1.2.3.4, unknown"], [], PEER, ("unknown", 0), "http"),
    # Trusted proxies named with a port, in networks, IPv6, literals.
    ("127.0.0.1,10.0.0.0/8", ["1.2.3.4, 10.0.0.1:5555"], [], PEER, ("1.2.3.4", 0), "http"),
    ("127.0.0.1,2001:db8::/32", ["1.2.3.4, [2001:db8::7]:5555"], [], PEER, ("1.2.3.4", 0), "http"),
    ("127.0.0.1,2001:db8::/32", ["1.2.3.4, 2001:db8::7"], [], PEER, ("1.2.3.4", 0), "http"),
    ("127.0.0.1,10.0.0.0/8", ["10.0.0.1, 10.0.0.2"], [], PEER, ("10.0.0.1", 0), "http"),
    ("127.0.0.1,10.0.0.0/8", ["10.0.0.1:80, 10.0.0.2"], [], PEER, ("10.0.0.1", 80), "http"),
    ("127.0.0.1,10.0.0.0/8", ["6.6.6.6, 1.2.3.4, 10.0.0.5"], [], PEER, ("1.2.3.4", 0), "http"),
    ("127.0.0.1,10.0.0.1", ["6.6.6.6", "1.2.3.4", "10.0.0.1"], [], PEER, ("1.2.3.4", 0), "http"),
    ("127.0.0.1,my-proxy", ["1.2.3.4, my-proxy"], [], PEER, ("1.2.3.4", 0), "http"),
    # Everyone trusted: the leftmost entry.
    ("*", ["1.1.1.1, 2.2.2.2"], [], PEER, ("1.1.1.1", 0), "http"),
    ("*", ["1.1.1.1:99, 2.2.2.2"], [], PEER, ("1.1.1.1", 99), "http"),
    ("*", [" , 2.2.2.2"], [], PEER, PEER, "http"),
    ("*", ["6.6.6.6", "2.2.2.2"], [], ("8.8.8.8", 1), ("6.6.6.6", 0), "http"),
    # An untrusted peer's headers are ignored; ::1 only when listed.
    ("10.0.0.1", ["6.6.6.6, 203.0.113.7"], ["https"], PEER, PEER, "http"),
    ("127.0.0.1", ["6.6.6.6"], ["https"], ("::1", 5000), ("::1", 5000), "http"),
    ("127.0.0.1,::1", ["6.6.6.6"], ["https"], ("::1", 5000), ("6.6.6.6", 0), "https"),
    # X-Forwarded-Proto: the last line, whole.
    ("127.0.0.1", [], ["https"], PEER, PEER, "https"),
    ("127.0.0.1", [], ["http", "https"], PEER, PEER, "https"),
    ("127.0.0.1", [], ["https", "http"], PEER, PEER, "http"),
    ("127.0.0.1", [], ["https, http"], PEER, PEER, "http"),
    ("127.0.0.1", [], [" wss "], PEER, PEER, "wss"),
    ("127.0.0.1", [], ["gopher"], PEER, PEER, "http"),
    ("127.0.0.1", [], ["https", "gopher"], PEER, PEER, "http"),
    # A peer without an address (a UNIX socket): only "*" among these trusts it.
    ("127.0.0.1", ["1.1.1.1"], ["https"], None, None, "http"),
    ("*", ["1.1.1.1"], ["https"], None, ("1.1.1.1", 0), "https"),
]

# Where pounce differs from uvicorn 0.55 on purpose: (case..., pounce's, uvicorn's).
DIFFERENT_CASES: list[tuple[str, list[str], list[str], Any, Any, str, Any, str]] = [
    # Under "*" uvicorn takes the leftmost entry without walking; pounce walks, so an empty
    # element still ends the walk (never skipped to reach an address further left).
    ("*", ["1.1.1.1, , 2.2.2.2"], [], PEER, PEER, "http", ("1.1.1.1", 0), "http"),
    # Schemes are case-insensitive (RFC 3986 §3.1); uvicorn ignores "HTTPS".
    ("127.0.0.1", [], ["HTTPS"], PEER, PEER, "https", PEER, "http"),
    # A port is 1-5 digits up to 65535; uvicorn's int() takes 99999 and "+80".
    (
        "127.0.0.1",
        ["1.2.3.4:99999"],
        [],
        PEER,
        ("1.2.3.4:99999", 0),
        "http",
        ("1.2.3.4", 99999),
        "http",
    ),
    ("127.0.0.1", ["1.2.3.4:+80"], [], PEER, ("1.2.3.4:+80", 0), "http", ("1.2.3.4", 80), "http"),
    # "*" anywhere in the list trusts everyone (uvicorn: only "*" alone; else a literal).
    (
        "127.0.0.1,*",
        ["1.1.1.1"],
        [],
        ("8.8.8.8", 1),
        ("1.1.1.1", 0),
        "http",
        ("8.8.8.8", 1),
        "http",
    ),
]


def run_middleware(
    trusted: str, headers: list[tuple[bytes, bytes]], peer: Any, kind: str = "http", **kw: Any
) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.update(scope)

    scope = {
        "type": kind,
        "client": peer,
        "server": ("127.0.0.1", 8000),
        "scheme": "http" if kind == "http" else "ws",
        "headers": headers,
    }
    asyncio.run(ProxyHeadersMiddleware(app, trusted, **kw)(scope, None, None))  # type: ignore[arg-type]
    return seen


def xff_headers(xff: list[str], proto: list[str]) -> list[tuple[bytes, bytes]]:
    return [(b"x-forwarded-for", v.encode()) for v in xff] + [
        (b"x-forwarded-proto", v.encode()) for v in proto
    ]


@pytest.mark.parametrize("case", UVICORN_CASES)
def test_same_results_as_uvicorn(case):
    trusted, xff, proto, peer, client, scheme = case
    seen = run_middleware(trusted, xff_headers(xff, proto), peer)
    assert (seen["client"], seen["scheme"]) == (client, scheme)
    # The server's own path (ProxyTrust.apply after the connection's trust check) agrees.
    trust = ProxyTrust(trusted)
    if peer is not None and trust.is_trusted(peer[0]):
        assert trust.apply(xff_headers(xff, proto), peer, "http") == (client, scheme)


@pytest.mark.parametrize("case", DIFFERENT_CASES)
def test_differences_from_uvicorn(case):
    trusted, xff, proto, peer, client, scheme, uv_client, uv_scheme = case
    seen = run_middleware(trusted, xff_headers(xff, proto), peer)
    assert (seen["client"], seen["scheme"]) == (client, scheme)
    assert (client, scheme) != (uv_client, uv_scheme)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1.2.3.4", ("1.2.3.4", 0)),
        ("1.2.3.4:80", ("1.2.3.4", 80)),
        ("[::1]:8080", ("::1", 8080)),
        ("::1", ("::1", 0)),
        ("[::1]:", ("::1", 0)),
        ("[::1]:99999", ("::1", 0)),
        ("a:b:c", ("a:b:c", 0)),
        ("", ("", 0)),
    ],
)
def test_split_host_port(value, expected):
    assert split_host_port(value) == expected


def test_websocket_scope_gets_ws_schemes():
    headers = xff_headers(["203.0.113.7"], ["https"])
    seen = run_middleware("127.0.0.1", headers, PEER, kind="websocket")
    assert (seen["client"], seen["scheme"]) == (("203.0.113.7", 0), "wss")
    trust = ProxyTrust(["127.0.0.1"])
    assert trust.apply(headers, PEER, "ws", websocket=True) == (("203.0.113.7", 0), "wss")


def test_middleware_copies_the_scope_and_passes_lifespan():
    scope: dict[str, Any] = {
        "type": "http",
        "client": PEER,
        "scheme": "http",
        "headers": [(b"x-forwarded-for", b"203.0.113.7")],
    }
    seen: list[dict[str, Any]] = []

    async def app(inner: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(inner)

    middleware = ProxyHeadersMiddleware(app)  # type: ignore[arg-type]
    asyncio.run(middleware(scope, None, None))  # type: ignore[arg-type]
    assert seen[0]["client"] == ("203.0.113.7", 0)
    assert scope["client"] == PEER  # the caller's scope is untouched
    lifespan = {"type": "lifespan"}
    asyncio.run(middleware(lifespan, None, None))  # type: ignore[arg-type]
    assert seen[1] is lifespan


def test_middleware_default_trusts_ipv6_loopback():
    scope_seen: list[Any] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope_seen.append(scope["client"])

    middleware = ProxyHeadersMiddleware(app)  # type: ignore[arg-type]
    for peer in (("::1", 1), ("127.0.0.1", 1), ("10.0.0.1", 1)):
        scope = {"type": "http", "client": peer, "headers": [(b"x-forwarded-for", b"1.1.1.1")]}
        asyncio.run(middleware(scope, None, None))  # type: ignore[arg-type]
    assert scope_seen == [("1.1.1.1", 0), ("1.1.1.1", 0), ("10.0.0.1", 1)]


# --- UNIX-socket peers and --forwarded-allow-ips entries


def test_unix_entries():
    any_unix = ProxyTrust("unix:")
    assert any_unix.trusts_unix("/run/a.sock") and any_unix.trusts_unix(None)
    one = ProxyTrust("unix:/run/a.sock, /run/b.sock")
    assert one.trusts_unix("/run/a.sock") and one.trusts_unix("/run/b.sock")
    assert not one.trusts_unix("/run/c.sock") and not one.trusts_unix(None)
    assert not ProxyTrust("127.0.0.1").trusts_unix("/run/a.sock")
    assert ProxyTrust("*").trusts_unix(None)
    # uvicorn keeps such entries as literals too: a client host spelled the same way matches.
    assert one.is_trusted("/run/b.sock")


def test_middleware_trusts_unix_peer_by_server_path():
    headers = [(b"x-forwarded-for", b"203.0.113.7")]
    seen: list[Any] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope["client"])

    for trusted in ("unix:/run/app.sock", "unix:", "127.0.0.1"):
        scope = {
            "type": "http",
            "client": None,
            "server": ("/run/app.sock", None),
            "headers": headers,
        }
        asyncio.run(ProxyHeadersMiddleware(app, trusted)(scope, None, None))  # type: ignore[arg-type]
    assert seen == [("203.0.113.7", 0), ("203.0.113.7", 0), None]


def test_ips_cidrs_and_literals():
    trust = ProxyTrust(["127.0.0.1", "10.0.0.0/8", "::1", "[2001:db8::1]", "unix-peer"])
    assert trust.is_trusted("127.0.0.1")
    assert trust.is_trusted("10.1.2.3")
    assert trust.is_trusted("::1")
    assert trust.is_trusted("0:0:0:0:0:0:0:1")  # compared as addresses, not strings
    assert trust.is_trusted("2001:db8::1")
    assert trust.is_trusted("unix-peer")
    assert not trust.is_trusted("11.0.0.1")
    assert not trust.is_trusted("not-an-ip")
    assert not trust.is_trusted(None)


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "300.1.1.1", "1.2.3", "10.0.0.1:8080", "fe80::g"])
def test_bad_entries_name_the_option(entry):
    with pytest.raises(ConfigError, match="--forwarded-allow-ips"):
        ProxyTrust([entry])


def test_config_default_and_environment(monkeypatch):
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    assert Config(app="x:y").trusted_proxies == ["127.0.0.1", "::1"]
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.1, unix:/run/x.sock")
    assert Config(app="x:y").trusted_proxies == ["10.0.0.1", "unix:/run/x.sock"]
    assert Config(app="x:y", forwarded_allow_ips="*").trusted_proxies == ["*"]
    with pytest.raises(ConfigError, match=r"--forwarded-allow-ips: '1\.2\.3' is not"):
        Config(app="x:y", forwarded_allow_ips="1.2.3")


# --- RFC 7239 Forwarded


@pytest.mark.parametrize(
    ("line", "elements"),
    [
        # RFC 7239 §4 examples.
        ('for="_gazonk"', [{"for": "_gazonk"}]),
        ('For="[2001:db8:cafe::17]:4711"', [{"for": "[2001:db8:cafe::17]:4711"}]),
        (
            "for=192.0.2.60;proto=http;by=203.0.113.43",
            [{"for": "192.0.2.60", "proto": "http", "by": "203.0.113.43"}],
        ),
        ("for=192.0.2.43, for=198.51.100.17", [{"for": "192.0.2.43"}, {"for": "198.51.100.17"}]),
        # §7.4 (several proxies, one line; also without OWS after the comma).
        (
            "for=192.0.2.43,for=198.51.100.17;by=203.0.113.60;proto=http;host=example.com",
            [
                {"for": "192.0.2.43"},
                {
                    "for": "198.51.100.17",
                    "by": "203.0.113.60",
                    "proto": "http",
                    "host": "example.com",
                },
            ],
        ),
        (
            'for=192.0.2.43, for="[2001:db8:cafe::17]", for=unknown',
            [
                {"for": "192.0.2.43"},
                {"for": "[2001:db8:cafe::17]"},
                {"for": "unknown"},
            ],
        ),
        # quoted-pair (RFC 9110 §5.6.4), a comma and semicolon inside a quoted string.
        (r'for="_a\"b";host="x,y;z"', [{"for": '_a"b', "host": "x,y;z"}]),
        # Empty elements and empty pairs are allowed and dropped.
        (" , for=1.2.3.4;;proto=https ,", [{"for": "1.2.3.4", "proto": "https"}]),
        ("", []),
    ],
)
def test_parse_forwarded(line, elements):
    assert parse_forwarded(line) == elements


@pytest.mark.parametrize(
    "line",
    [
        "for=1.2.3.4;for=5.6.7.8",  # §4: a parameter at most once per element
        'for="unterminated',
        "for 1.2.3.4",
        "for=1.2.3.4 x",
        "for=a=b",
        "=1.2.3.4",
        'for="[::1]":80',
        "for=[::1]",  # IPv6 must be quoted (":" is not a token character)
    ],
)
def test_parse_forwarded_rejects(line):
    assert parse_forwarded(line) is None


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        ("192.0.2.43", ("192.0.2.43", 0)),
        ("192.0.2.43:47011", ("192.0.2.43", 47011)),
        ("[2001:db8:cafe::17]", ("2001:db8:cafe::17", 0)),
        ("[2001:db8:cafe::17]:47011", ("2001:db8:cafe::17", 47011)),
        ("192.0.2.43:_p0rt", ("192.0.2.43", 0)),  # obfuscated port (§6.3)
        ("unknown", ("", 0)),  # §6.2
        ("UNKNOWN", ("", 0)),
        ("_hidden", ("", 0)),  # §6.3
        ("_SEVKISEK", ("", 0)),
        ("unknown:1234", ("", 0)),
        ("2001:db8::1", None),  # IPv6 without brackets is not a node
        ("300.1.1.1", None),
        ("[1.2.3.4]", None),
        ("example.com", None),
        ("192.0.2.43:99999", ("192.0.2.43", 0)),
        ("_", None),
        ("", None),
    ],
)
def test_parse_node(node, expected):
    assert parse_node(node) == expected


def forwarded(trusted: str, lines: list[str], peer: Any = PEER, host: bytes = b"internal:8000"):
    headers = [(b"host", host)] + [(b"forwarded", line.encode()) for line in lines]
    seen = run_middleware(trusted, headers, peer, forwarded=True)
    hosts = [v for n, v in seen["headers"] if n == b"host"]
    assert len(hosts) == 1
    return seen["client"], seen["scheme"], hosts[0].decode()


@pytest.mark.parametrize(
    ("trusted", "lines", "expected"),
    [
        # A client's forged element stays on the left of the proxy's.
        (
            "127.0.0.1",
            ["for=6.6.6.6", "for=203.0.113.7"],
            (("203.0.113.7", 0), "http", "internal:8000"),
        ),
        (
            "127.0.0.1",
            ["for=6.6.6.6, for=203.0.113.7;proto=https;host=example.com"],
            (("203.0.113.7", 0), "https", "example.com"),
        ),
        # §7.4: the first proxy is trusted, so the client is the element on its left; proto and
        # host come from the client's own element (none there).
        (
            "127.0.0.1,198.51.100.17",
            ["for=192.0.2.43,for=198.51.100.17;by=203.0.113.60;proto=http;host=example.com"],
            (("192.0.2.43", 0), "http", "internal:8000"),
        ),
        (
            "127.0.0.1",
            ["for=192.0.2.43,for=198.51.100.17;by=203.0.113.60;proto=https;host=example.com"],
            (("198.51.100.17", 0), "https", "example.com"),
        ),
        # Quoted IPv6 with brackets and a port.
        (
            "127.0.0.1",
            ['for="[2001:db8:cafe::17]:4711";proto=https;host="example.com:8443"'],
            (("2001:db8:cafe::17", 4711), "https", "example.com:8443"),
        ),
        ("127.0.0.1", ['for="192.0.2.43:47011"'], (("192.0.2.43", 47011), "http", "internal:8000")),
        # Obfuscated or unknown first untrusted hop: the walk ends, the client stays the peer,
        # and that element's proto/host (written by a trusted proxy) apply.
        (
            "127.0.0.1",
            ['for=6.6.6.6, for="_hidden";proto=https;host=a.example'],
            (PEER, "https", "a.example"),
        ),
        ("127.0.0.1", ["for=6.6.6.6, for=unknown;proto=https"], (PEER, "https", "internal:8000")),
        ("127.0.0.1", ["for=6.6.6.6, proto=https"], (PEER, "https", "internal:8000")),
        # A line that breaks the grammar ends the walk with nothing applied, but cannot swallow
        # the line a proxy added after it.
        (
            "127.0.0.1",
            ['for="6.6.6.6', "for=203.0.113.7;proto=https"],
            (("203.0.113.7", 0), "https", "internal:8000"),
        ),
        (
            "127.0.0.1,203.0.113.7",
            ['for="6.6.6.6', "for=203.0.113.7;proto=https"],
            (PEER, "http", "internal:8000"),
        ),
        ("127.0.0.1", ["for=example.com;proto=https"], (PEER, "http", "internal:8000")),
        # Every node trusted: the leftmost element.
        ("*", ["for=1.1.1.1;proto=https, for=2.2.2.2"], (("1.1.1.1", 0), "https", "internal:8000")),
        # Untrusted peer: nothing.
        (
            "10.0.0.1",
            ["for=6.6.6.6;proto=https;host=evil.example"],
            (PEER, "http", "internal:8000"),
        ),
        # A host that is not a Host value, and a proto that is not ours, are ignored.
        (
            "127.0.0.1",
            ['for=1.1.1.1;host="a b";proto=gopher'],
            (("1.1.1.1", 0), "http", "internal:8000"),
        ),
    ],
)
def test_forwarded_walk(trusted, lines, expected):
    assert forwarded(trusted, lines) == expected


def test_forwarded_mode_ignores_x_forwarded_and_vice_versa():
    headers = [
        (b"x-forwarded-for", b"6.6.6.6"),
        (b"x-forwarded-proto", b"https"),
        (b"forwarded", b"for=203.0.113.7"),
    ]
    seen = run_middleware("127.0.0.1", list(headers), PEER, forwarded=True)
    assert (seen["client"], seen["scheme"]) == (("203.0.113.7", 0), "http")
    seen = run_middleware("127.0.0.1", list(headers), PEER)
    assert (seen["client"], seen["scheme"]) == (("6.6.6.6", 0), "https")


def test_forwarded_host_replaces_every_host_field_in_place():
    headers = [(b"host", b"a"), (b"accept", b"*/*"), (b"host", b"b"), (b"forwarded", b"host=c")]
    ProxyTrust("127.0.0.1", forwarded=True).apply(headers, PEER, "http")
    assert headers == [(b"host", b"c"), (b"accept", b"*/*"), (b"forwarded", b"host=c")]
    headers = [(b"forwarded", b"host=c")]
    ProxyTrust("127.0.0.1", forwarded=True).apply(headers, PEER, "http")
    assert headers == [(b"forwarded", b"host=c"), (b"host", b"c")]


# --- No spoofing, whatever the client sends (Hypothesis)

_client_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
_real_clients = st.sampled_from(["203.0.113.7", "198.51.100.1", "2001:db8::5"])


@settings(max_examples=300, deadline=None)
@given(sent=st.lists(_client_text, max_size=4), real=_real_clients, hops=st.integers(0, 3))
def test_x_forwarded_for_cannot_be_spoofed(sent, real, hops):
    """Whatever X-Forwarded-For lines a client sends, the proxies' appended entries decide:
    the client is the real address the first proxy saw."""
    trust = ProxyTrust("127.0.0.1,10.0.0.0/8")
    proxies = [real] + [f"10.0.0.{i + 1}" for i in range(hops)]
    headers = [(b"x-forwarded-for", line.encode()) for line in sent]
    headers.append((b"x-forwarded-for", ", ".join(proxies).encode()))
    assert trust.apply(headers, PEER, "http") == ((real, 0), "http")


@settings(max_examples=300, deadline=None)
@given(sent=st.lists(_client_text, max_size=4), real=_real_clients)
def test_forwarded_cannot_be_spoofed(sent, real):
    """Whatever Forwarded lines a client sends (malformed ones included), the line its proxy
    adds decides."""
    trust = ProxyTrust("127.0.0.1", forwarded=True)
    node = f'"[{real}]"' if ":" in real else real
    headers = [(b"forwarded", line.encode()) for line in sent]
    headers.append((b"forwarded", f"for={node};proto=https".encode()))
    assert trust.apply(headers, PEER, "http") == ((real, 0), "https")
