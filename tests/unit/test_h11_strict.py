"""The h11 backend's extra strictness (pounce/http1/h11_parser.py), sans I/O.

The chunk-size check hooks h11's ChunkedReader through the private ``Connection._reader``;
the first test fails loudly if a new h11 moves it, instead of the check silently vanishing.
"""

from __future__ import annotations

import pytest

from pounce.errors import BadRequest
from pounce.http1.h11_parser import H11Parser, _StrictChunkedReader

pytestmark = pytest.mark.timeout(10)


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, bytes]] = []

    def on_message_begin(self) -> None:
        self.events.append(("begin", b""))

    def on_url(self, url: bytes) -> None:
        self.events.append(("url", url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self.events.append(("header", name + b": " + value))

    def on_headers_complete(self) -> None:
        self.events.append(("headers_complete", b""))

    def on_body(self, body: bytes) -> None:
        self.events.append(("body", body))

    def on_message_complete(self) -> None:
        self.events.append(("complete", b""))


HEAD = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"


def test_chunked_reader_is_wrapped() -> None:
    parser = H11Parser(Recorder(), 16384)
    parser.feed_data(HEAD)
    assert type(parser._conn._reader) is _StrictChunkedReader


@pytest.mark.parametrize("split", [1, 3, 7, 1000])
def test_valid_chunked_body_in_any_split(split: int) -> None:
    rec = Recorder()
    parser = H11Parser(rec, 16384)
    data = HEAD + b"5;a=b\r\nhello\r\n00A\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n"
    for i in range(0, len(data), split):
        parser.feed_data(data[i : i + split])
    assert b"".join(v for k, v in rec.events if k == "body") == b"hello0123456789"
    assert rec.events[-1] == ("complete", b"")


@pytest.mark.parametrize(
    "body",
    [
        b"5 \r\nhello\r\n0\r\n\r\n",
        b"5;a\rb\r\nhello\r\n0\r\n\r\n",
        b"5;a\x00\r\nhello\r\n0\r\n\r\n",
        b"10000000000000000\r\n",
        b"0\r\nContent-Length: 1\r\n\r\n",
    ],
)
def test_loose_chunk_lines_and_framing_trailers_are_refused(body: bytes) -> None:
    parser = H11Parser(Recorder(), 16384)
    with pytest.raises(BadRequest) as info:
        parser.feed_data(HEAD + body)
    assert info.value.status == 400


@pytest.mark.parametrize(
    "head",
    [
        b"GET / HTTP/1.1\nHost: x\n\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x01\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 1\r\n\r\na",
        b"POST / HTTP/1.1\r\nContent-Length: 1,1\r\nHost: x\r\n\r\na",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1,1\r\n\r\na",
        b"GET x:80 HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
)
def test_loose_heads_are_refused(head: bytes) -> None:
    rec = Recorder()
    with pytest.raises(BadRequest) as info:
        H11Parser(rec, 16384).feed_data(head)
    assert info.value.status == 400
    # The protocol saw the request begin (h11 reports it at the first byte, as llhttp does,
    # for --timeout-request-header) but never its target or fields.
    assert rec.events == [("begin", b"")]
