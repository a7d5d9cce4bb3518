"""``--ws websockets|websockets-sansio`` (uvicorn's names for its websockets-library
implementations): accepted, served by pounce's own WebSocket implementation, said once at start.
``--ws none`` still refuses WebSocket requests."""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus


@pytest.mark.parametrize("ws", ["websockets", "websockets-sansio"])
def test_websockets_names_run_pounces_implementation(pounce_server, ws) -> None:
    proc = pounce_server("ws_apps:app", "--ws", ws, "--no-access-log")

    async def echo() -> str:
        async with connect(f"ws://127.0.0.1:{proc.port}/echo") as conn:
            await conn.send("ping over " + ws)
            return str(await asyncio.wait_for(conn.recv(), 5))

    assert asyncio.run(echo()) == "ping over " + ws
    note = (
        f"INFO:     --ws {ws}: pounce runs its own WebSocket implementation (wsproto-based) "
        "for uvicorn's websockets choices"
    )
    assert proc.output().splitlines().count(note) == 1


def test_wsproto_and_auto_say_nothing(pounce_server) -> None:
    proc = pounce_server("ws_apps:app", "--ws", "wsproto", "--no-access-log")
    assert "own WebSocket implementation" not in proc.output()


def test_ws_none_still_refuses(pounce_server) -> None:
    proc = pounce_server("ws_apps:app", "--ws", "none", "--no-access-log")

    async def attempt() -> None:
        async with connect(f"ws://127.0.0.1:{proc.port}/echo"):
            pass

    with pytest.raises(InvalidStatus):
        asyncio.run(attempt())
