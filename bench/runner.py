"""One measurement: start a server, check it, warm it up, load it, stop it.

A server is started afresh for every measurement, so a round's servers never share core 0 and
one server's leftovers (GC state, connections in TIME_WAIT on its port) cannot reach the next.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from .loadgen import LUA_DIR, Load, LoadError, LoadResult
from .procs import ServerProcess, ServerStartError, cpu_seconds, free_port
from .scenarios import Scenario, SmokeCheckError
from .servers import Launch, ServerSpec

REPO = Path(__file__).resolve().parent.parent
SERVER_CPU = 0

T = TypeVar("T")

# What a measurement may fail with and still let the run go on to the next one.
MEASUREMENT_ERRORS = (ServerStartError, SmokeCheckError, LoadError, OSError)


@dataclass(frozen=True)
class Settings:
    out: Path
    duration: int
    warmup: int
    connections: int
    rounds: int


@dataclass(frozen=True)
class Outcome:
    """The result of one measurement, or why there is none."""

    server: str
    round: int
    result: LoadResult | None = None
    # CPU seconds the server used during the measured load. Requests per CPU-second is far less
    # disturbed than req/s when other jobs share core 0: it is what to compare on a busy machine.
    server_cpu_s: float | None = None
    duration: int = 0
    error: str | None = None

    @property
    def cpu_share(self) -> float | None:
        """Share of one core the server used under load: well below 1 means it was starved by
        other jobs on core 0, or the load generator could not keep it busy."""
        if self.server_cpu_s is None or not self.duration:
            return None
        return self.server_cpu_s / self.duration

    @property
    def per_cpu_second(self) -> float | None:
        if self.result is None or not self.server_cpu_s:
            return None
        return self.result.requests / self.server_cpu_s


def server_env(spec: ServerSpec) -> dict[str, str]:
    # The apps are imported as bench.apps.*, from the repository root, by every server.
    path = os.environ.get("PYTHONPATH", "")
    return {**spec.env, "PYTHONPATH": f"{REPO}{os.pathsep}{path}" if path else str(REPO)}


def start_server(spec: ServerSpec, app: str, log: Path, keep_alive: int = 5) -> ServerProcess:
    port = free_port()
    argv = spec.command(Launch(app=app, port=port, keep_alive=keep_alive))
    server = ServerProcess(
        spec.name,
        argv=argv,
        port=port,
        log_path=log,
        env=server_env(spec),
        cpu=SERVER_CPU,
        cwd=REPO,
    )
    try:
        server.wait_listening()
    except BaseException:
        server.stop()
        raise
    return server


def with_server(
    spec: ServerSpec,
    scenario: Scenario,
    *,
    label: str,
    settings: Settings,
    body: Callable[[ServerProcess], T],
    keep_alive: int = 5,
) -> T:
    """Start ``spec`` on ``scenario``'s app, smoke-check it, run ``body``, and always stop it."""
    server = start_server(spec, scenario.app, settings.out / "logs" / f"{label}.log", keep_alive)
    try:
        scenario.smoke_check(server.port)
        value = body(server)
        if server.proc.poll() is not None:
            raise ServerStartError(
                f"{spec.name} exited with code {server.proc.returncode} during the load;"
                f" log {server.log_path}:\n{server.log_tail()}"
            )
        return value
    finally:
        server.stop()


def load_for(
    scenario: Scenario,
    port: int,
    *,
    duration: int,
    connections: int,
    out: Path | None,
    script: Path | None = None,
    script_args: tuple[str, ...] = (),
) -> Load:
    if script is None and scenario.script is not None:
        script = LUA_DIR / scenario.script
    return Load(scenario.url(port), duration, connections, script, script_args, out)


def measure_throughput(
    spec: ServerSpec, scenario: Scenario, round_no: int, settings: Settings
) -> Outcome:
    label = f"{scenario.name}-{spec.name}-r{round_no}"

    def body(server: ServerProcess) -> tuple[LoadResult, float]:
        if settings.warmup > 0:
            scenario.tool.run(
                load_for(
                    scenario,
                    server.port,
                    duration=settings.warmup,
                    connections=scenario.connections or settings.connections,
                    out=None,
                )
            )
        raw = settings.out / "raw" / f"{label}.txt"
        cpu_before = cpu_seconds(server.pid)
        result = scenario.tool.run(
            load_for(
                scenario,
                server.port,
                duration=settings.duration,
                connections=scenario.connections or settings.connections,
                out=raw,
            )
        )
        return result, cpu_seconds(server.pid) - cpu_before

    try:
        result, cpu = with_server(spec, scenario, label=label, settings=settings, body=body)
        return Outcome(
            spec.name, round_no, result=result, server_cpu_s=cpu, duration=settings.duration
        )
    except MEASUREMENT_ERRORS as exc:
        return Outcome(spec.name, round_no, error=str(exc))


def median_rate(outcomes: list[Outcome]) -> float | None:
    rates = [o.result.requests_per_s for o in outcomes if o.result is not None]
    return statistics.median(rates) if rates else None


def median_per_cpu(outcomes: list[Outcome]) -> float | None:
    values = [v for o in outcomes if (v := o.per_cpu_second) is not None]
    return statistics.median(values) if values else None
