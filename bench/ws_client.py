"""A WebSocket echo load client that costs almost nothing per message, so the server is the limit.

Run by ``bench/ws_load.py`` pinned to the load core; it prints one line ``RESULT {json}``:

    python -m bench.ws_client --port 8000 --size 64 --deflate -d 2

Each of ``--connections`` connections does the opening handshake (wsproto's ``H11Handshake``
builds the request and checks the 101 answer, RFC 6455 §4.1), then keeps ``--window`` messages
in flight (by default about 1 MiB, at most 256 messages: ``default_flow``): it writes
``--batch`` messages at a time (a quarter of the window), as one pre-built buffer of masked frames
(built once per run), and answers the echoes by reading only the frame headers of what comes
back (server frames are not masked, RFC 6455 §5.1, so there is nothing to unmask): a data frame
with FIN set ends one message. With ``--deflate`` the client offers permessage-deflate and sends
every message compressed on its own (RFC 7692 §7.2.1, no context takeover, which it offers as
``client_no_context_takeover``); the server's compressed echoes are counted by their FIN bits,
never inflated. Without it, the echoed payload bytes are also checked to be messages x size.
Pings are skipped, not answered: runs must end before a server's ping timeout (uvicorn and
pounce: 20 s interval + 20 s timeout).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import cast

from wsproto.connection import ConnectionType
from wsproto.events import AcceptConnection, RejectConnection, Request
from wsproto.extensions import PerMessageDeflate
from wsproto.handshake import H11Handshake
from wsproto.utilities import ProtocolError

from .procs import cpu_seconds

# RFC 6455 §5.2: frame header bits and opcodes.
FIN = 0x80
RSV1 = 0x40  # RFC 7692 §6: set on the first frame of a compressed message
MASK = 0x80
OP_CONTINUATION = 0x0
OP_BINARY = 0x2
OP_CLOSE = 0x8
DATA_OPCODES = frozenset({0x0, 0x1, 0x2})
# RFC 6455 §5.2: 7-bit lengths up to 125; 126 means a 16-bit length follows, 127 a 64-bit one.
LEN_16 = 126
LEN_64 = 127
# RFC 7692 §7.2.1: a message compressed with a sync flush ends in an empty stored block,
# 00 00 ff ff, which the sender removes.
DEFLATE_TAIL = b"\x00\x00\xff\xff"
# RFC 7692 §7.1.2.1: 15 bits (the default window); negative for raw deflate in zlib.
DEFLATE_WBITS = -15
# RFC 6455 §7.4.1: normal closure.
CLOSE_NORMAL = 1000
# The mask key of every frame: a client must mask (RFC 6455 §5.3); the server cannot tell a
# fixed key from a fresh one, and a fixed key lets the frames be built once.
MASK_KEY = b"\x37\xfa\x21\x3d"
HANDSHAKE_TIMEOUT_SECONDS = 10.0
DRAIN_TIMEOUT_SECONDS = 10.0
# The default window: about this many bytes in flight per connection, at most MAX_WINDOW
# messages, refilled in BATCHES_PER_WINDOW writes. Large windows and batches make the client
# cheaper per message (measured here against uvicorn, 64 B: 5.2 us of client CPU per message
# with 64 in flight written 16 at a time, 2.6 us with 512 written 128 at a time), and 64 KiB
# messages still stay at 1 MiB per connection.
WINDOW_BYTES = 1 << 20
MAX_WINDOW = 256
BATCHES_PER_WINDOW = 4
CLOSE_TIMEOUT_SECONDS = 2.0


def default_flow(size: int) -> tuple[int, int]:
    """(messages in flight per connection, messages per write) for messages of ``size``."""
    window = max(BATCHES_PER_WINDOW, min(MAX_WINDOW, WINDOW_BYTES // max(size, 1)))
    window -= window % BATCHES_PER_WINDOW
    return window, window // BATCHES_PER_WINDOW


def payload_for(size: int) -> bytes:
    """A message of ``size`` bytes that compresses like chat or JSON text (a random payload
    would make permessage-deflate pointless); the same bytes for every message of a run."""
    unit = b'{"user":"u0042","room":"bench","text":"the quick brown fox jumps over it"}\n'
    return (unit * (size // len(unit) + 1))[:size]


def deflate_message(payload: bytes) -> bytes:
    """RFC 7692 §7.2.1: raw deflate of one message, sync-flushed, without the 00 00 ff ff tail.

    A fresh compressor per message: no context takeover, so every message's bytes are the same
    and one pre-built frame can be sent again and again."""
    compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, DEFLATE_WBITS)
    data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
    if not data.endswith(DEFLATE_TAIL):
        raise AssertionError("zlib's sync flush did not end in an empty stored block")
    return data[: -len(DEFLATE_TAIL)]


def _mask(payload: bytes, key: bytes) -> bytes:
    # RFC 6455 §5.3: octet i is XORed with key[i % 4]; once per run, so one big-int XOR will do.
    if not payload:
        return payload
    stream = (key * (len(payload) // 4 + 1))[: len(payload)]
    masked = int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")
    return masked.to_bytes(len(payload), "big")


def client_frame(
    payload: bytes, *, opcode: int = OP_BINARY, rsv1: bool = False, key: bytes = MASK_KEY
) -> bytes:
    """One masked client frame with FIN set (RFC 6455 §5.2)."""
    first = FIN | (RSV1 if rsv1 else 0) | opcode
    n = len(payload)
    if n < LEN_16:
        head = bytes((first, MASK | n))
    elif n < 1 << 16:
        head = bytes((first, MASK | LEN_16)) + n.to_bytes(2, "big")
    else:
        head = bytes((first, MASK | LEN_64)) + n.to_bytes(8, "big")
    return head + key + _mask(payload, key)


def message_frame(payload: bytes, deflate: bool) -> bytes:
    """The frame that carries one message, compressed when permessage-deflate is on."""
    if deflate:
        return client_frame(deflate_message(payload), rsv1=True)
    return client_frame(payload)


def close_frame(code: int = CLOSE_NORMAL) -> bytes:
    return client_frame(code.to_bytes(2, "big"), opcode=OP_CLOSE)


class ProtocolViolation(RuntimeError):
    """The server sent something an echo server must not (a masked frame, a close)."""


class FrameCounter:
    """Counts the messages in a server's byte stream by reading frame headers only.

    ``feed`` takes the bytes as they arrive, split anywhere, and returns how many messages
    ended in them: data frames (opcodes 0-2) with FIN set (RFC 6455 §5.4). Payloads are
    skipped, across reads too; ``payload_bytes`` adds up the data frames' payload lengths.
    Control frames (ping, pong) are skipped; a close frame is recorded in ``close_code``."""

    __slots__ = ("_partial", "_skip", "close_code", "payload_bytes")

    def __init__(self) -> None:
        self._skip = 0  # payload bytes of the current frame still to come
        self._partial = b""  # the start of a frame header cut by the end of a read
        self.payload_bytes = 0
        self.close_code: int | None = None

    def feed(self, data: bytes) -> int:
        n = len(data)
        pos = self._skip
        if pos >= n:
            self._skip = pos - n
            return 0
        if self._partial:
            data = self._partial + data[pos:]
            pos = 0
            n = len(data)
            self._partial = b""
        done = 0
        while n - pos >= 2:
            first = data[pos]
            second = data[pos + 1]
            if second & MASK:
                raise ProtocolViolation("masked server frame (RFC 6455 §5.1)")
            length = second & 0x7F
            head = 2
            if length == LEN_16:
                if n - pos < 4:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 4], "big")
                head = 4
            elif length == LEN_64:
                if n - pos < 10:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
                head = 10
            opcode = first & 0x0F
            if opcode in DATA_OPCODES:
                self.payload_bytes += length
                if first & FIN:
                    done += 1
            elif opcode == OP_CLOSE and self.close_code is None:
                body = data[pos + head : pos + head + 2]
                # RFC 6455 §7.1.5: a close frame without a body means 1005 (no code received).
                self.close_code = int.from_bytes(body, "big") if len(body) == 2 else 1005
            pos += head + length
        if pos >= n:
            self._skip = pos - n
        else:
            self._skip = 0
            self._partial = data[pos:]
        return done


@dataclass
class Totals:
    """Shared by every connection of one run."""

    messages: int = 0
    sending: bool = True


class EchoConnection(asyncio.Protocol):
    """One connection: handshake, then a window of messages in flight, written in batches."""

    def __init__(
        self, totals: Totals, *, host: str, batch: bytes, per_batch: int, window: int,
        deflate: bool,
    ) -> None:  # fmt: skip
        self.totals = totals
        self.batch = batch
        self.per_batch = per_batch
        self.window = window
        self.in_flight = 0
        self.counter = FrameCounter()
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[bool] = loop.create_future()  # whether deflate was agreed
        self.drained: asyncio.Future[None] = loop.create_future()
        self.lost: asyncio.Future[None] = loop.create_future()
        self._handshake: H11Handshake | None = H11Handshake(ConnectionType.CLIENT)
        self._head = b""
        offer = [PerMessageDeflate(client_no_context_takeover=True)] if deflate else []
        self._request = self._handshake.send(Request(host=host, target="/", extensions=offer))
        self.transport: asyncio.Transport | None = None
        self._closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport; they have its methods.
        self.transport = cast("asyncio.Transport", transport)
        self.transport.write(self._request)

    def start(self) -> None:
        """Fill the window; from then on every echo that frees a batch's room refills it."""
        assert self.transport is not None
        while self.in_flight + self.per_batch <= self.window:
            self.transport.write(self.batch)
            self.in_flight += self.per_batch

    def data_received(self, data: bytes) -> None:
        if self._handshake is not None:
            self._handshake_data(data)
            return
        done = self.counter.feed(data)
        if self.counter.close_code is not None:
            if self._closing:  # the server's answer to our close (RFC 6455 §5.5.1)
                self._abort()
            else:
                self._fail(ProtocolViolation(f"server closed with {self.counter.close_code}"))
            return
        if not done:
            return
        self.in_flight -= done
        self.totals.messages += done
        if self.totals.sending:
            self.start()
        elif self.in_flight <= 0 and not self.drained.done():
            self.drained.set_result(None)

    def _handshake_data(self, data: bytes) -> None:
        assert self._handshake is not None
        self._head += data
        end = self._head.find(b"\r\n\r\n")
        if end < 0:
            return
        head, rest = self._head[: end + 4], self._head[end + 4 :]
        try:
            self._handshake.receive_data(head)
            events = list(self._handshake.events())
        except ProtocolError as exc:  # e.g. a wrong Sec-WebSocket-Accept (RFC 6455 §4.1)
            self._fail(ProtocolViolation(f"handshake: {exc}"))
            return
        for event in events:
            if isinstance(event, AcceptConnection):
                self._handshake = None
                agreed = any(isinstance(e, PerMessageDeflate) for e in event.extensions)
                if not self.opened.done():
                    self.opened.set_result(agreed)
                if rest:
                    self.data_received(rest)
                return
            if isinstance(event, RejectConnection):
                self._fail(ProtocolViolation(f"handshake rejected with {event.status_code}"))
                return

    def stop_sending(self) -> None:
        if self.in_flight <= 0 and not self.drained.done():
            self.drained.set_result(None)

    def close(self) -> None:
        self._closing = True
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(close_frame())

    def _fail(self, exc: Exception) -> None:
        for future in (self.opened, self.drained):
            if not future.done():
                future.set_exception(exc)
        self._abort()

    def _abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)
        if not self._closing:
            self._fail(ConnectionError(f"connection lost: {exc!r}"))


@dataclass(frozen=True)
class Result:
    messages: int
    seconds: float
    messages_per_s: float
    # Share of one core this client used while measuring: near 1.0 means the client, not the
    # server, may have been the limit.
    client_cpu: float
    # The same for the server's process tree (with --server-pid): well below 1.0 means the
    # server was starved by other jobs on its core, or the client could not keep it busy.
    server_cpu: float | None
    deflate: bool
    # False when the client offered permessage-deflate and the server declined it.
    deflate_agreed: bool
    window: int
    batch: int
    # Without deflate: the echoed payload bytes equal messages x size (checked after draining).
    bytes_ok: bool | None


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run(
    host: str, port: int, *, size: int, deflate: bool, connections: int, window: int,
    batch: int, duration: float, warmup: float, server_pid: int | None = None,
) -> Result:  # fmt: skip
    """Open the connections, load them for ``warmup`` + ``duration`` seconds, count the echoes
    of the measured part, then drain, check and close."""
    if window % batch:
        raise ValueError("--window must be a multiple of --batch")
    loop = asyncio.get_running_loop()
    totals = Totals()
    frames = message_frame(payload_for(size), deflate) * batch
    conns: list[EchoConnection] = []
    for _ in range(connections):

        def factory() -> EchoConnection:
            return EchoConnection(totals, host=f"{host}:{port}", batch=frames, per_batch=batch,
                                  window=window, deflate=deflate)  # fmt: skip

        _, proto = await loop.create_connection(factory, host, port)
        conns.append(proto)
    agreed = await asyncio.wait_for(
        asyncio.gather(*(c.opened for c in conns)), HANDSHAKE_TIMEOUT_SECONDS
    )
    if deflate and not all(agreed):
        # RFC 7692 §5: without the extension agreed, a compressed (RSV1) frame is an error
        # (RFC 6455 §5.2), so there is nothing to measure.
        for conn in conns:
            conn.close()
        return Result(0, 0.0, 0.0, 0.0, None, True, False, window, batch, bytes_ok=None)
    for conn in conns:
        conn.start()
    await asyncio.sleep(warmup)
    s0 = cpu_seconds(server_pid) if server_pid else 0.0
    m0, c0, t0 = totals.messages, _cpu_seconds(), time.monotonic()
    await asyncio.sleep(duration)
    m1, c1, t1 = totals.messages, _cpu_seconds(), time.monotonic()
    s1 = cpu_seconds(server_pid) if server_pid else 0.0
    totals.sending = False
    for conn in conns:
        conn.stop_sending()
    await asyncio.wait_for(asyncio.gather(*(c.drained for c in conns)), DRAIN_TIMEOUT_SECONDS)
    bytes_ok = None
    if not deflate:
        bytes_ok = sum(c.counter.payload_bytes for c in conns) == totals.messages * size
    for conn in conns:
        conn.close()
    await asyncio.wait(
        [asyncio.ensure_future(c.lost) for c in conns], timeout=CLOSE_TIMEOUT_SECONDS
    )
    for conn in conns:
        if conn.transport is not None:
            conn.transport.abort()
    seconds = t1 - t0
    return Result(
        messages=m1 - m0,
        seconds=seconds,
        messages_per_s=(m1 - m0) / seconds,
        client_cpu=(c1 - c0) / seconds,
        server_cpu=(s1 - s0) / seconds if server_pid else None,
        deflate=deflate,
        deflate_agreed=all(agreed),
        window=window,
        batch=batch,
        bytes_ok=bytes_ok,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--size", type=int, default=64, help="message size in bytes")
    parser.add_argument("--deflate", action="store_true", help="offer permessage-deflate")
    parser.add_argument("-c", "--connections", type=int, default=4)
    parser.add_argument("--window", type=int, help="messages in flight per connection")
    parser.add_argument("--batch", type=int, help="messages per write")
    parser.add_argument("-d", "--duration", type=float, default=2.0)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--server-pid", type=int, help="also report this process tree's CPU")
    args = parser.parse_args(argv)
    window, batch = default_flow(args.size)
    window, batch = args.window or window, args.batch or batch
    loop_factory: Callable[[], asyncio.AbstractEventLoop]
    try:
        import uvloop  # noqa: PLC0415  # optional: the plain asyncio loop costs more per read

        loop_factory = uvloop.new_event_loop
    except ImportError:
        loop_factory = asyncio.new_event_loop
    loop = loop_factory()
    try:
        result = loop.run_until_complete(
            run(args.host, args.port, size=args.size, deflate=args.deflate,
                connections=args.connections, window=window, batch=batch,
                duration=args.duration, warmup=args.warmup, server_pid=args.server_pid)
        )  # fmt: skip
    except (OSError, ProtocolViolation, asyncio.TimeoutError) as exc:
        # One line for ws_load's table; OSError covers ConnectionError (a lost connection).
        print(f"ERROR {type(exc).__name__}: {exc}", flush=True)
        return 1
    finally:
        loop.close()
    print("RESULT " + json.dumps(asdict(result)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
