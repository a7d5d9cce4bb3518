"""H2Protocol on a fake transport: backpressure, shutdown and idle handling, deterministic."""

from __future__ import annotations

import asyncio
import logging
import random
import struct
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.settings
import hpack
import pytest
from hyperframe.frame import HeadersFrame, PingFrame, WindowUpdateFrame

from pounce.http2 import protocol as h2_protocol
from pounce.http2.protocol import GOAWAY_GRACE, GOAWAY_LINGER, H2Protocol
from tests.fakes import H2_GET, FakeTransport, h2_client, spin, start_h2
from tests.h2support import parse_frames


def test_pause_writing_stops_an_app_that_never_yields() -> None:
    progress: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for i in range(64):  # 4 MiB; send() only suspends when told to wait
            await send({"type": "http.response.body", "body": b"x" * 65536, "more_body": True})
            progress.append(i)
        await send({"type": "http.response.body", "body": b""})

    async def main() -> None:
        proto, transport = await start_h2(app, high=256 * 1024)
        c = h2_client()
        proto.data_received(c.data_to_send())
        c.send_headers(1, H2_GET, end_stream=True)
        proto.data_received(c.data_to_send())
        await spin()
        assert transport.writing_paused
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


# Shutdown (RFC 9113 §6.8; see H2Protocol.shutdown), on each core ---------------------------


@pytest.fixture
def core(h2_core: type, monkeypatch: pytest.MonkeyPatch) -> type:
    """Each HTTP/2 core, as the one H2Protocol runs."""
    monkeypatch.setattr(h2_protocol, "H2Connection", h2_core)
    return h2_core


def gated_app(gates: dict[str, asyncio.Event], seen: list[str]) -> Any:
    """Answers each path with its own name once the path's gate (if any) is set."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        path = scope["path"]
        seen.append(path)
        if path in gates:
            await gates[path].wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": path.encode()})

    return app


def get(path: str) -> list[tuple[bytes, bytes]]:
    return [
        (b":method", b"GET"),
        (b":scheme", b"http"),
        (b":authority", b"t"),
        (b":path", path.encode()),
    ]


def h2_client_view(c: h2.connection.H2Connection, data: bytes) -> list[h2.events.Event]:
    """What h2's client (httpx's) makes of the server's bytes; it raises ProtocolError for any
    frame after a GOAWAY."""
    return c.receive_data(data)


def bodies(events: list[h2.events.Event]) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    for event in events:
        if isinstance(event, h2.events.DataReceived):
            out[event.stream_id] = out.get(event.stream_id, b"") + event.data
    return out


def acked_goaway(
    proto: H2Protocol,
    transport: FakeTransport,
    c: h2.connection.H2Connection,
    out: bytes,
    events: list[h2.events.Event],
    *,
    rounds: int = 1,
) -> Any:
    """``out`` ends with shutdown's PING (no GOAWAY yet); the client's ACK brings the GOAWAY
    and nothing else, which is returned (its frame), or (``rounds``) first more PINGs, each
    alone. ``events`` gets the client's view."""
    for _ in range(rounds):
        frames = parse_frames(out)
        assert frames[-1].type == 0x6 and "ACK" not in frames[-1].flags
        assert not [f for f in frames if f.type == 0x7]
        events += h2_client_view(c, out)  # h2 queues the PING ACK
        assert transport.drain() == b"" and not transport.eof
        proto.data_received(c.data_to_send())
        out = transport.drain()
    (goaway,) = parse_frames(out)
    assert goaway.type == 0x7
    events += h2_client_view(c, out)  # no ProtocolError: nothing after the GOAWAY
    assert isinstance(events[-1], h2.events.ConnectionTerminated)
    return goaway


def lingers_then_closes(
    proto: H2Protocol, transport: FakeTransport, c: h2.connection.H2Connection
) -> None:
    """After the shutdown GOAWAY (already drained from ``transport``): half-closed, what the
    client still sends is discarded unanswered, and the sweep closes it after GOAWAY_LINGER."""
    assert transport.eof and not transport.closed
    assert proto.deadline <= proto.loop.time() + GOAWAY_LINGER
    late = HeadersFrame(99, flags=["END_HEADERS", "END_STREAM"])
    late.data = c.encoder.encode(get("/late"))
    proto.data_received(
        PingFrame(0, opaque_data=b"12345678").serialize()
        + WindowUpdateFrame(0, window_increment=1000).serialize()
        + late.serialize()
    )
    assert transport.drain() == b""  # no PING ACK, no RST_STREAM: nothing follows the GOAWAY
    assert proto.check_deadline(proto.deadline) is False
    assert transport.closed


def test_shutdown_of_an_idle_connection_is_one_goaway_and_close(core: type) -> None:
    async def main() -> None:
        proto, transport = await start_h2(gated_app({}, []))
        c = h2_client()
        c.send_headers(1, get("/one"), end_stream=True)
        proto.data_received(c.data_to_send())
        await spin()
        c.receive_data(transport.drain())
        proto.shutdown()
        events: list[h2.events.Event] = []
        goaway = acked_goaway(proto, transport, c, transport.drain(), events)
        assert (goaway.last_stream_id, goaway.error_code) == (1, 0)
        lingers_then_closes(proto, transport, c)

    asyncio.run(main())


def test_shutdown_answers_streams_in_flight_and_opened_meanwhile_then_one_goaway(
    core: type,
) -> None:
    """No GOAWAY while a stream is open; a stream opened after shutdown is answered too; the
    GOAWAY, after the last response, names the last stream, and nothing follows it."""

    async def main() -> None:
        gates = {"/one": asyncio.Event(), "/three": asyncio.Event()}
        seen: list[str] = []
        proto, transport = await start_h2(gated_app(gates, seen))
        c = h2_client()
        c.send_headers(1, get("/one"), end_stream=True)
        proto.data_received(c.data_to_send())
        await spin()
        events = h2_client_view(c, transport.drain())
        proto.shutdown()
        await spin()
        assert transport.drain() == b"" and not transport.closed
        c.send_headers(3, get("/three"), end_stream=True)
        proto.data_received(c.data_to_send())
        await spin()
        assert seen == ["/one", "/three"]
        gates["/three"].set()
        await spin()
        out = transport.drain()
        assert not [f for f in parse_frames(out) if f.type == 0x7]  # stream 1 is still open
        events += h2_client_view(c, out)
        gates["/one"].set()
        await spin()
        out = transport.drain()
        frames = parse_frames(out)
        assert [(f.type, f.stream_id) for f in frames] == [(0x1, 1), (0x0, 1), (0x6, 0)]
        goaway = acked_goaway(proto, transport, c, out, events)
        assert (goaway.last_stream_id, goaway.error_code) == (3, 0)
        lingers_then_closes(proto, transport, c)
        assert bodies(events) == {1: b"/one", 3: b"/three"}

    asyncio.run(main())


def test_stream_opened_in_the_read_that_ends_the_last_one_is_answered(core: type) -> None:
    """RST_STREAM of the stream in flight and HEADERS of a new one in one read: the new one is
    a stream opened before any GOAWAY, answered before it."""

    async def main() -> None:
        seen: list[str] = []
        proto, transport = await start_h2(gated_app({"/one": asyncio.Event()}, seen))
        c = h2_client()
        c.send_headers(1, get("/one"), end_stream=True)
        proto.data_received(c.data_to_send())
        await spin()
        events = h2_client_view(c, transport.drain())
        proto.shutdown()
        c.reset_stream(1)
        c.send_headers(3, get("/three"), end_stream=True)
        proto.data_received(c.data_to_send())
        await spin()
        assert seen == ["/one", "/three"]
        out = transport.drain()
        frames = parse_frames(out)
        assert [(f.type, f.stream_id) for f in frames] == [(0x1, 3), (0x0, 3), (0x6, 0)]
        assert acked_goaway(proto, transport, c, out, events).last_stream_id == 3
        lingers_then_closes(proto, transport, c)
        assert bodies(events) == {3: b"/three"}

    asyncio.run(main())


def test_shutdown_bound_holds_streams_opened_after_the_first_ones_are_done(core: type) -> None:
    """Once the streams in flight at shutdown are done, a newer stream still open finishes,
    and streams opened after that are never started: the GOAWAY names the last started one,
    so they are above it (not processed) and the client may retry them."""

    async def main() -> None:
        gates = {"/one": asyncio.Event(), "/three": asyncio.Event()}
        seen: list[str] = []
        proto, transport = await start_h2(gated_app(gates, seen))
        c = h2_client()
        c.send_headers(1, get("/one"), end_stream=True)
        proto.data_received(c.data_to_send())
        await spin()
        events = h2_client_view(c, transport.drain())
        proto.shutdown()
        c.send_headers(3, get("/three"), end_stream=True)
        proto.data_received(c.data_to_send())
        gates["/one"].set()
        await spin()
        out = transport.drain()
        assert not [f for f in parse_frames(out) if f.type == 0x7]
        events += h2_client_view(c, out)
        c.send_headers(5, get("/five"), end_stream=False)
        c.send_data(5, b"body", end_stream=True)
        proto.data_received(c.data_to_send())
        await spin()
        assert seen == ["/one", "/three"]  # /five is held
        out = transport.drain()  # the connection's credit for its body comes back, no more
        assert [(f.type, f.stream_id) for f in parse_frames(out)] == [(0x8, 0)]
        events += h2_client_view(c, out)
        gates["/three"].set()
        await spin()
        out = transport.drain()
        frames = parse_frames(out)
        assert [(f.type, f.stream_id) for f in frames] == [(0x1, 3), (0x0, 3), (0x6, 0)]
        # A second PING round for the held stream (see H2Protocol.shutdown).
        goaway = acked_goaway(proto, transport, c, out, events, rounds=2)
        assert (goaway.last_stream_id, goaway.error_code) == (3, 0)
        lingers_then_closes(proto, transport, c)
        assert events[-1].last_stream_id < 5  # httpcore: ConnectionNotAvailable, a retry
        assert bodies(events) == {1: b"/one", 3: b"/three"}
        assert seen == ["/one", "/three"]

    asyncio.run(main())


def test_drain_answers_the_next_stream_of_an_idle_connection(core: type) -> None:
    async def main() -> None:
        seen: list[str] = []
        proto, transport = await start_h2(gated_app({}, seen))
        c = h2_client()
        proto.data_received(c.data_to_send())
        transport.drain()
        proto.drain(1.0)
        assert not transport.closed and transport.drain() == b""
        assert proto.deadline <= proto.loop.time() + 1.0
        proto.data_received(PingFrame(0, opaque_data=b"12345678").serialize())
        assert not transport.closed  # still waiting for a stream
        transport.drain()
        c.send_headers(1, get("/one"), end_stream=True)
        proto.data_received(c.data_to_send())
        await spin()
        out = transport.drain()
        frames = parse_frames(out)
        assert [(f.type, f.stream_id) for f in frames] == [(0x1, 1), (0x0, 1), (0x6, 0)]
        assert acked_goaway(proto, transport, c, out, []).last_stream_id == 1
        assert seen == ["/one"]
        lingers_then_closes(proto, transport, c)

    asyncio.run(main())


def test_goaway_goes_out_without_a_ping_ack_after_the_grace(core: type) -> None:
    async def main() -> None:
        proto, transport = await start_h2(gated_app({}, []))
        proto.data_received(h2_client().data_to_send())
        transport.drain()
        proto.shutdown()
        assert [f.type for f in parse_frames(transport.drain())] == [0x6]  # the PING
        assert proto.deadline <= proto.loop.time() + GOAWAY_GRACE
        assert proto.check_deadline(proto.loop.time() + GOAWAY_GRACE) is False
        assert [(f.type, f.last_stream_id) for f in parse_frames(transport.drain())] == [(0x7, 0)]
        assert transport.eof and not transport.closed

    asyncio.run(main())


def test_drain_closes_an_idle_connection_after_the_grace(core: type) -> None:
    async def main() -> None:
        proto, transport = await start_h2(gated_app({}, []))
        proto.data_received(h2_client().data_to_send())
        transport.drain()
        proto.drain(1.0)
        due = proto.deadline
        assert proto.check_deadline(due) is True  # marked: closed on the sweep's second look
        assert not transport.closed
        assert proto.check_deadline(proto.deadline) is False
        assert [(f.type, f.last_stream_id) for f in parse_frames(transport.drain())] == [(0x7, 0)]
        assert transport.closed

    asyncio.run(main())


def test_idle_deadline_and_active_streams() -> None:
    async def main() -> None:
        gate = asyncio.Event()

        async def app(scope: Any, receive: Any, send: Any) -> None:
            await gate.wait()
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        proto, transport = await start_h2(app, timeout_keep_alive=1)
        assert proto.deadline > 0  # idle from the start
        c = h2_client()
        proto.data_received(c.data_to_send())
        c.send_headers(1, H2_GET, end_stream=True)
        proto.data_received(c.data_to_send())
        assert proto.deadline == 0  # a stream is active: no idle timeout
        proto.check_deadline(proto.loop.time() + 100)  # a late sweep must not close it
        assert not transport.closed
        gate.set()
        await spin()
        assert not proto.streams and proto.deadline > 0
        now = proto.deadline
        assert proto.check_deadline(now)  # idle: marked first (pounce/state.py) ...
        assert not transport.closed
        proto.check_deadline(now + 0.001)  # ... and closed on the sweep's second look
        assert transport.closed

    asyncio.run(main())


def _random_frame(rng: random.Random, encoder: hpack.Encoder) -> bytes:
    kind = rng.choice([0, 1, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0xA])
    flags = rng.choice([0, 1, 4, 5, 8, 0x20, 0x24, 0x25, 0xFF])
    stream_id = rng.choice([0, 1, 3, 5, 7, 9, 2, 2**31 - 1, rng.randrange(0, 50)])
    if kind == 1 and rng.random() < 0.7:
        headers = [
            (b":method", rng.choice([b"GET", b"POST", b"CONNECT", b"X"])),
            (b":scheme", b"http"),
            (b":path", rng.choice([b"/", b"", b"*", b"/a b", b"/\xff"])),
            (b":authority", b"x"),
        ]
        if rng.random() < 0.3:
            headers.append((b":protocol", b"websocket"))
        if rng.random() < 0.3:
            headers.append(
                (rng.choice([b"Upper", b"te", b"connection", b"x"]), rng.choice([b"v", b" sp "]))
            )
        payload = encoder.encode(headers)
    else:
        payload = bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 4, 5, 8, 9, 30])))
    header = struct.pack(">I", len(payload))[1:] + bytes([kind, flags])
    return header + struct.pack(">I", stream_id) + payload


def test_random_frames_never_raise_or_log_errors() -> None:
    """Fuzz: random frames after a valid preface end in frames, never in an error of ours."""
    errors: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.ERROR:
                errors.append(record.getMessage())

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect" or not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"a" * 70000})

    async def one(seed: int) -> None:
        rng = random.Random(seed)
        proto, transport = await start_h2(app)
        proto.data_received(h2_client().data_to_send())
        encoder = hpack.Encoder()
        for _ in range(rng.randrange(1, 30)):
            if transport.closed:
                break
            proto.data_received(_random_frame(rng, encoder))
            await spin(rng.randrange(0, 4))
            transport.drain()
        await spin(30)
        proto.connection_lost(None)
        await spin(10)

    async def main() -> None:
        for seed in range(300):
            await one(seed)

    handler = Collect()
    logging.getLogger("pounce").addHandler(handler)
    try:
        asyncio.run(main())
    finally:
        logging.getLogger("pounce").removeHandler(handler)
    assert errors == []


def test_protocol_sees_no_h2_types() -> None:
    """The seam: the protocol and entry modules use pounce.http2.connection, never h2 itself, so a
    compiled HTTP/2 core can replace the h2-backed connection."""
    import ast
    from pathlib import Path

    import pounce

    for name in (
        "http2/protocol.py",
        "http2/stream.py",
        "http2/negotiate.py",
        "alpn.py",
        "http1/_protocol.py",
    ):
        tree = ast.parse((Path(pounce.__file__).parent / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert not any(
                    a.name.split(".")[0] in ("h2", "hpack", "hyperframe") for a in node.names
                )
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                assert (node.module or "").split(".")[0] not in ("h2", "hpack", "hyperframe")


def _responses(c: h2.connection.H2Connection, data: bytes) -> list[Any]:
    return [e for e in c.receive_data(data) if not isinstance(e, h2.events.SettingsAcknowledged)]


def test_head_goes_out_while_the_app_waits_before_its_body() -> None:
    async def main() -> None:
        go = asyncio.Event()

        async def app(scope: Any, receive: Any, send: Any) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await go.wait()
            await send({"type": "http.response.body", "body": b"late"})

        proto, transport = await start_h2(app)
        c = h2_client()
        proto.data_received(c.data_to_send())
        c.send_headers(1, H2_GET, end_stream=True)
        proto.data_received(c.data_to_send())
        await spin()
        events = _responses(c, transport.drain())
        heads = [e for e in events if isinstance(e, h2.events.ResponseReceived)]
        assert heads and dict(heads[0].headers)[b":status"] == b"200"
        assert not any(isinstance(e, h2.events.StreamEnded) for e in events)
        go.set()
        await spin()
        events = _responses(c, transport.drain())
        data = b"".join(e.data for e in events if isinstance(e, h2.events.DataReceived))
        assert data == b"late"
        assert any(isinstance(e, h2.events.StreamEnded) for e in events)
        assert not proto.streams

    asyncio.run(asyncio.wait_for(main(), 10))


def test_single_body_larger_than_the_window_is_sent_as_credit_arrives() -> None:
    body = bytes(range(256)) * 1000  # 256 000 bytes, one http.response.body

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", b"%d" % len(body))],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def main() -> None:
        proto, transport = await start_h2(app)
        c = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding=None)
        )
        c.initiate_connection()
        c.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1000})
        proto.data_received(c.data_to_send())
        c.send_headers(1, H2_GET, end_stream=True)
        proto.data_received(c.data_to_send())
        await spin()
        got = bytearray()
        ended = False
        for _ in range(2000):
            for event in _responses(c, transport.drain()):
                if isinstance(event, h2.events.DataReceived):
                    got += event.data
                    c.acknowledge_received_data(event.flow_controlled_length, 1)
                ended |= isinstance(event, h2.events.StreamEnded)
            if ended:
                break
            proto.data_received(c.data_to_send())
            await spin(2)
        assert ended and bytes(got) == body
        assert not proto.streams

    asyncio.run(asyncio.wait_for(main(), 20))
