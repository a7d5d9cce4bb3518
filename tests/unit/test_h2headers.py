"""RFC 9113 §8.2/§8.3 request header checks: each malformed block is refused."""

from __future__ import annotations

import pytest

from pounce.http2.request_headers import MalformedHeaders, check_trailers, split_request_headers

BASE = [
    (b":method", b"GET"),
    (b":scheme", b"https"),
    (b":authority", b"a.example"),
    (b":path", b"/"),
]


def test_valid_request_split() -> None:
    pseudo, regular = split_request_headers([*BASE, (b"accept", b"*/*"), (b"te", b"trailers")])
    assert pseudo == {
        b":method": b"GET",
        b":scheme": b"https",
        b":authority": b"a.example",
        b":path": b"/",
    }
    assert regular == [(b"accept", b"*/*"), (b"te", b"trailers")]


@pytest.mark.parametrize(
    "headers",
    [
        [(b":method", b"CONNECT"), (b":authority", b"h:443")],
        [
            (b":method", b"CONNECT"),
            (b":protocol", b"websocket"),
            (b":scheme", b"https"),
            (b":authority", b"a.example"),
            (b":path", b"/chat"),
        ],
        [*BASE, (b"host", b"a.example")],
        [(b":method", b"OPTIONS"), (b":scheme", b"http"), (b":path", b"*")],
        [*BASE, (b"x-empty", b"")],
    ],
)
def test_accepted(headers) -> None:
    split_request_headers(headers)


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ([*BASE, (b"Accept", b"x")], "upper-case name (§8.2.1)"),
        ([*BASE, (b"", b"x")], "empty name"),
        ([*BASE, (b"x y", b"x")], "space in name"),
        ([*BASE, (b"x:y", b"x")], "colon in name"),
        ([*BASE, (b"x", b"a\r\nb")], "CRLF in value"),
        ([*BASE, (b"x", b"a\x00b")], "NUL in value"),
        ([*BASE, (b"x", b" a")], "leading space"),
        ([*BASE, (b"x", b"a\t")], "trailing tab"),
        ([*BASE, (b"connection", b"close")], "connection-specific (§8.2.2)"),
        ([*BASE, (b"transfer-encoding", b"chunked")], "transfer-encoding"),
        ([*BASE, (b"upgrade", b"h2c")], "upgrade"),
        ([*BASE, (b"keep-alive", b"5")], "keep-alive"),
        ([*BASE, (b"te", b"gzip")], "te other than trailers"),
        ([(b"accept", b"x"), *BASE], "pseudo after regular (§8.3)"),
        ([*BASE, (b":path", b"/again")], "duplicate pseudo"),
        ([*BASE, (b":status", b"200")], "response pseudo in a request"),
        ([*BASE, (b":foo", b"x")], "unknown pseudo"),
        (BASE[1:], "no :method"),
        ([BASE[0], BASE[2], BASE[3]], "no :scheme"),
        (BASE[:3], "no :path"),
        ([*BASE[:3], (b":path", b"")], "empty :path"),
        ([(b":method", b"CONNECT"), (b":authority", b"h:443"), (b":path", b"/")], "CONNECT+path"),
        ([(b":method", b"CONNECT")], "CONNECT without authority"),
        ([*BASE, (b":protocol", b"websocket")], ":protocol without CONNECT"),
        ([*BASE, (b"host", b"evil.example")], "host differs from :authority"),
    ],
)
def test_malformed(headers, why) -> None:
    with pytest.raises(MalformedHeaders):
        split_request_headers(headers)


def test_trailers() -> None:
    check_trailers([(b"x-checksum", b"abc")])
    for bad in ([(b":path", b"/")], [(b"X", b"y")], [(b"connection", b"close")]):
        with pytest.raises(MalformedHeaders):
            check_trailers(bad)
