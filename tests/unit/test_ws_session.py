"""The WebSocket session (pounce/websocket/_session.py), both builds (``ws_session_class``), on a
fake carrier: no sockets."""

from __future__ import annotations

import asyncio
import tracemalloc
import zlib
from typing import Any

import pytest
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage
from wsproto.extensions import PerMessageDeflate

from pounce.asgi.scope import websocket_scope
from pounce.config import Config
from pounce.errors import ClientDisconnected
from pounce.state import ServerState
from pounce.websocket import core as ws_core
from pounce.websocket.session import (
    CLOSED,
    FLUSH_BYTES,
    OPEN,
    WRITEV_BYTES,
    WebSocketSession,
    accept_token,
    valid_key,
)
from tests.fakes import FakeCarrier, spin

pytestmark = pytest.mark.timeout(20)


def http_scope(headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    return {
        "type": "http",
        "http_version": "1.1",
        "scheme": "https",
        "method": "GET",
        "path": "/",
        "headers": headers or [],
        "state": {},
    }


async def make(
    cls: type[WebSocketSession], app: Any = None, **options: Any
) -> tuple[WebSocketSession, FakeCarrier]:
    """A session of ``cls`` (either twin, ``ws_session_class``) on a fake carrier."""
    loop = asyncio.get_running_loop()
    config = Config(app=app or (lambda *a: None), access_log=False, **options)
    state = ServerState(config, app, loop)
    carrier = FakeCarrier()
    scope = websocket_scope(http_scope([(b"sec-websocket-protocol", b"a, b")]), "1.1")
    return cls(state, carrier, scope), carrier


def test_handshake_helpers() -> None:
    # RFC 6455 §1.3's worked example.
    assert accept_token(b"dGhlIHNhbXBsZSBub25jZQ==") == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert valid_key(b"dGhlIHNhbXBsZSBub25jZQ==")
    assert not valid_key(b"short") and not valid_key(b"!!!!")
    scope = websocket_scope(http_scope([(b"sec-websocket-protocol", b"a, b")]), "1.1")
    assert scope["scheme"] == "wss" and "method" not in scope
    assert scope["subprotocols"] == ["a", "b"]
    assert "websocket.http.response" in scope["extensions"]


def test_queue_is_bounded_and_reading_resumes(ws_session_class: type[WebSocketSession]) -> None:
    async def main() -> None:
        session, carrier = await make(ws_session_class, ws_max_queue=4)
        assert (await session.receive())["type"] == "websocket.connect"
        await session.send({"type": "websocket.accept"})
        assert session.status == OPEN and carrier.accepted == []
        client = Connection(ConnectionType.CLIENT)
        for i in range(10):
            session.feed(client.send(TextMessage(data=str(i))))
        assert carrier.paused  # 4 queued: the carrier stops reading
        got = [(await session.receive())["text"] for _ in range(10)]
        assert got == [str(i) for i in range(10)]
        assert not carrier.paused

    asyncio.run(main())


def test_too_big_closes_1009_and_disconnects_the_app(
    ws_session_class: type[WebSocketSession],
) -> None:
    async def main() -> None:
        session, carrier = await make(ws_session_class, ws_max_size=10)
        await session.receive()
        await session.send({"type": "websocket.accept"})
        client = Connection(ConnectionType.CLIENT)
        session.feed(client.send(TextMessage(data="x" * 11)))
        assert (await session.receive()) == {
            "type": "websocket.disconnect",
            "code": 1009,
            "reason": "Message too big",
        }
        client.receive_data(bytes(carrier.out))
        assert [e.code for e in client.events() if isinstance(e, CloseConnection)] == [1009]
        assert carrier.finished and session.status == CLOSED
        with pytest.raises(ClientDisconnected):
            await session.send({"type": "websocket.send", "text": "late"})

    asyncio.run(main())


def test_ping_deadline_then_missing_pong_is_1011(ws_session_class: type[WebSocketSession]) -> None:
    async def main() -> None:
        session, carrier = await make(ws_session_class, ws_ping_interval=1.0, ws_ping_timeout=2.0)
        await session.receive()
        await session.send({"type": "websocket.accept"})
        start = session.deadline
        assert start > 0
        session.check_deadline(start)
        client = Connection(ConnectionType.CLIENT)
        client.receive_data(bytes(carrier.out))
        assert any(isinstance(e, Ping) for e in client.events())
        carrier.out.clear()
        assert session.deadline == pytest.approx(start + 2.0)
        session.check_deadline(start + 2.0)
        client.receive_data(bytes(carrier.out))
        assert [e.code for e in client.events() if isinstance(e, CloseConnection)] == [1011]
        assert (await session.receive())["code"] == 1011

    asyncio.run(main())


def test_close_before_accept_and_lost_connection(ws_session_class: type[WebSocketSession]) -> None:
    async def main() -> None:
        session, carrier = await make(ws_session_class)
        await session.receive()
        await session.send({"type": "websocket.close"})
        assert carrier.response is not None and carrier.response[0] == 403
        session2, _ = await make(ws_session_class)
        await session2.receive()
        await session2.send({"type": "websocket.accept", "subprotocol": "b"})
        session2.connection_lost()
        assert (await session2.receive())["code"] == 1006

    asyncio.run(main())


def test_shutdown_closes_1012_and_app_exception_1011(
    ws_session_class: type[WebSocketSession],
) -> None:
    async def main() -> None:
        session, carrier = await make(ws_session_class)
        await session.receive()
        await session.send({"type": "websocket.accept"})
        session.shutdown()
        assert (await session.receive())["code"] == 1012
        client = Connection(ConnectionType.CLIENT)
        client.receive_data(bytes(carrier.out))
        assert [e.code for e in client.events() if isinstance(e, CloseConnection)] == [1012]

        async def failing(scope: Any, receive: Any, send: Any) -> None:
            await receive()
            await send({"type": "websocket.accept"})
            raise RuntimeError("app bug")

        session, carrier = await make(ws_session_class, failing)
        session.state.app = failing
        session.start()
        await spin()
        client = Connection(ConnectionType.CLIENT)
        client.receive_data(bytes(carrier.out))
        assert [e.code for e in client.events() if isinstance(e, CloseConnection)] == [1011]

    asyncio.run(main())


async def open_deflate(
    cls: type[WebSocketSession], **options: Any
) -> tuple[WebSocketSession, FakeCarrier, Connection]:
    """An accepted session that agreed on permessage-deflate, and a client speaking it."""
    session, carrier = await make(cls, **options)
    session.scope["headers"].append((b"sec-websocket-extensions", b"permessage-deflate"))
    await session.receive()
    await session.send({"type": "websocket.accept"})
    assert carrier.accepted is not None
    agreed = dict(carrier.accepted)[b"sec-websocket-extensions"].decode()
    # The build's core agrees itself: no fallback to the wsproto core (compiled unless pure).
    assert type(session.core) is ws_core.FrameCore
    client_deflate = PerMessageDeflate()
    client_deflate.finalize(agreed)
    return session, carrier, Connection(ConnectionType.CLIENT, extensions=[client_deflate])


def test_deflate_message_with_a_ping_between_its_fragments(
    ws_session_class: type[WebSocketSession],
) -> None:
    # RFC 6455 §5.4: a control frame may come between the fragments of a message; RFC 7692
    # §6.1: RSV1 on the first frame marks the whole message compressed. wsproto's
    # PerMessageDeflate forgot that after the ping and failed the connection with 1007.
    async def main() -> None:
        session, carrier, client = await open_deflate(ws_session_class)
        first, second = "héllo " * 40, "wörld " * 40
        session.feed(client.send(TextMessage(data=first, message_finished=False)))
        session.feed(client.send(Ping(payload=b"mid")))
        session.feed(client.send(TextMessage(data=second, message_finished=True)))
        # The same again, binary, with the ping in the same read as the fragments.
        data = client.send(BytesMessage(data=b"\x00" * 300, message_finished=False))
        data += client.send(Ping(payload=b"again"))
        data += client.send(BytesMessage(data=b"\x01" * 300, message_finished=True))
        session.feed(data)
        assert await session.receive() == {"type": "websocket.receive", "text": first + second}
        assert await session.receive() == {
            "type": "websocket.receive",
            "bytes": b"\x00" * 300 + b"\x01" * 300,
        }
        client.receive_data(bytes(carrier.out))
        pongs = [e.payload for e in client.events() if isinstance(e, Pong)]
        assert pongs == [b"mid", b"again"] and session.status == OPEN

    asyncio.run(main())


def test_deflate_bomb_is_not_inflated_past_max_size(
    ws_session_class: type[WebSocketSession],
) -> None:
    # RFC 6455 §10.4: an endpoint must protect itself against messages over its limits. 64 MiB
    # of zeros compress to 64 KiB; wsproto would inflate all of it before the size check.
    async def main() -> None:
        session, carrier, client = await open_deflate(ws_session_class, ws_max_size=100_000)
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        bomb = compressor.compress(b"\0" * (64 << 20)) + compressor.flush(zlib.Z_SYNC_FLUSH)
        assert len(bomb) < 100_000
        # One binary frame (FIN, RSV1: compressed) carrying it, masked as a client's must be
        # (RFC 6455 §5.2, §5.3; RFC 7692 §7.2.1: without the trailing 00 00 ff ff).
        payload = bomb[:-4]
        mask = b"\x01\x02\x03\x04"
        size = len(payload)  # in the minimal encoding (§5.2)
        length = bytes([0x80 | 126]) + size.to_bytes(2, "big") if size <= 0xFFFF else b""
        length = length or bytes([0x80 | 127]) + size.to_bytes(8, "big")
        frame = bytes([0x80 | 0x40 | 0x2]) + length + mask
        frame += bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
        tracemalloc.start()
        try:
            session.feed(frame)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 4 << 20, f"{peak} bytes allocated while inflating"
        assert await session.receive() == {
            "type": "websocket.disconnect",
            "code": 1009,
            "reason": "Message too big",
        }
        client.receive_data(bytes(carrier.out))
        closes = [(e.code, e.reason) for e in client.events() if isinstance(e, CloseConnection)]
        assert closes == [(1009, "Message too big")]
        assert carrier.finished and session.status == CLOSED

    asyncio.run(main())


def test_deflate_message_at_max_size_passes_one_over_fails(
    ws_session_class: type[WebSocketSession],
) -> None:
    async def main() -> None:
        session, _carrier, client = await open_deflate(ws_session_class, ws_max_size=5000)
        session.feed(client.send(BytesMessage(data=b"a" * 2500, message_finished=False)))
        session.feed(client.send(BytesMessage(data=b"b" * 2500, message_finished=True)))
        assert (await session.receive())["bytes"] == b"a" * 2500 + b"b" * 2500
        # The count starts again with each message.
        session.feed(client.send(BytesMessage(data=b"c" * 5000)))
        assert (await session.receive())["bytes"] == b"c" * 5000
        session.feed(client.send(BytesMessage(data=b"d" * 5001)))
        assert (await session.receive())["code"] == 1009

    asyncio.run(main())


def test_ping_schedule_follows_the_due_times_not_the_sweep(
    ws_session_class: type[WebSocketSession],
) -> None:
    # The tick that sends a ping may come up to one sweep interval late; the next ping is due
    # one interval after the previous one was due, so the lateness never adds up.
    async def main() -> None:
        session, carrier = await make(ws_session_class, ws_ping_interval=1.0, ws_ping_timeout=0.5)
        await session.receive()
        await session.send({"type": "websocket.accept"})
        due = session.deadline
        session.check_deadline(due + 0.2)  # a late tick sends the ping
        assert session.deadline == pytest.approx(due + 0.2 + 0.5)  # the pong's full timeout
        client = Connection(ConnectionType.CLIENT)
        client.receive_data(bytes(carrier.out))
        pings = [e for e in client.events() if isinstance(e, Ping)]
        assert len(pings) == 1
        session.feed(client.send(pings[0].response()))
        assert session.deadline == pytest.approx(due + 1.0)
        # An unsolicited pong (RFC 6455 §5.5.3) does not move the schedule.
        session.feed(client.send(Pong(payload=b"x")))
        assert session.deadline == pytest.approx(due + 1.0)

        # Without a pong timeout the pings follow the due times all the same.
        session, carrier = await make(ws_session_class, ws_ping_interval=1.0, ws_ping_timeout=None)
        await session.receive()
        await session.send({"type": "websocket.accept"})
        due = session.deadline
        session.check_deadline(due + 0.3)
        assert session.deadline == pytest.approx(due + 1.0)
        # A tick later than a whole interval: the next ping one interval later, no burst.
        session.check_deadline(due + 2.5)
        assert session.deadline == pytest.approx(due + 3.5)

    asyncio.run(main())


def test_shutdown_answers_a_pending_handshake_503(ws_session_class: type[WebSocketSession]) -> None:
    # The app has received websocket.connect and waits for more before it decides: the
    # server's shutdown answers the handshake (503) and the app's receive() returns.
    seen: list[dict[str, Any]] = []

    async def waiting(scope: Any, receive: Any, send: Any) -> None:
        seen.append(await receive())
        seen.append(await receive())
        await send({"type": "websocket.accept"})

    async def main() -> None:
        session, carrier = await make(ws_session_class, waiting)
        session.state.app = waiting
        session.start()
        await spin()
        assert carrier.response is None and session in session.state.connections
        session.state.shutting_down = True
        session.shutdown()
        assert carrier.response == (503, [], b"")
        assert session.status == CLOSED and session not in session.state.connections
        assert session.task is not None
        await asyncio.wait_for(session.task, 1)
        assert seen == [
            {"type": "websocket.connect"},
            {"type": "websocket.disconnect", "code": 1006, "reason": ""},
        ]
        # The app's accept after that raised ClientDisconnected, which ended it quietly.
        assert carrier.accepted is None

        # A handshake that arrives once the server is shutting down: 503, no app call.
        late, carrier = await make(ws_session_class, waiting)
        late.state.shutting_down = True
        late.start()
        assert carrier.response == (503, [], b"") and late.task is None

    asyncio.run(main())


def test_denial_response_without_a_body_message(ws_session_class: type[WebSocketSession]) -> None:
    async def start_only(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        headers = [(b"x-why", b"token")]
        await send({"type": "websocket.http.response.start", "status": 401, "headers": headers})

    async def unfinished(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.http.response.start", "status": 401, "headers": []})
        await send({"type": "websocket.http.response.body", "body": b"part", "more_body": True})

    async def main() -> None:
        # ASGI denial extension: the messages are those of an HTTP response; no body message
        # is an empty body, with the app's status and headers.
        session, carrier = await make(ws_session_class, start_only)
        session.state.app = start_only
        session.start()
        await spin()
        assert carrier.response == (401, [(b"x-why", b"token")], b"")
        assert session.status == CLOSED and session not in session.state.connections
        # A body begun with more_body and never finished is an incomplete response: 500.
        session, carrier = await make(ws_session_class, unfinished)
        session.state.app = unfinished
        session.start()
        await spin()
        assert carrier.response == (500, [], b"")

    asyncio.run(main())


def test_ping_after_our_close_gets_no_pong_and_the_close_completes(
    ws_session_class: type[WebSocketSession],
) -> None:
    """RFC 6455 §5.5.1: nothing follows our close frame; the wsproto core raised here."""

    async def main() -> None:
        session, carrier = await make(ws_session_class)
        await session.receive()
        await session.send({"type": "websocket.accept"})
        await session.send({"type": "websocket.close", "code": 4001})
        sent = len(carrier.out)
        client = Connection(ConnectionType.CLIENT)
        client.receive_data(bytes(carrier.out))
        assert [e.code for e in client.events() if isinstance(e, CloseConnection)] == [4001]
        # (a fresh client builds the frames: this one, closing, refuses to send a ping)
        late = Connection(ConnectionType.CLIENT)
        session.feed(late.send(Ping(payload=b"late")))
        assert len(carrier.out) == sent and not carrier.finished  # no pong
        session.feed(late.send(CloseConnection(code=4001)))
        assert carrier.finished and session.status == CLOSED
        assert len(carrier.out) == sent  # our close went first: the handshake is complete

    asyncio.run(main())


def test_close_without_a_code_is_echoed_without_one(
    ws_session_class: type[WebSocketSession],
) -> None:
    """RFC 6455 §5.5.1, §7.1.5: a close frame with no code is answered with an empty one and
    the app sees 1005."""

    async def main() -> None:
        session, carrier = await make(ws_session_class)
        await session.receive()
        await session.send({"type": "websocket.accept"})
        session.feed(b"\x88\x80\x01\x02\x03\x04")  # masked close frame, empty payload
        assert bytes(carrier.out) == b"\x88\x00"
        assert (await session.receive())["code"] == 1005
        assert carrier.finished and session.status == CLOSED

    asyncio.run(main())


def test_messages_sent_in_one_loop_turn_go_out_in_one_write(
    ws_session_class: type[WebSocketSession],
) -> None:
    """The echoes of one read are written together at the end of the loop turn (one send()
    system call on HTTP/1.1); a control frame goes at once, behind them, in order."""

    async def main() -> None:
        session, carrier = await make(ws_session_class, ws_max_queue=64)
        await session.receive()
        await session.send({"type": "websocket.accept"})
        client = Connection(ConnectionType.CLIENT)
        session.feed(b"".join(client.send(BytesMessage(data=b"%d" % i)) for i in range(10)))
        for _ in range(10):
            message = await session.receive()
            await session.send({"type": "websocket.send", "bytes": message["bytes"]})
        assert carrier.writes == 0  # not yet: at the end of this turn
        await spin(1)
        assert carrier.writes == 1
        client.receive_data(bytes(carrier.out))
        assert [e.data for e in client.events()] == [b"%d" % i for i in range(10)]
        carrier.out.clear()
        # A message, then our close frame in the same turn: both at once, in that order.
        await session.send({"type": "websocket.send", "text": "last"})
        await session.send({"type": "websocket.close", "code": 4000})
        assert carrier.writes == 2
        client.receive_data(bytes(carrier.out))
        events = list(client.events())
        assert isinstance(events[0], TextMessage) and events[0].data == "last"
        assert isinstance(events[1], CloseConnection) and events[1].code == 4000

    asyncio.run(main())


def test_a_send_waits_while_the_carrier_is_paused(ws_session_class: type[WebSocketSession]) -> None:
    """Backpressure: a send whose write (at once, or at the end of an earlier turn) found the
    carrier's write side paused waits for it to drain."""

    async def main() -> None:
        session, carrier = await make(ws_session_class)
        await session.receive()
        await session.send({"type": "websocket.accept"})
        loop = asyncio.get_running_loop()
        drained = carrier.write_waiter = loop.create_future()
        # A large message goes at once, and its send waits for the drain.
        big = asyncio.ensure_future(
            session.send({"type": "websocket.send", "bytes": b"x" * (FLUSH_BYTES + 1)})
        )
        await spin()
        assert carrier.writes == 1 and not big.done()
        drained.set_result(None)
        await asyncio.wait_for(big, 1)
        # A small one waits for the end of the turn; the write then finds the carrier paused,
        # and the next send waits.
        drained = carrier.write_waiter = loop.create_future()
        await session.send({"type": "websocket.send", "bytes": b"y"})
        await spin(1)
        assert carrier.writes == 2
        blocked = asyncio.ensure_future(session.send({"type": "websocket.send", "bytes": b"z"}))
        await spin()
        assert not blocked.done()
        carrier.write_waiter = None
        drained.set_result(None)
        await asyncio.wait_for(blocked, 1)
        await spin(1)
        assert carrier.writes == 3

    asyncio.run(main())


def test_receive_takes_the_message_when_awaited(ws_session_class: type[WebSocketSession]) -> None:
    """receive()'s awaitable takes the message at its first step, not at the call (as an
    ``async def`` would): a task made of it and cancelled before it ran loses nothing, and one
    cancelled while it waits neither."""

    async def main() -> None:
        session, _ = await make(ws_session_class)
        await session.receive()
        await session.send({"type": "websocket.accept"})
        client = Connection(ConnectionType.CLIENT)
        session.feed(client.send(BytesMessage(data=b"one")))
        early = asyncio.ensure_future(session.receive())
        early.cancel()  # before its first step
        with pytest.raises(asyncio.CancelledError):
            await early
        assert await session.receive() == {"type": "websocket.receive", "bytes": b"one"}
        # An empty queue: the receive waits, and the next message wakes it.
        waiting = asyncio.ensure_future(session.receive())
        await spin()
        assert not waiting.done()
        session.feed(client.send(TextMessage(data="two")))
        assert await asyncio.wait_for(waiting, 1) == {"type": "websocket.receive", "text": "two"}
        # Cancelled while it waits: the message after goes to the next receive.
        waiting = asyncio.ensure_future(session.receive())
        await spin()
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        session.feed(client.send(TextMessage(data="three")))
        assert await session.receive() == {"type": "websocket.receive", "text": "three"}
        # send()'s ready awaitable is a coroutine to asyncio too: a task can be made of it.
        sent = asyncio.create_task(session.send({"type": "websocket.send", "bytes": b"four"}))
        assert await asyncio.wait_for(sent, 1) is None

    asyncio.run(main())


def test_a_large_binary_message_is_written_beside_its_header(
    ws_session_class: type[WebSocketSession],
) -> None:
    """From WRITEV_BYTES a binary message goes to the carrier as header and payload
    (writelines): the compiled core gives the app's bytes object itself, not a copy."""

    async def main() -> None:
        session, carrier = await make(ws_session_class)
        await session.receive()
        await session.send({"type": "websocket.accept"})
        big = bytes(range(256)) * (WRITEV_BYTES // 256)
        await session.send({"type": "websocket.send", "bytes": b"small"})
        await session.send({"type": "websocket.send", "bytes": big})
        await spin(1)
        assert carrier.writes == 1  # the small one waited and went with it, in order
        if ws_core.IMPLEMENTATION == "compiled":
            assert carrier.lines is not None and carrier.lines[-1] is big
        client = Connection(ConnectionType.CLIENT)
        client.receive_data(bytes(carrier.out))
        assert [e.data for e in client.events()] == [b"small", big]

    asyncio.run(main())
