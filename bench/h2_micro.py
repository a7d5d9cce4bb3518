"""Microbenchmark of the HTTP/2 cores: server-side cost per request, without sockets.

Client bytes for N requests are made up front the way h2load sends them (the preface, SETTINGS,
a large connection window, then HEADERS with END_HEADERS|END_STREAM, the client's HPACK table
indexing repeated fields), fed to a server ``H2Connection`` in batches of ``--streams``
requests, and every request is answered as ``examples/hello.py`` would: HEADERS, one DATA with
END_STREAM, ``remove_stream``, ``data_to_send``. Reported: microseconds per request for the
h2-backed twin and the compiled core, and their ratio (issue 7's target: <= 10%).

    .venv/bin/python -m bench.h2_micro [-n 20000] [--streams 32] [--repeat 5]
"""

from __future__ import annotations

import argparse
import struct
import time
from collections.abc import Callable
from typing import Any

import hpack

from pounce.http2.connection import H2ConnectionPy
from pounce.http2.constants import PREFACE
from pounce.http2.events import H2RequestReceived

REQUEST = [
    (b":method", b"GET"),
    (b":scheme", b"http"),
    (b":authority", b"127.0.0.1:8000"),
    (b":path", b"/"),
    (b"user-agent", b"h2load nghttp2/1.52.0"),
]
RESPONSE_HEADERS = [
    (b"content-type", b"text/plain"),
    (b"content-length", b"12"),
    (b"server", b"pounce"),
]
BODY = b"Hello, world"


def frame(ftype: int, flags: int, stream_id: int, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))[1:]
        + bytes((ftype, flags))
        + struct.pack(">I", stream_id)
        + payload
    )


def client_batches(requests: int, streams: int) -> list[bytes]:
    """The client's bytes: the preface first, then one chunk per batch of ``streams``."""
    encoder = hpack.Encoder()
    head = (
        PREFACE
        + frame(0x4, 0, 0, struct.pack(">HI", 0x4, 2**31 - 1))  # INITIAL_WINDOW_SIZE
        + frame(0x8, 0, 0, struct.pack(">I", 2**31 - 1 - 65535))  # connection window
        + frame(0x4, 0x1, 0, b"")  # ACK of the server's SETTINGS
    )
    batches = [head]
    chunk: list[bytes] = []
    for i in range(requests):
        chunk.append(frame(0x1, 0x5, 1 + 2 * i, encoder.encode(REQUEST)))
        if len(chunk) == streams:
            batches.append(b"".join(chunk))
            chunk = []
    if chunk:
        batches.append(b"".join(chunk))
    return batches


def run(factory: Callable[[], Any], batches: list[bytes]) -> tuple[float, int]:
    """Seconds spent serving every batch, and the number of responses."""
    conn = factory()
    conn.initiate_connection()
    conn.data_to_send()
    served = 0
    out = 0
    start = time.perf_counter()
    for data in batches:
        for event in conn.receive_data(data):
            if type(event) is H2RequestReceived:
                sid = event.stream_id
                conn.send_response_headers(sid, 200, RESPONSE_HEADERS)
                conn.send_data(sid, BODY, end_stream=True)
                conn.remove_stream(sid)
                served += 1
        out += len(conn.data_to_send())
    elapsed = time.perf_counter() - start
    assert out > 0
    return elapsed, served


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--requests", type=int, default=20000)
    parser.add_argument("--streams", type=int, default=32, help="requests per read (h2load -m)")
    parser.add_argument("--repeat", type=int, default=5, help="best of this many runs")
    args = parser.parse_args(argv)
    batches = client_batches(args.requests, args.streams)
    cores: dict[str, Callable[[], Any]] = {"h2 (pure twin)": H2ConnectionPy}
    try:
        from pounce._speedups._h2 import H2Connection as H2ConnectionC  # noqa: PLC0415  # may not be built
    except ImportError as exc:
        print(f"compiled core not available: {exc}")
    else:
        cores["compiled"] = H2ConnectionC
    results: dict[str, float] = {}
    for name, factory in cores.items():
        best = float("inf")
        for _ in range(args.repeat):
            elapsed, served = run(factory, batches)
            assert served == args.requests, (name, served)
            best = min(best, elapsed)
        results[name] = best / args.requests * 1e6
        print(f"{name:16} {results[name]:8.2f} µs/request")
    if len(results) == 2:
        pure, compiled = results.values()
        print(f"compiled / pure  {compiled / pure:8.1%}")


if __name__ == "__main__":
    main()
