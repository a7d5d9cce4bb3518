"""The PROXY protocol parser (pounce/proxy_protocol.py): every v1 and v2 form of HAProxy's
specification, malformed headers byte by byte, and the same answer however the bytes are
split."""

from __future__ import annotations

import ipaddress
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pounce.proxy_protocol import (
    MAX_V1_LENGTH,
    MAX_V2_LENGTH,
    V2_SIGNATURE,
    ProxyHeader,
    Rejected,
    parse,
)

pytestmark = pytest.mark.timeout(60)

REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def v2(
    *,
    command: int = 1,
    family: int = 1,
    transport: int = 1,
    body: bytes = b"",
    length: int | None = None,
    version: int = 2,
) -> bytes:
    size = len(body) if length is None else length
    return (
        V2_SIGNATURE
        + bytes([version << 4 | command, family << 4 | transport])
        + struct.pack("!H", size)
        + body
    )


def inet(src: str, dst: str, sport: int, dport: int) -> bytes:
    return (
        ipaddress.ip_address(src).packed
        + ipaddress.ip_address(dst).packed
        + struct.pack("!HH", sport, dport)
    )


def tlv(kind: int, value: bytes) -> bytes:
    return bytes([kind]) + struct.pack("!H", len(value)) + value


def feed(data: bytes, cuts: list[int]) -> ProxyHeader | Rejected | None:
    """What a reader gets feeding ``data`` in pieces cut at ``cuts``: the first answer that is
    not None, parsing what has accumulated after each piece."""
    buffer = b""
    start = 0
    for end in [*sorted(set(cuts)), len(data)]:
        buffer += data[start:end]
        start = end
        result = parse(buffer)
        if result is not None:
            return result
    return None


VALID = [
    (b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n", ("192.0.2.1", 56324),
     ("198.51.100.2", 443)),
    (b"PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n", ("2001:db8::1", 1),
     ("2001:db8::2", 65535)),
    (b"PROXY TCP4 10.0.0.1 10.0.0.2 0 0\r\n", ("10.0.0.1", 0), ("10.0.0.2", 0)),
    (v2(body=inet("192.0.2.1", "198.51.100.2", 56324, 443)), ("192.0.2.1", 56324),
     ("198.51.100.2", 443)),
    (v2(family=2, body=inet("2001:db8::1", "2001:db8::2", 5, 6)), ("2001:db8::1", 5),
     ("2001:db8::2", 6)),
    # TLVs (ALPN, authority, a NOOP padding, a custom type) are skipped.
    (
        v2(body=inet("192.0.2.9", "192.0.2.10", 7, 8) + tlv(1, b"h2") + tlv(2, b"example.com")
           + tlv(4, b"\0" * 5) + tlv(0xEA, b"vpce-0123") + tlv(3, b"")),
        ("192.0.2.9", 7),
        ("192.0.2.10", 8),
    ),
    # Keep the peer's address: v1 UNKNOWN (the rest of the line ignored), v2 LOCAL (its
    # address block ignored), AF_UNSPEC, AF_UNIX.
    (b"PROXY UNKNOWN\r\n", None, None),
    (b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", None, None),
    (v2(command=0, family=0, transport=0), None, None),
    (v2(command=0, body=inet("192.0.2.1", "192.0.2.2", 1, 2)), None, None),
    (v2(family=0, transport=0, body=b"ignored"), None, None),
    (v2(family=3, body=b"/src".ljust(108, b"\0") + b"/dst".ljust(108, b"\0")), None, None),
]  # fmt: skip


@pytest.mark.parametrize(("header", "client", "server"), VALID)
def test_valid_headers(
    header: bytes, client: tuple[str, int] | None, server: tuple[str, int] | None
) -> None:
    result = parse(header + REQUEST)
    assert isinstance(result, ProxyHeader), result
    assert result.consumed == len(header)
    assert (result.client, result.server) == (client, server)
    assert result.version == (1 if header.startswith(b"PROXY") else 2)


@pytest.mark.parametrize(("header", "client", "server"), VALID)
def test_each_prefix_needs_more(
    header: bytes, client: tuple[str, int] | None, server: tuple[str, int] | None
) -> None:
    for end in range(len(header)):
        assert parse(header[:end]) is None, end


MALFORMED = [
    b"PROXY TCP4 192.0.2.1 198.51.100.2 56324\r\n",  # a field missing
    b"PROXY TCP4  192.0.2.1 198.51.100.2 1 2\r\n",  # two spaces
    b"PROXY TCP5 192.0.2.1 198.51.100.2 1 2\r\n",
    b"PROXY tcp4 192.0.2.1 198.51.100.2 1 2\r\n",
    b"PROXY TCP4 2001:db8::1 198.51.100.2 1 2\r\n",  # IPv6 under TCP4
    b"PROXY TCP6 192.0.2.1 2001:db8::2 1 2\r\n",
    b"PROXY TCP4 192.0.2.256 198.51.100.2 1 2\r\n",
    b"PROXY TCP4 192.0.2.01 198.51.100.2 1 2\r\n",  # a leading zero
    b"PROXY TCP4 192.0.2.1 198.51.100.2 65536 2\r\n",
    b"PROXY TCP4 192.0.2.1 198.51.100.2 -1 2\r\n",
    b"PROXY TCP4 192.0.2.1 198.51.100.2 1 +2\r\n",
    b"PROXY TCP4 192.0.2.1 198.51.100.2 1 2 \r\n",
    b"PROXY TCP4 \xff.0.2.1 198.51.100.2 1 2\r\n",
    b"PROXY \r\n",
    v2(version=1, body=inet("192.0.2.1", "192.0.2.2", 1, 2)),
    v2(version=3, body=inet("192.0.2.1", "192.0.2.2", 1, 2)),
    v2(command=2, body=inet("192.0.2.1", "192.0.2.2", 1, 2)),
    v2(command=0xF, body=inet("192.0.2.1", "192.0.2.2", 1, 2)),
    v2(family=4, body=inet("192.0.2.1", "192.0.2.2", 1, 2)),
    v2(transport=3, body=inet("192.0.2.1", "192.0.2.2", 1, 2)),
    v2(body=b"\x01" * 11),  # shorter than the AF_INET block
    v2(family=2, body=inet("192.0.2.1", "192.0.2.2", 1, 2)),  # shorter than AF_INET6
    v2(family=3, body=b"\0" * 215),
    # TLVs that do not fit the announced length.
    v2(body=inet("192.0.2.1", "192.0.2.2", 1, 2) + b"\x01\x00"),
    v2(body=inet("192.0.2.1", "192.0.2.2", 1, 2) + b"\x01\x00\x05abcd"),
    v2(body=inet("192.0.2.1", "192.0.2.2", 1, 2) + tlv(1, b"h2") + b"\x02\xff\xff"),
]


@pytest.mark.parametrize("header", MALFORMED)
def test_malformed_byte_by_byte(header: bytes) -> None:
    """Fed one byte at a time, a malformed header is refused (never accepted, never a wait
    for bytes that would not help), with the same answer as all at once."""
    whole = parse(header + REQUEST)
    assert isinstance(whole, Rejected) and whole.kind == "malformed", whole
    assert feed(header + REQUEST, list(range(len(header) + len(REQUEST)))) == whole


@pytest.mark.parametrize(
    "data",
    [
        REQUEST,  # plain HTTP/1.1
        b"POST / HTTP/1.1\r\n",  # shares its first byte with "PROXY"
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",  # the HTTP/2 preface
        b"\x16\x03\x01\x02\x00\x01",  # a TLS ClientHello
        b"\r\n\r\n\x00\r\nQUIX\n",  # almost the v2 signature
        b"proxy TCP4 1.2.3.4 1.2.3.4 1 2\r\n",
    ],
)
def test_missing_header(data: bytes) -> None:
    whole = parse(data)
    assert isinstance(whole, Rejected) and whole.kind == "missing", whole
    assert feed(data, list(range(len(data)))) == whole


def test_oversized_v1_line() -> None:
    # 107 bytes is the longest line, CRLF included: a longer one is refused at byte 107.
    longest = b"PROXY UNKNOWN " + b"x" * (MAX_V1_LENGTH - 16) + b"\r\n"
    assert len(longest) == MAX_V1_LENGTH
    assert parse(longest) == ProxyHeader(MAX_V1_LENGTH, 1)
    longer = b"PROXY UNKNOWN " + b"x" * (MAX_V1_LENGTH - 15) + b"\r\n"
    result = parse(longer)
    assert isinstance(result, Rejected) and result.kind == "oversized"
    assert parse(longer[:MAX_V1_LENGTH]) == result  # decided without waiting for more
    assert parse(longer[: MAX_V1_LENGTH - 1]) is None


def test_oversized_v2_length() -> None:
    """A v2 length above the bound is refused from the 16 fixed bytes alone."""
    header = v2(command=0, length=MAX_V2_LENGTH + 1)
    result = parse(header)
    assert isinstance(result, Rejected) and result.kind == "oversized"
    largest = parse(v2(command=0, length=0xFFFF))
    assert isinstance(largest, Rejected) and largest.kind == "oversized"
    fits = v2(command=0, body=b"\0" * MAX_V2_LENGTH)
    assert parse(fits) == ProxyHeader(len(fits), 2)


ANY_HEADER = st.sampled_from([h for h, _, _ in VALID] + MALFORMED)


@settings(max_examples=300, deadline=None)
@given(
    header=ANY_HEADER,
    tail=st.binary(max_size=40),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=12),
)
def test_random_splits_give_the_same_answer(header: bytes, tail: bytes, cuts: list[int]) -> None:
    data = header + tail
    assert feed(data, [c for c in cuts if c < len(data)]) == parse(data)


@settings(max_examples=500, deadline=None)
@given(data=st.binary(max_size=200), cuts=st.lists(st.integers(0, 200), max_size=8))
def test_arbitrary_bytes_any_split(data: bytes, cuts: list[int]) -> None:
    """Whatever the bytes: no exception, and the answer does not depend on the split."""
    assert feed(data, [c for c in cuts if c < len(data)]) == parse(data)


@settings(max_examples=300, deadline=None)
@given(
    body=st.binary(max_size=64),
    command=st.integers(0, 15),
    family=st.integers(0, 15),
    transport=st.integers(0, 15),
    cuts=st.lists(st.integers(0, 100), max_size=8),
)
def test_arbitrary_v2_any_split(
    body: bytes, command: int, family: int, transport: int, cuts: list[int]
) -> None:
    data = v2(command=command, family=family, transport=transport, body=body) + REQUEST
    result = parse(data)
    assert result is not None
    if isinstance(result, ProxyHeader):
        assert result.consumed == 16 + len(body)  # never past the announced length
    assert feed(data, [c for c in cuts if c < len(data)]) == result
