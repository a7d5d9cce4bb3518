"""p99 latency at a fixed request rate (issue 3: half of uvicorn's maximum, on hello).

wrk has no rate option and wrk2 is not in Debian, so ``lua/fixed_rate.lua`` paces wrk's requests
to a constant-rate schedule with wrk's ``delay()`` hook; see that file for what it measures.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass
from pathlib import Path

from .loadgen import LUA_DIR, LoadError
from .procs import ServerProcess
from .runner import MEASUREMENT_ERRORS, Settings, load_for, with_server
from .scenarios import Scenario
from .servers import ServerSpec

SCRIPT = LUA_DIR / "fixed_rate.lua"
# Below this share of the target rate the server (or wrk) did not keep up, and its latency
# percentiles describe a different load than the other server's.
HELD_RATE = 0.97


@dataclass(frozen=True)
class FixedRate:
    target: float
    achieved: float
    requests: int
    p50_us: int
    p90_us: int
    p99_us: int
    p999_us: int
    max_us: int
    errors: int
    bad_status: int

    @property
    def held(self) -> bool:
        return self.achieved >= HELD_RATE * self.target


@dataclass(frozen=True)
class LatencyOutcome:
    server: str
    round: int
    result: FixedRate | None = None
    error: str | None = None


def parse(text: str, target: float) -> FixedRate:
    match = re.search(r"^FIXED_RATE (.*)$", text, re.M)
    if match is None:
        raise LoadError(f"no FIXED_RATE line in wrk output:\n{text}")
    fields = dict(pair.split("=", 1) for pair in match.group(1).split())
    return FixedRate(
        target=target,
        achieved=float(fields["achieved"]),
        requests=int(fields["requests"]),
        p50_us=int(fields["p50_us"]),
        p90_us=int(fields["p90_us"]),
        p99_us=int(fields["p99_us"]),
        p999_us=int(fields["p999_us"]),
        max_us=int(fields["max_us"]),
        errors=int(fields["errors"]),
        bad_status=int(fields["non2xx"]),
    )


def measure_fixed_rate(
    spec: ServerSpec, scenario: Scenario, rate: float, round_no: int, settings: Settings
) -> LatencyOutcome:
    label = f"p99-{scenario.name}-{spec.name}-r{round_no}"
    args = (f"{rate:.0f}",)

    def body(server: ServerProcess) -> FixedRate:
        # The warm-up is at the same rate: a burst at full speed would leave a different heap.
        if settings.warmup > 0:
            scenario.tool.run(
                load_for(
                    scenario,
                    server.port,
                    duration=settings.warmup,
                    connections=settings.connections,
                    out=None,
                    script=SCRIPT,
                    script_args=args,
                )
            )
        raw = settings.out / "raw" / f"{label}.txt"
        scenario.tool.run(
            load_for(
                scenario,
                server.port,
                duration=settings.duration,
                connections=settings.connections,
                out=raw,
                script=SCRIPT,
                script_args=args,
            )
        )
        return parse(Path(raw).read_text(), rate)

    try:
        result = with_server(spec, scenario, label=label, settings=settings, body=body)
        return LatencyOutcome(spec.name, round_no, result=result)
    except MEASUREMENT_ERRORS as exc:
        return LatencyOutcome(spec.name, round_no, error=str(exc))


def median_p99(outcomes: list[LatencyOutcome]) -> float | None:
    values = [o.result.p99_us for o in outcomes if o.result is not None]
    return statistics.median(values) if values else None
