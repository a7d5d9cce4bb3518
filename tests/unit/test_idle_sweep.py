"""The idle-close rule of the sweep (pounce/state.py): mark first, close on a second look.

A sweep that finds an idle connection past its keep-alive deadline only marks it; the close
comes from a second look one loop iteration later, and only if no request started in between.
So a request whose bytes were already waiting in the socket when the first sweep ran is
answered, never dropped. Driven here with a fake clock (``check_deadline(now)``) on both
HTTP/1.1 twins under both parsers, on HTTP/2, and through ``ServerState.sweep``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pounce import Config
from pounce.state import RECHECK_DELAY, ServerState
from tests.fakes import H2_GET, FakeTransport, h2_client, spin, start_h1, start_h2
from tests.h2support import goaway_frames, parse_frames

REQUEST = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await receive()
    headers = [(b"content-length", b"2")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"ok"})


async def h1_connection(protocol_class: type, parser: str) -> tuple[Any, FakeTransport]:
    return await start_h1(
        protocol_class, parser, app, access_log=False, date_header=False, timeout_keep_alive=0.2
    )


def expire(proto: Any) -> None:
    """Put the connection's deadline in the past, as a stale clock after a long loop iteration
    does (the sweep then runs before the socket poll that would read the request)."""
    assert proto.deadline > 0
    proto.deadline = proto.loop.time() - 1.0


async def second_look() -> None:
    """What the server waits before its second sweep (RECHECK_DELAY: a later iteration)."""
    await asyncio.sleep(RECHECK_DELAY)


@pytest.mark.timeout(10)
@pytest.mark.parametrize("parser", ["httptools", "h11"])
def test_request_waiting_when_the_sweep_runs_is_answered(h1_protocol_class, parser) -> None:
    async def main() -> None:
        proto, transport = await h1_connection(h1_protocol_class, parser)
        state = proto.state
        expire(proto)  # a new connection, its request not read yet
        assert state.sweep() is True  # marked, not closed: look again after a poll
        assert not transport.closed
        proto.data_received(REQUEST)  # the socket poll in between reads it
        await second_look()
        assert state.sweep() is False
        assert not transport.closed
        assert bytes(transport.out).startswith(b"HTTP/1.1 200 ")
        assert bytes(transport.out).endswith(b"\r\n\r\nok")
        assert proto.deadline > proto.loop.time()  # a fresh keep-alive wait

    asyncio.run(main())


@pytest.mark.timeout(10)
@pytest.mark.parametrize("parser", ["httptools", "h11"])
def test_idle_connection_closes_on_the_second_look(h1_protocol_class, parser) -> None:
    async def main() -> None:
        proto, transport = await h1_connection(h1_protocol_class, parser)
        state = proto.state
        proto.data_received(REQUEST)
        await spin()
        assert bytes(transport.out).count(b"HTTP/1.1 200 ") == 1
        expire(proto)  # the keep-alive wait after the response
        assert state.sweep() is True
        assert not transport.closed
        if parser == "httptools":
            # Bytes that start no request (RFC 9112 §2.2: an empty line before a request
            # line is ignored) do not keep it open. (The h11 adapter takes any byte as the
            # start of a head, which the head timeout then governs.)
            proto.data_received(b"\r\n")
        await second_look()
        assert state.sweep() is False
        assert transport.closed and not transport.eof
        proto.connection_lost(None)
        assert not state.connections

    asyncio.run(main())


@pytest.mark.timeout(10)
def test_a_request_between_the_looks_starts_a_new_idle_period(h1_protocol_class) -> None:
    async def main() -> None:
        proto, transport = await h1_connection(h1_protocol_class, "httptools")
        expire(proto)
        mark = proto.loop.time()
        assert proto.check_deadline(mark) is True
        proto.data_received(REQUEST)  # answered at once: idle again, a new deadline
        await spin()
        assert proto.deadline > mark
        # A late sweep finds the new deadline passed: again a mark first, never a close.
        late = proto.deadline + 1.0
        assert proto.check_deadline(late) is True
        assert not transport.closed
        assert proto.check_deadline(late + RECHECK_DELAY) is False
        assert transport.closed
        assert bytes(transport.out).count(b"HTTP/1.1 200 ") == 1

    asyncio.run(main())


@pytest.mark.timeout(10)
def test_h2_headers_waiting_when_the_sweep_runs_are_answered() -> None:
    async def main() -> None:
        proto, transport = await start_h2(app, timeout_keep_alive=1)
        state = proto.state
        c = h2_client()
        proto.data_received(c.data_to_send())  # preface and SETTINGS: idle, no stream yet
        expire(proto)
        assert state.sweep() is True
        assert not transport.closed
        c.send_headers(1, H2_GET, end_stream=True)
        proto.data_received(c.data_to_send())  # the HEADERS frame the poll reads
        await spin()
        await second_look()
        assert state.sweep() is False
        assert not transport.closed
        out = transport.drain()
        assert goaway_frames(out) == []
        assert any(f.type == 0x0 and f.stream_id == 1 for f in parse_frames(out))  # the answer
        # The stream came and went: a new idle deadline, and again two looks to close.
        assert not proto.streams and proto.deadline > proto.loop.time()
        expire(proto)
        assert state.sweep() is True
        assert not transport.closed
        await second_look()
        assert state.sweep() is False
        assert transport.closed
        assert goaway_frames(transport.drain()) == [(1, 0)]  # RFC 9113 §6.8: stream 1 was done

    asyncio.run(main())


@pytest.mark.parametrize(
    ("options", "interval"),
    [
        ({}, 1.0),  # uvicorn's defaults: 20 s pings, the 1 s tick is an eighth of that already
        ({"ws_ping_interval": 0.1, "ws_ping_timeout": 0.1}, 0.0125),
        ({"ws_ping_interval": 0.4, "ws_ping_timeout": 20.0}, 0.05),
        ({"ws_ping_interval": 2.0, "ws_ping_timeout": 0.2}, 0.025),
        ({"ws_ping_interval": 0.2, "ws_ping_timeout": None}, 0.025),
        ({"ws_ping_interval": 0.001, "ws_ping_timeout": 0.001}, 0.01),  # the floor
        # No pings, or no WebSockets: the WebSocket timings do not count.
        ({"ws_ping_interval": 0.0, "ws_ping_timeout": 0.1}, 1.0),
        ({"ws_ping_interval": None, "ws_ping_timeout": 0.1}, 1.0),
        ({"ws": "none", "ws_ping_interval": 0.1, "ws_ping_timeout": 0.1}, 1.0),
        # A shorter HTTP timeout keeps its own quarter.
        ({"timeout_keep_alive": 0.4, "ws_ping_interval": 20.0}, 0.1),
        ({"timeout_keep_alive": 0.4, "ws_ping_interval": 0.4}, 0.05),
    ],
)
def test_sweep_interval_follows_the_shortest_websocket_timing(
    options: dict[str, Any], interval: float
) -> None:
    # One periodic timer per worker; WebSocket pings ride it (pounce/websocket/_session.py), so it
    # runs at least every eighth of the shortest ping timing when WebSockets are on.
    async def main() -> float:
        config = Config(app=app, access_log=False, **options)
        return ServerState(config, app, asyncio.get_running_loop()).sweep_interval

    assert asyncio.run(main()) == pytest.approx(interval)
