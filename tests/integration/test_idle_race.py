"""No request already sent is lost to the keep-alive sweep (issue 8, pounce/state.py).

The worker's loop is blocked inside a socket-read callback (``/block-loop``, as a burst of
CPU work does) while the idle connections' keep-alive deadline passes and their clients send
a request. When the block ends, the loop runs its timers (the sweep) before it polls the
sockets again. A sweep that closed every idle connection past its deadline at once would
drop those requests unanswered; the sweep marks them instead, the poll reads the requests,
and each one gets its 200.
"""

from __future__ import annotations

import time
from contextlib import ExitStack

import pytest

from tests.h2support import H2Client, goaway_frames
from tests.support import RawClient, get

pytestmark = pytest.mark.timeout(30)

KEEP_ALIVE = 0.5  # sweep interval: 0.125 s
BLOCK = 1.0  # the loop is blocked from about 0 to 1.0 s after the clients connect
SEND_AT = 0.3  # the clients send here: inside the block, before their deadline at 0.5 s
CLIENTS = 20


def _blocked_server(pounce_server, *args: str):
    return pounce_server(
        "testapp:app", *args, "--no-access-log", "--timeout-keep-alive", str(KEEP_ALIVE)
    )


def test_h1_requests_sent_while_the_loop_is_blocked_are_answered(pounce_server, parser):
    server = _blocked_server(pounce_server, "--http", parser)
    with ExitStack() as stack:
        clients = [stack.enter_context(RawClient(server.port)) for _ in range(CLIENTS)]
        blocker = stack.enter_context(RawClient(server.port))
        start = time.monotonic()
        blocker.send(get(f"/block-loop?t={BLOCK}"))
        time.sleep(SEND_AT)
        for client in clients:
            client.send(get("/"))
        statuses = []
        for client in clients:
            try:
                statuses.append(client.read_response().status)
            except (EOFError, ConnectionResetError):
                statuses.append("closed unanswered")
        assert statuses == [200] * CLIENTS
        assert blocker.read_response().body == b"unblocked"
        assert time.monotonic() - start >= BLOCK  # the loop really was blocked
        # Idle again after their answers: the keep-alive timeout still closes them.
        assert all(client.is_closed(5.0) for client in clients)


def test_h2_requests_sent_while_the_loop_is_blocked_are_answered(pounce_server):
    server = _blocked_server(pounce_server)
    with ExitStack() as stack:
        # Prior knowledge: each client's preface and SETTINGS arrive now; no stream yet.
        clients = [stack.enter_context(H2Client(server.port)) for _ in range(5)]
        blocker = stack.enter_context(RawClient(server.port))
        blocker.send(get(f"/block-loop?t={BLOCK}"))
        time.sleep(SEND_AT)
        streams = [client.request("/") for client in clients]
        for client, stream_id in zip(clients, streams, strict=True):
            result = client.response(stream_id, timeout=10)
            assert (result.status, result.body) == (200, b"Hello, world!")
        assert blocker.read_response().body == b"unblocked"
        for client, stream_id in zip(clients, streams, strict=True):
            assert client.wait_closed(5.0)  # idle after the answer: GOAWAY, then closed
            assert goaway_frames(client.raw_in) == [(stream_id, 0)]
