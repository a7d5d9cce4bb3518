"""H2Protocol on a fake transport: backpressure, shutdown and idle handling, deterministic."""

from __future__ import annotations

import asyncio
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.settings

from pounce.config import Config
from pounce.protocols.h2 import H2Protocol
from pounce.state import ServerState

GET = [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"t"), (b":path", b"/")]


class FakeTransport:
    """Collects writes; calls pause_writing once more than ``high`` bytes are unread."""

    def __init__(self, high: int = 1 << 40) -> None:
        self.protocol: Any = None
        self.out = bytearray()
        self.unread = 0
        self.high = high
        self.paused = False
        self.closed = False

    def write(self, data: bytes) -> None:
        self.out += data
        self.unread += len(data)
        if self.unread > self.high and not self.paused:
            self.paused = True
            self.protocol.pause_writing()

    def drain(self) -> bytes:
        """The peer reads everything."""
        data, self.out = bytes(self.out), bytearray()
        self.unread = 0
        if self.paused:
            self.paused = False
            self.protocol.resume_writing()
        return data

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True


def client() -> h2.connection.H2Connection:
    conn = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=True, header_encoding=None)
    )
    conn.initiate_connection()
    conn.increment_flow_control_window(2**31 - 1 - 65535)
    conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 2**31 - 1})
    return conn


async def start(app: Any, high: int = 1 << 40, **config: Any) -> tuple[H2Protocol, FakeTransport]:
    loop = asyncio.get_running_loop()
    state = ServerState(Config(app=app, access_log=False, **config), app, loop)
    proto = H2Protocol(state)
    transport = FakeTransport(high)
    transport.protocol = proto
    proto.connection_made(transport)  # type: ignore[arg-type]
    return proto, transport


async def spin(n: int = 20) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


def test_pause_writing_stops_an_app_that_never_yields() -> None:
    progress: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for i in range(64):  # 4 MiB; send() only suspends when told to wait
            await send({"type": "http.response.body", "body": b"x" * 65536, "more_body": True})
            progress.append(i)
        await send({"type": "http.response.body", "body": b""})

    async def main() -> None:
        proto, transport = await start(app, high=256 * 1024)
        c = client()
        proto.data_received(c.data_to_send())
        c.send_headers(1, GET, end_stream=True)
        proto.data_received(c.data_to_send())
        await spin()
        assert transport.paused
        assert len(progress) < 8  # stopped near the high-water mark, not at 4 MiB
        assert len(transport.out) < 512 * 1024
        body = bytearray()
        ended = False
        for _ in range(200):
            for event in c.receive_data(transport.drain()):
                if isinstance(event, h2.events.DataReceived):
                    body += event.data
                    c.acknowledge_received_data(event.flow_controlled_length, 1)
                ended |= isinstance(event, h2.events.StreamEnded)
            proto.data_received(c.data_to_send())
            await spin(5)
            if ended:
                break
        assert ended and len(body) == 64 * 65536 and len(progress) == 64

    asyncio.run(main())


def test_shutdown_idle_connection_sends_goaway_and_closes() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("no request expected")

    async def main() -> None:
        proto, transport = await start(app)
        c = client()
        proto.data_received(c.data_to_send())
        proto.shutdown()
        events = c.receive_data(transport.drain())
        goaway = [e for e in events if isinstance(e, h2.events.ConnectionTerminated)]
        assert goaway and goaway[0].error_code == 0 and goaway[0].last_stream_id == 0
        assert transport.closed

    asyncio.run(main())


def test_idle_deadline_and_active_streams() -> None:
    async def main() -> None:
        gate = asyncio.Event()

        async def app(scope: Any, receive: Any, send: Any) -> None:
            await gate.wait()
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        proto, transport = await start(app, timeout_keep_alive=1)
        assert proto.deadline > 0  # idle from the start
        c = client()
        proto.data_received(c.data_to_send())
        c.send_headers(1, GET, end_stream=True)
        proto.data_received(c.data_to_send())
        assert proto.deadline == 0  # a stream is active: no idle timeout
        proto.check_deadline(proto.loop.time() + 100)  # a late sweep must not close it
        assert not transport.closed
        gate.set()
        await spin()
        assert not proto.streams and proto.deadline > 0
        proto.check_deadline(proto.deadline)
        assert transport.closed

    asyncio.run(main())
