"""Fuzz the HTTP/1.1 request path: both parsers, through the real protocol class.

The class is the best available twin (compiled in the normal run, pure under
``POUNCE_NO_EXTENSIONS=1``), so the suite's two runs cover both. The invariant is checked by
``harness.run_h1``: requests the app saw are answered with well-formed responses in order,
an error response is last and followed by a close, no exception reaches the event loop, no
error is logged, and after the client disconnects no application call is left running.
"""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from pounce.http1.protocol import H1Protocol

from .conftest import FUZZ
from .h1_grammar import request_stream
from .harness import run_h1

pytestmark = pytest.mark.timeout(120)


@FUZZ
@given(chunks=request_stream())
@example(chunks=[b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"])
@example(chunks=[b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;a\rb\r\n"])
@example(chunks=[b"GET / HTTP/1.1\r\nHost: h\r\n\r\n\x00junk\r\n\r\n"])
@example(chunks=[b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\n\r\nGET / HTTP/1.1\r\n\r\n"])
def test_h1_grammar(h1_parser: str, chunks: list[bytes]) -> None:
    run_h1(H1Protocol, h1_parser, chunks)


@FUZZ
@given(
    prefix=st.sampled_from([b"", b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", b"POST / HTTP/1.1\r\n"]),
    junk=st.binary(max_size=200),
)
def test_h1_random_bytes(h1_parser: str, prefix: bytes, junk: bytes) -> None:
    run_h1(H1Protocol, h1_parser, [prefix + junk])


def test_harness_sees_a_good_exchange(h1_parser: str) -> None:
    statuses, out = run_h1(
        H1Protocol,
        h1_parser,
        [
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
            b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"
        ],
    )
    assert statuses == [200, 200]
    assert out.count(b"\r\n\r\n3") == 1


def test_harness_sees_an_error(h1_parser: str) -> None:
    statuses, _ = run_h1(H1Protocol, h1_parser, [b"GET / HTTP/1.1\r\n\r\n"])
    assert statuses == [400]
