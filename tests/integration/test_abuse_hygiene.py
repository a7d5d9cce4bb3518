"""Resource hygiene under abuse: 10,000 misbehaving connections against one worker.

Each connection misbehaves in one of the ways below (bounded concurrency, 200 at a time).
Afterwards the worker's open file descriptors and resident memory must be back within 10 % of
what they were after a warm-up of the same abuse, and a normal request still works.
This catches a leaked socket, task, timer, buffer or per-connection registry entry.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import struct
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import hpack
import httpx
import pytest
from hyperframe.frame import DataFrame, HeadersFrame, SettingsFrame

from pounce.http2.constants import PREFACE
from tests.h2support import StreamResult, decode_streams, goaway_frames
from tests.support import PounceProcess

# Up to 30,000 connections (the capped warm-up and the measured 10,000), about 75 s here;
# 40-55 s is usual. The rest of the timeout is room for a loaded CI machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

TOTAL = 10_000
# The warm-up runs rounds of the same abuse until the worker's RSS is stable: three rounds in
# a row that each grow it by less than WARMUP_STABLE (two were not enough on 3.13: once its
# RSS stood still for two rounds at 45 MiB, then rose to its usual 47.6 MiB plateau during
# the measured 10,000, +9.3 %). Memory that the allocators keep once they have it (pymalloc
# arenas, glibc's heap and per-thread arenas, uvloop's and the h2 library's caches) is then
# taken, so the 10,000 measured connections show only what they leave behind. How many rounds
# that takes depends on the Python: 3.13's RSS plateaus later than 3.11's. The cap bounds
# the time; a worker still growing at the cap goes on to the measurement, which then fails
# if it keeps growing.
# Each reading follows a full collection in the worker (the app's /gc), and the measured 10,000
# run in rounds like the warm-up's: what waits for the cyclic collector is not left behind,
# and when the collector runs differs between Pythons.
# 3.13 starts a collection after 2,000 allocations (700 before) and runs the oldest generation
# only when it has grown by a quarter: without the collection its RSS grew 1.6-6 % in the
# measured 10,000 (0.1-1.3 % on 3.11), mostly closed HTTP/1.1 connections kept alive by the
# cycle between the protocol and its parser's callbacks (now broken when a connection closes,
# asserted below: pounce/http1/_protocol.py, _release_parser).
# A leak cannot hide in the warm-up: L bytes per connection grow each round by 2,000 L, not
# below 1 % of a ~45 MiB worker when L >= 1 KiB, so the warm-up runs to the cap (20,000
# connections, 20,000 L more in rss0) and the 10,000 measured ones add 10,000 L. That fails
# the 10 % bound once 10,000 L > 0.1 (R + 20,000 L), i.e. L > R / 80,000: about 600 bytes
# for the plateau R of 44-48 MiB measured on 3.11 and 3.13 compiled, 650 for 3.11 pure (50
# MiB). Checked: with 1 KiB kept per accepted connection (os.urandom(1024) appended to a list
# in the server's protocol factory) 3.11 compiled reached the cap still growing and failed,
# VmRSS 66700 -> 76868 KiB (+15.2 %).
WARMUP_ROUND = 2_000
WARMUP_STABLE = 0.01
WARMUP_STABLE_ROUNDS = 3
WARMUP_MAX_ROUNDS = 10
CONCURRENCY = 200
# Not shorter: with 200 connections at a time on a loaded 2-core machine, this test's own
# client sometimes takes 0.25 s to see its connect complete and send the request, and a
# server may close a connection idle that long (RFC 9112 §9.6). With 0.2 s, 4 of 29 runs
# failed that way (measured: the client's connect took ~0.25 s, and the server's socket held
# no byte when it closed; a request already waiting there is never dropped, pounce/state.py).
KEEP_ALIVE = 1.0
SLOW = 1.0  # --timeout-request-header and --timeout-request-body
H = b"Host: x\r\n"
# A TLS 1.2 ClientHello's first bytes: garbage to an HTTP/1.1 parser.
TLS_HELLO = bytes.fromhex("160301020001000" + "1fc0303") + os.urandom(64)
WS_UPGRADE = (
    b"GET /ws HTTP/1.1\r\n" + H + b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)

Abuse = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _until_closed(reader: asyncio.StreamReader, timeout: float = 10.0) -> bytes:
    """Read until the server closes; what it sent (a reset counts as a close)."""

    async def read_all() -> bytes:
        data = b""
        try:
            while chunk := await reader.read(65536):
                data += chunk
        except ConnectionResetError:
            pass
        return data

    # wait_for, not asyncio.timeout: the suite runs on Python 3.10 too (ci/test-versions).
    return await asyncio.wait_for(read_all(), timeout)


async def malformed_request_line(reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    w.write(b"GARBAGE / \x00HTTP/1.1\r\n" + H + b"\r\n")
    assert (await _until_closed(reader)).startswith(b"HTTP/1.1 400 ")


async def oversized_head(reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    w.write(b"GET / HTTP/1.1\r\n" + H + b"X-Big: " + b"a" * 20_000 + b"\r\n\r\n")
    assert (await _until_closed(reader)).startswith(b"HTTP/1.1 431 ")


async def abrupt_close_mid_head(reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    w.write(b"GET / HTTP/1.1\r\nHost: x\r\nX-Partial: ab")
    await w.drain()
    _reset(w)


async def abrupt_close_mid_body(reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    w.write(b"POST /echo HTTP/1.1\r\n" + H + b"Content-Length: 100000\r\n\r\n" + b"x" * 5000)
    await w.drain()
    await asyncio.sleep(0.01)  # let the app start reading
    _reset(w)


async def idle_until_keep_alive(reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    assert await _until_closed(reader) == b""  # closed by --timeout-keep-alive


async def idle_after_a_request(reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    w.write(b"GET / HTTP/1.1\r\n" + H + b"\r\n")
    assert (await _until_closed(reader)).startswith(b"HTTP/1.1 200 ")


async def tls_to_http_port(reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    w.write(TLS_HELLO)
    assert (await _until_closed(reader)).startswith(b"HTTP/1.1 400 ")


async def h2_preface_then_garbage(reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    w.write(PREFACE + b"\xff" * 30)
    data = await _until_closed(reader)
    assert b"\x07\x00\x00\x00\x00\x00" in data  # a GOAWAY frame (type 7 on stream 0)


def _h2_request(method: bytes, end_headers: bool, end_stream: bool) -> bytes:
    """The preface, SETTINGS and a request's HEADERS frame on stream 1 (cut short if it does
    not end the header block)."""
    block = hpack.Encoder().encode(
        [(b":method", method), (b":scheme", b"http"), (b":path", b"/echo"), (b":authority", b"x")]
    )
    flags = (["END_HEADERS"] if end_headers else []) + (["END_STREAM"] if end_stream else [])
    headers = HeadersFrame(1, flags=flags)
    headers.data = block if end_headers else block[:5]
    return PREFACE + SettingsFrame(0).serialize() + headers.serialize()


async def h2_head_never_finished(reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    w.write(_h2_request(b"GET", end_headers=False, end_stream=True))
    data = await _until_closed(reader)  # --timeout-request-header
    assert decode_streams(data)[1].status == 408
    assert goaway_frames(data) == [(1, 0)]


async def h2_body_stalls(reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    w.write(
        _h2_request(b"POST", end_headers=True, end_stream=False) + DataFrame(1, b"abc").serialize()
    )

    async def read_until_stream_1_ends() -> dict[int, StreamResult]:
        data = b""
        while not (1 in (streams := decode_streams(data)) and streams[1].ended):
            chunk = await reader.read(65536)
            assert chunk, data
            data += chunk
        return streams

    # --timeout-request-body answers; the connection stays open.
    streams = await asyncio.wait_for(read_until_stream_1_ends(), 10)
    assert streams[1].status == 408
    _reset(w)


async def ws_upgrade_then_garbage(reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    w.write(WS_UPGRADE + b"\x83\x00" + b"\xff" * 20)  # reserved opcode 0x3, unmasked
    data = await _until_closed(reader)
    head, _, frames = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 "), data[:300]
    # One close frame with 1002, protocol error (RFC 6455 §7.4.1).
    assert frames[:1] == b"\x88" and frames[2:4] == b"\x03\xea", frames


async def ws_then_abrupt_close(reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    w.write(WS_UPGRADE)
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101 ")
    _reset(w)


async def pipelined_then_reset(reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    w.write((b"GET / HTTP/1.1\r\n" + H + b"\r\n") * 20)
    await w.drain()
    _reset(w)


async def bad_chunked_body(reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    w.write(b"POST /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n2\r\nabzz\r\n")
    assert (await _until_closed(reader)).startswith(b"HTTP/1.1 400 ")


def _reset(w: asyncio.StreamWriter) -> None:
    """Close with a RST (SO_LINGER 0), as a crashed or hostile client does."""
    sock = w.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    w.transport.abort()


ABUSES: list[Abuse] = [
    malformed_request_line,
    oversized_head,
    abrupt_close_mid_head,
    abrupt_close_mid_body,
    idle_until_keep_alive,
    idle_after_a_request,
    tls_to_http_port,
    h2_preface_then_garbage,
    ws_upgrade_then_garbage,
    ws_then_abrupt_close,
    pipelined_then_reset,
    bad_chunked_body,
    h2_head_never_finished,
    h2_body_stalls,
]


async def _abuse(port: int, count: int, start: int) -> Counter[str]:
    """``count`` connections, each one abuse (round robin), CONCURRENCY at a time."""
    gate = asyncio.Semaphore(CONCURRENCY)
    failures: Counter[str] = Counter()

    async def one(i: int) -> None:
        abuse = ABUSES[(start + i) % len(ABUSES)]
        async with gate:
            writer = None
            t0 = time.monotonic()
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                await abuse(reader, writer)
            except (
                AssertionError,
                OSError,
                TimeoutError,
                asyncio.TimeoutError,  # wait_for's on 3.10; the same class from 3.11 on
                asyncio.IncompleteReadError,
            ) as exc:
                took = time.monotonic() - t0
                failures[f"{abuse.__name__}: {type(exc).__name__} after {took:.1f}s"] += 1
            finally:
                if writer is not None:
                    writer.transport.abort()

    await asyncio.gather(*(one(i) for i in range(count)))
    return failures


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _collect(url: str) -> Counter[str]:
    """Run a full collection in the worker: the objects it freed, by type name."""
    resp = httpx.get(url + "/gc", timeout=10)
    assert resp.status_code == 200
    return Counter(resp.json())


def _settle(pid: int, fds: int, timeout: float = 10.0) -> int:
    """Wait for lingering closes (2 s) and keep-alive sweeps to end; the fd count then."""
    deadline = time.monotonic() + timeout
    now = _fds(pid)
    while now > fds * 1.1 and time.monotonic() < deadline:
        time.sleep(0.1)
        now = _fds(pid)
    return now


def test_ten_thousand_abusive_connections_leave_no_trace(pounce_server) -> None:
    server: PounceProcess = pounce_server(
        "abuse_app:app",
        "--workers",
        "1",
        "--no-access-log",
        "--timeout-keep-alive",
        str(KEEP_ALIVE),
        "--timeout-request-header",
        str(SLOW),
        "--timeout-request-body",
        str(SLOW),
        "--backlog",
        "4096",
    )
    pid = server.proc.pid  # --workers 1: the worker is the process itself
    started = time.monotonic()

    fds_idle = _fds(pid)
    garbage: Counter[str] = Counter()

    def abuse_round(start: int) -> int:
        """WARMUP_ROUND abusive connections, closed and collected: the worker's RSS then."""
        failures = asyncio.run(_abuse(server.port, WARMUP_ROUND, start))
        assert not failures, failures
        _settle(pid, fds_idle)
        garbage.update(_collect(server.url))
        return _rss_kib(pid)

    rss_rounds: list[int] = []
    for start in range(0, WARMUP_MAX_ROUNDS * WARMUP_ROUND, WARMUP_ROUND):
        rss_rounds.append(abuse_round(start))
        last = rss_rounds[-WARMUP_STABLE_ROUNDS - 1 :]
        if len(last) > WARMUP_STABLE_ROUNDS and all(
            later < earlier * (1 + WARMUP_STABLE) for earlier, later in itertools.pairwise(last)
        ):
            break
    fds0 = _fds(pid)
    rss0 = rss_rounds[-1]

    # The measured 10,000 in rounds of the warm-up's size, so that the garbage waiting for the
    # collector peaks as in the warm-up (else the allocators' high-water mark rises with it).
    garbage.clear()
    measured = start + WARMUP_ROUND
    for round_start in range(measured, measured + TOTAL, WARMUP_ROUND):
        rss1 = abuse_round(round_start)
    fds1 = _fds(pid)
    elapsed = time.monotonic() - started
    print(
        f"warm-up VmRSS {rss_rounds} KiB; fds {fds0} -> {fds1}, VmRSS {rss0} -> {rss1} KiB "
        f"({(rss1 - rss0) / rss0:+.1%}), {elapsed:.1f} s; cyclic garbage {garbage.most_common(8)}"
    )
    # A closed (or handed-over) HTTP/1.1 connection drops its parser, whose callbacks are the
    # protocol's bound methods: reference counting frees it, not the cyclic collector.
    assert garbage["HttpRequestParser"] == 0, garbage

    assert fds1 <= fds0 * 1.1, (fds0, fds1)
    assert rss1 <= rss0 * 1.1, (rss0, rss1)
    resp = httpx.get(server.url + "/", timeout=5)
    assert (resp.status_code, resp.content) == (200, b"Hello, world!")
    assert "Traceback" not in server.output()
