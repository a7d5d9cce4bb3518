"""``--ws websockets|websockets-sansio`` (uvicorn's names for its websockets-library
implementations): accepted, served by pounce's own WebSocket implementation, said once at start.
``--ws none`` still refuses WebSocket requests."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.support import ROOT


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


@pytest.mark.timeout(30)
def test_run_with_a_websockets_name_says_so_too(tmp_path) -> None:
    """``pounce.run(ws="websockets")`` (no CLI) logs the same one line."""
    script = tmp_path / "embed.py"
    script.write_text(
        "import pounce\n"
        "from tests.apps.ws_apps import app\n"
        "config = dict(port=0, ws='websockets', lifespan='off', access_log=False)\n"
        "pounce.run(app, **config)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines: list[str] = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if "Press CTRL+C to quit" in line:
                break
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    note = (
        "INFO:     --ws websockets: pounce runs its own WebSocket implementation (wsproto-based) "
        "for uvicorn's websockets choices"
    )
    assert lines.count(note) == 1, lines
