"""HPACK micro benchmark: the compiled codec (pounce._speedups._hpack) against the hpack library.

    python -m bench.hpack_micro        (needs the compiled speedups)

Cases, per operation (best of several timeit runs):
- decode of h2load's request block: the first one on a connection (literals, Huffman strings,
  inserted into a fresh table) and the steady state (every field indexed, as h2load's later
  requests are);
- encode of a hello-world response (:status 200, server, content-type, content-length, date)
  on one connection's encoder, in the steady state.
"""

from __future__ import annotations

import sys
import timeit
from collections.abc import Callable

import hpack
from pounce._speedups._hpack import Decoder, Encoder

# What h2load sends (nghttp2 1.x, h2c prior knowledge, GET /).
REQUEST = [
    (b":method", b"GET"),
    (b":path", b"/"),
    (b":scheme", b"http"),
    (b":authority", b"127.0.0.1:8000"),
    (b"user-agent", b"h2load nghttp2/1.59.0"),
]
RESPONSE = [
    (b"server", b"pounce"),
    (b"content-type", b"text/plain; charset=utf-8"),
    (b"content-length", b"13"),
    (b"date", b"Sun, 22 Nov 2026 15:00:00 GMT"),
]


def best_ns(fn: Callable[[], object], repeat: int = 5) -> float:
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    return min(timer.repeat(repeat=repeat, number=number)) / number * 1e9


def cases() -> list[tuple[str, Callable[[], object], Callable[[], object]]]:
    client = hpack.Encoder()
    first = client.encode(REQUEST)  # literals with incremental indexing, Huffman
    steady = client.encode(REQUEST)  # all indexed
    ours_steady, theirs_steady = Decoder(), hpack.Decoder()
    ours_steady.decode(first)
    theirs_steady.decode(first, raw=True)
    assert ours_steady.decode(steady) == theirs_steady.decode(steady, raw=True) == REQUEST

    ours_enc, theirs_enc = Encoder(), hpack.Encoder()
    theirs_response = [(b":status", b"200"), *RESPONSE]
    ours_enc.encode_response(200, RESPONSE)
    theirs_enc.encode(theirs_response)
    return [
        (
            "decode h2load request, first on a connection",
            lambda: Decoder().decode(first),
            lambda: hpack.Decoder().decode(first, raw=True),
        ),
        (
            "decode h2load request, steady state",
            lambda: ours_steady.decode(steady),
            lambda: theirs_steady.decode(steady, raw=True),
        ),
        (
            "encode hello response, steady state",
            lambda: ours_enc.encode_response(200, RESPONSE),
            lambda: theirs_enc.encode(theirs_response),
        ),
    ]


def main() -> int:
    print(f"{'case':48} {'pounce':>10} {'hpack':>10} {'speedup':>8}")
    for name, ours, theirs in cases():
        ns_ours, ns_theirs = best_ns(ours), best_ns(theirs)
        print(f"{name:48} {ns_ours:8.0f}ns {ns_theirs:8.0f}ns {ns_theirs / ns_ours:7.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
