"""``receive()`` does its work when awaited, not when called (both twins).

ASGI's ``receive`` is an awaitable callable. a2wsgi (``--interface wsgi``, and any WSGI app
mounted in an ASGI one with it) calls ``receive()`` in a worker thread and awaits the result on
the loop with ``run_coroutine_threadsafe``, so state can change between the call and the await.
The compiled cycle used to decide at call time: a body that arrived in between was either taken
in the wrong thread or never woke the waiter (the request hung).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(30)


class Writer:
    """The ResponseWriter calls the cycle makes while receiving: only body_consumed here."""

    def __init__(self) -> None:
        self.consumed: list[int] = []

    def body_consumed(self, cycle: Any, nbytes: int) -> None:
        self.consumed.append(nbytes)

    def send_continue(self, cycle: Any) -> None:
        pass


def run(cycle_class: type, steps: Any) -> Any:
    async def main() -> Any:
        writer = Writer()
        cycle = cycle_class({"type": "http"}, writer, asyncio.get_running_loop(), True)
        return await asyncio.wait_for(steps(cycle, writer), 2)

    return asyncio.run(main())


def test_body_arriving_between_call_and_await_is_delivered(cycle_class: type) -> None:
    async def steps(cycle: Any, writer: Writer) -> Any:
        pending = cycle.receive()  # nothing buffered yet
        cycle.feed_body(b"late")
        cycle.end_body()
        return await pending  # used to wait forever: the wake-up came before the waiter

    assert run(cycle_class, steps) == {"type": "http.request", "body": b"late", "more_body": False}


def test_buffered_body_is_taken_at_the_await(cycle_class: type) -> None:
    async def steps(cycle: Any, writer: Writer) -> Any:
        cycle.feed_body(b"a")
        pending = cycle.receive()
        assert writer.consumed == []  # nothing taken (nor reading resumed) by the call
        cycle.feed_body(b"b")
        message = await pending
        return message, writer.consumed

    message, consumed = run(cycle_class, steps)
    assert message == {"type": "http.request", "body": b"ab", "more_body": True}
    assert consumed == [2]


def test_disconnect_between_call_and_await_after_the_body(cycle_class: type) -> None:
    async def steps(cycle: Any, writer: Writer) -> Any:
        cycle.feed_body(b"x")
        cycle.end_body()
        assert (await cycle.receive())["body"] == b"x"
        pending = cycle.receive()  # after the body: waits for the client to go
        cycle.disconnect()
        return await pending

    assert run(cycle_class, steps) == {"type": "http.disconnect"}
