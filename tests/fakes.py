"""Fakes the unit and fuzz tests run pounce's protocols on: a transport, a WebSocket carrier,
an HTTP/1.1 or HTTP/2 protocol started on the fake transport (with an ``h2`` client to talk to
the second), and a way to let the event loop run. No sockets: each test drives the protocol by
hand on a real loop."""

from __future__ import annotations

import asyncio
from typing import Any

import h2.config
import h2.connection
import h2.settings

from pounce import Config
from pounce.http2.protocol import H2Protocol
from pounce.state import ServerState

# A peer on loopback, which the default --forwarded-allow-ips trusts as a proxy.
PEER = ("127.0.0.1", 1234)
# RFC 9113 §6.9.1: the largest flow-control window.
MAX_WINDOW = 2**31 - 1
H2_GET = [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"t"), (b":path", b"/")]


class FakeSocket:
    """The listening side's address, all the protocols ask of the socket."""

    def getsockname(self) -> tuple[str, int]:
        return ("127.0.0.1", 8000)


class FakeTransport:
    """Enough of ``asyncio.Transport`` for both HTTP/1.1 twins, the switch to HTTP/2 or a
    WebSocket (``set_protocol``), and ``H2Protocol``; records what is written.

    As a real transport, it takes no more writes once closed or after ``write_eof``. Past
    ``high`` unread bytes it calls the protocol's ``pause_writing`` (asyncio's high-water
    mark); ``drain`` plays the peer reading everything, which resumes writing.
    """

    def __init__(self, peer: tuple[str, int] = PEER, high: int = 1 << 40) -> None:
        self.peer = peer
        self.high = high
        self.protocol: Any = None
        self.out = bytearray()
        self.unread = 0
        self.closed = False
        self.eof = False
        self.reading_paused = False
        self.writing_paused = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": self.peer, "socket": FakeSocket()}.get(name, default)

    def write(self, data: bytes) -> None:
        if self.closed or self.eof:
            return
        self.out += data
        self.unread += len(data)
        if self.unread > self.high and not self.writing_paused:
            self.writing_paused = True
            self.protocol.pause_writing()

    def writelines(self, parts: Any) -> None:
        for part in parts:
            self.write(part)

    def drain(self) -> bytes:
        """The peer reads everything written so far."""
        data, self.out = bytes(self.out), bytearray()
        self.unread = 0
        if self.writing_paused:
            self.writing_paused = False
            self.protocol.resume_writing()
        return data

    def get_write_buffer_size(self) -> int:
        return 0

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof = True

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.reading_paused = True

    def resume_reading(self) -> None:
        self.reading_paused = False

    def set_protocol(self, protocol: Any) -> None:
        self.protocol = protocol

    def get_protocol(self) -> Any:
        return self.protocol


class FakeCarrier:
    """The ``Carrier`` a WebSocket session writes through (pounce/websocket/_session.py), recording
    the handshake answer, the frames and the reading pauses."""

    transport = None

    def __init__(self) -> None:
        self.accepted: list[tuple[bytes, bytes]] | None = None
        self.response: tuple[int, list[tuple[bytes, bytes]], bytes] | None = None
        self.out = bytearray()
        self.finished = False
        self.paused = False
        self.pauses = 0
        self.writes = 0
        self.lines: list[bytes] | None = None  # the buffers of the last writelines
        # What write returns: a future stands for a carrier whose write side is paused.
        self.write_waiter: Any = None

    def accept(self, headers: list[tuple[bytes, bytes]]) -> None:
        self.accepted = headers

    def respond(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.response = (status, headers, body)
        self.finished = True

    def write(self, data: bytes) -> Any:
        self.out += data
        self.writes += 1
        return self.write_waiter

    def writelines(self, parts: list[bytes]) -> Any:
        self.lines = parts
        for data in parts:
            self.out += data
        self.writes += 1
        return self.write_waiter

    def finish(self) -> None:
        self.finished = True

    def pause_reading(self) -> None:
        self.paused = True
        self.pauses += 1

    def resume_reading(self) -> None:
        self.paused = False


async def spin(n: int = 20) -> None:
    """Let the event loop run ``n`` iterations: callbacks and tasks made ready run."""
    for _ in range(n):
        await asyncio.sleep(0)


async def start_h1(
    protocol_class: type,
    parser: str,
    app: Any,
    transport: FakeTransport | None = None,
    **config: Any,
) -> tuple[Any, FakeTransport]:
    """An HTTP/1.1 protocol (either twin) for ``app`` with ``parser`` on a fake transport (a
    new one unless given), connected. ``config`` is all of the Config options."""
    loop = asyncio.get_running_loop()
    state = ServerState(Config(app=app, **config), app, loop)
    proto = protocol_class(state, parser)
    if transport is None:
        transport = FakeTransport()
    transport.protocol = proto
    proto.connection_made(transport)
    return proto, transport


def h2_client() -> h2.connection.H2Connection:
    """An ``h2`` client connection whose windows never hold the server back."""
    conn = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=True, header_encoding=None)
    )
    conn.initiate_connection()
    conn.increment_flow_control_window(MAX_WINDOW - 65535)
    conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: MAX_WINDOW})
    return conn


async def start_h2(
    app: Any, high: int = 1 << 40, **config: Any
) -> tuple[H2Protocol, FakeTransport]:
    """An ``H2Protocol`` for ``app`` on a fake transport, connected."""
    loop = asyncio.get_running_loop()
    state = ServerState(Config(app=app, access_log=False, **config), app, loop)
    proto = H2Protocol(state)
    transport = FakeTransport(high=high)
    transport.protocol = proto
    proto.connection_made(transport)  # type: ignore[arg-type]  # a fake, not a Transport
    return proto, transport
