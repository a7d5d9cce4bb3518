"""Idle keep-alive connections: how many one worker holds, and the RSS each one costs.

The server runs with a keep-alive timeout of 60 s (where it has one), so the connections stay
open for the whole measurement. RSS is the server's process tree, from /proc, after one warm-up
request (before) and with every connection open and idle for ``SETTLE_SECONDS`` (after);
the connections still open after ``HOLD_SECONDS`` are counted as held.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import IO

from .loadgen import LOAD_CPU, LoadError
from .procs import ServerProcess, pinned, raise_nofile_limit, rss_bytes
from .runner import MEASUREMENT_ERRORS, REPO, Settings, with_server
from .scenarios import Scenario
from .servers import ServerSpec

KEEP_ALIVE_SECONDS = 60
SETTLE_SECONDS = 3.0
# Connections are counted as held if still open this long after they were opened: longer than
# the 5 s default keep-alive timeout, so a server that ignored --timeout-keep-alive shows.
HOLD_SECONDS = 10.0
OPEN_TIMEOUT_SECONDS = 180.0


@dataclass(frozen=True)
class IdleResult:
    connections: int
    opened: int
    alive: int
    rss_before: int
    rss_after: int
    open_seconds: float
    first_error: str | None

    @property
    def per_connection(self) -> float | None:
        return (self.rss_after - self.rss_before) / self.opened if self.opened else None


@dataclass(frozen=True)
class IdleOutcome:
    server: str
    result: IdleResult | None = None
    error: str | None = None


def _expect(stream: IO[str], tag: str, deadline: float) -> dict[str, object]:
    # The client prints nothing but its tagged lines; anything else is an error report.
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            raise LoadError(f"idle client exited before printing {tag}")
        if line.startswith(tag + " "):
            value: dict[str, object] = json.loads(line[len(tag) + 1 :])
            return value
    raise LoadError(f"idle client did not print {tag} in time")


def measure_idle(
    spec: ServerSpec, scenario: Scenario, connections: int, settings: Settings
) -> IdleOutcome:
    label = f"idle-{spec.name}"
    raise_nofile_limit()

    def body(server: ServerProcess) -> IdleResult:
        before = rss_bytes(server.pid)
        argv = pinned(LOAD_CPU, [
            sys.executable, "-m", "bench.idle_client",
            "--port", str(server.port), "--connections", str(connections),
        ])  # fmt: skip
        client = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO
        )
        assert client.stdin is not None and client.stdout is not None
        try:
            opened = _expect(client.stdout, "OPEN", time.monotonic() + OPEN_TIMEOUT_SECONDS)
            time.sleep(SETTLE_SECONDS)
            after = rss_bytes(server.pid)
            time.sleep(HOLD_SECONDS - SETTLE_SECONDS)
            client.stdin.write("check\n")
            client.stdin.flush()
            alive = _expect(client.stdout, "ALIVE", time.monotonic() + 60)
            client.stdin.close()
            client.wait(60)
        finally:
            if client.poll() is None:
                client.kill()
                client.wait()
        first_error = opened.get("first_error")
        return IdleResult(
            connections=connections,
            opened=int(str(opened["opened"])),
            alive=int(str(alive["alive"])),
            rss_before=before,
            rss_after=after,
            open_seconds=float(str(opened["seconds"])),
            first_error=str(first_error) if first_error else None,
        )

    try:
        result = with_server(
            spec, scenario, label=label, settings=settings, body=body, keep_alive=KEEP_ALIVE_SECONDS
        )
        return IdleOutcome(spec.name, result=result)
    except (*MEASUREMENT_ERRORS, subprocess.TimeoutExpired) as exc:
        return IdleOutcome(spec.name, error=str(exc))
