"""Hypothesis strategies for HTTP/1.1 requests: valid, near-valid, mutated, randomly split."""

from __future__ import annotations

from hypothesis import strategies as st

METHODS = [b"GET", b"POST", b"HEAD", b"PUT", b"OPTIONS", b"DELETE", b"get", b"FOO", b"G\x00T"]
TARGETS = [b"/", b"/p?q=1", b"/a%20b", b"*", b"http://h/x", b"h:80", b"/\xff", b"", b"/a b"]
VERSIONS = [b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/0.9", b"http/1.1", b"HTTP/1.1 ", b""]
EOLS = [b"\r\n"] * 8 + [b"\n", b"\r", b"\r\r\n"]
FIELDS = [
    (b"Host", b"h"),
    (b"Host", b""),
    (b"Connection", b"close"),
    (b"Connection", b"keep-alive"),
    (b"Expect", b"100-continue"),
    (b"Transfer-Encoding", b"chunked"),
    (b"Transfer-Encoding", b"gzip, chunked"),
    (b"Transfer-Encoding", b" chunked"),
    (b"Content-Length", b"0"),
    (b"Content-Length", b"3"),
    (b"Content-Length", b"+3"),
    (b"Content-Length", b"3, 3"),
    (b"Content-Length", b"99999999999999999999"),
    (b"X-A", b"a\x00b"),
    (b"X-B", b"caf\xe9"),
    (b"X C", b"1"),
    (b" X-D", b"1"),
    (b"Upgrade", b"h2c"),
    (b"Content-Type", b"text/plain"),
]
CHUNK_SIZES = [b"3", b"0", b"03", b"0x3", b"-3", b"3 ", b"3;e=1", b"3;\r", b"ffffffffffffffffff"]


@st.composite
def chunked_body(draw: st.DrawFn) -> bytes:
    parts = []
    for _ in range(draw(st.integers(0, 3))):
        size = draw(st.sampled_from(CHUNK_SIZES))
        parts.append(size + b"\r\n" + b"abc" + draw(st.sampled_from([b"\r\n", b"\n", b"XX", b""])))
    parts.append(draw(st.sampled_from([b"0\r\n\r\n", b"0\r\nX-T: 1\r\n\r\n", b"0\r\n", b""])))
    return b"".join(parts)


@st.composite
def request(draw: st.DrawFn) -> bytes:
    """One request: mostly well-formed, with near-valid pieces drawn from the lists above."""
    eol = draw(st.sampled_from(EOLS))
    method = draw(st.sampled_from(METHODS))
    target = draw(st.sampled_from(TARGETS))
    version = draw(st.sampled_from(VERSIONS))
    line = b" ".join(p for p in (method, target, version) if p)
    fields = draw(st.lists(st.sampled_from(FIELDS), max_size=5))
    if draw(st.booleans()):
        fields.insert(0, (b"Host", b"h"))
    head = line + eol + b"".join(n + b": " + v + eol for n, v in fields) + eol
    names = {n.lower() for n, _ in fields}
    if b"transfer-encoding" in names:
        body = draw(chunked_body())
    elif b"content-length" in names:
        body = draw(st.sampled_from([b"abc", b"", b"ab", b"abcd"]))
    else:
        body = b""
    return head + body


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
    """A few byte-level mutations: flip, insert, delete, truncate."""
    buf = bytearray(data)
    for _ in range(draw(st.integers(0, 3))):
        if not buf:
            break
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        at = draw(st.integers(0, len(buf) - 1))
        if op == "flip":
            buf[at] = draw(st.sampled_from([0, 9, 10, 13, 32, 0x3A, 0x7F, 0xFF, buf[at] ^ 0x20]))
        elif op == "insert":
            buf[at:at] = draw(st.sampled_from([b"\r\n", b"\n", b"\x00", b" ", b":", b"0\r\n"]))
        elif op == "delete":
            del buf[at]
        else:
            del buf[at:]
    return bytes(buf)


@st.composite
def split(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """``data`` cut at random points (as TCP may deliver it)."""
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=6)))
    chunks, pos = [], 0
    for cut in [*cuts, len(data)]:
        if cut > pos:
            chunks.append(data[pos:cut])
            pos = cut
    return chunks


@st.composite
def request_stream(draw: st.DrawFn) -> list[bytes]:
    """One to three requests, possibly mutated, delivered in random pieces."""
    data = b"".join(draw(st.lists(request(), min_size=1, max_size=3)))
    if draw(st.booleans()):
        data = draw(mutated(data))
    return draw(split(data))
