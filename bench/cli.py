"""``python -m bench``: parse the flags, run the parts in interleaved rounds, report.

Round r runs every selected scenario on every selected server in a fixed order (pounce,
uvicorn, granian, hypercorn, then the pure pair) before round r+1 starts, so slow drift in the
machine (another job, thermal state) lands on all servers alike; the median of rounds is
compared.
"""

from __future__ import annotations

import argparse
import atexit
import dataclasses
import datetime as dt
import json
import os
import shlex
import shutil
import sys
from collections.abc import Collection
from pathlib import Path

from .idle import IdleOutcome, measure_idle
from .latency import LatencyOutcome, measure_fixed_rate
from .loadgen import WRK
from .procs import ServerProcess, stopped_on_exit
from .report import Meta, loadavg, record, render
from .runner import REPO, Outcome, Settings, measure_throughput, median_rate
from .scenarios import SCENARIOS, Scenario
from .servers import BIN, SERVERS, ServerSpec

PARTS = ("throughput", "p99", "idle")
OUT_ROOT = REPO / "bench" / "out"
RESULTS = REPO / "bench" / "RESULTS.md"


def _names(value: str, known: Collection[str], what: str) -> list[str]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown {what}: {', '.join(unknown)} (known: {', '.join(known)})"
        )
    return names


def parse_args(argv: list[str]) -> argparse.Namespace:
    default_scenarios = ",".join(n for n, s in SCENARIOS.items() if s.default)
    p = argparse.ArgumentParser(
        prog="bench/run",
        description="Benchmark pounce against uvicorn, granian and hypercorn: bench/README.md.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds per measurement")
    p.add_argument(
        "-d",
        "--duration",
        type=int,
        default=5,
        help="seconds of load per run (wrk takes whole seconds)",
    )
    p.add_argument(
        "--warmup",
        type=int,
        default=1,
        help="seconds of unmeasured load after each server start (0: none)",
    )
    p.add_argument("-c", "--connections", type=int, default=64, help="wrk connections")
    p.add_argument(
        "-s",
        "--scenarios",
        default=default_scenarios,
        help=f"comma-separated, from: {', '.join(SCENARIOS)}",
    )
    p.add_argument(
        "--servers", default=",".join(SERVERS), help=f"comma-separated, from: {', '.join(SERVERS)}"
    )
    p.add_argument(
        "--parts", default=",".join(PARTS), help="comma-separated, from: " + ", ".join(PARTS)
    )
    p.add_argument(
        "--p99-rate",
        type=float,
        default=None,
        help="fixed rate for p99 (default: half of uvicorn's hello median)",
    )
    p.add_argument("--p99-servers", default="pounce,uvicorn")
    p.add_argument("--idle-servers", default="pounce,uvicorn")
    p.add_argument("--idle-connections", type=int, default=10_000)
    p.add_argument(
        "--record",
        choices=("none", "append", "replace"),
        default="none",
        help="write the report to bench/RESULTS.md",
    )
    p.add_argument("--note", default="", help="a note for the report (e.g. 'machine shared')")
    args = p.parse_args(argv)
    try:
        args.scenarios = _names(args.scenarios, SCENARIOS, "scenario")
        args.servers = _names(args.servers, SERVERS, "server")
        args.parts = _names(args.parts, PARTS, "part")
        args.p99_servers = _names(args.p99_servers, SERVERS, "server")
        args.idle_servers = _names(args.idle_servers, SERVERS, "server")
    except argparse.ArgumentTypeError as exc:
        p.error(str(exc))
    if args.rounds < 1 or args.duration <= 0:
        p.error("--rounds must be ≥ 1 and --duration > 0")
    return args


def preflight(servers: list[ServerSpec]) -> list[str]:
    """What is missing, so that the run stops before starting instead of half-way through."""
    missing = [tool for tool in ("wrk", "taskset") if shutil.which(tool) is None]
    for spec in servers:
        exe = spec.command_name()
        if not (BIN / exe).exists():
            missing.append(f"{exe} (pip install -e '.[speedups,bench]' in {BIN.parent})")
    if (os.cpu_count() or 1) < 2:
        missing.append("a second CPU (servers are pinned to core 0, wrk to core 1)")
    return missing


def _say(text: str) -> None:
    print(text, flush=True)


def _first_line(error: str) -> str:
    return error.splitlines()[0] if error else ""


def run_throughput(
    scenarios: list[Scenario], servers: list[ServerSpec], settings: Settings
) -> dict[str, dict[str, list[Outcome]]]:
    results: dict[str, dict[str, list[Outcome]]] = {
        s.name: {v.name: [] for v in servers if s.servers is None or v.name in s.servers}
        for s in scenarios
    }
    for round_no in range(1, settings.rounds + 1):
        for scenario in scenarios:
            for spec in servers:
                if spec.name not in results[scenario.name]:
                    continue
                outcome = measure_throughput(spec, scenario, round_no, settings)
                results[scenario.name][spec.name].append(outcome)
                prefix = f"[round {round_no}/{settings.rounds}] {scenario.name:<8} {spec.name:<12}"
                if outcome.result is not None:
                    r = outcome.result
                    flag = "" if r.clean else f"  ({r.errors} errors, {r.bad_status} bad status)"
                    _say(f"{prefix} {r.requests_per_s:>10,.0f} req/s{flag}")
                else:
                    _say(f"{prefix} FAILED: {outcome.error}")
    return results


def fixed_rate_for(
    args: argparse.Namespace, throughput: dict[str, dict[str, list[Outcome]]], settings: Settings
) -> float | None:
    if args.p99_rate:
        return float(args.p99_rate)
    uvicorn = median_rate(throughput.get("hello", {}).get("uvicorn", []))
    if uvicorn is None:
        # hello or uvicorn was filtered out of the throughput part: measure its maximum now.
        _say("p99: measuring uvicorn's hello maximum for the fixed rate")
        one = Settings(settings.out, settings.duration, settings.warmup, settings.connections, 1)
        outcome = measure_throughput(SERVERS["uvicorn"], SCENARIOS["hello"], 0, one)
        if outcome.result is None:
            _say(f"p99: skipped, uvicorn failed: {outcome.error}")
            return None
        uvicorn = outcome.result.requests_per_s
    return uvicorn / 2


def run_latency(
    rate: float, servers: list[ServerSpec], settings: Settings
) -> dict[str, list[LatencyOutcome]]:
    hello = SCENARIOS["hello"]
    results: dict[str, list[LatencyOutcome]] = {s.name: [] for s in servers}
    for round_no in range(1, settings.rounds + 1):
        for spec in servers:
            outcome = measure_fixed_rate(spec, hello, rate, round_no, settings)
            results[spec.name].append(outcome)
            prefix = f"[round {round_no}/{settings.rounds}] p99@{rate:,.0f}/s {spec.name:<12}"
            if outcome.result is not None:
                r = outcome.result
                held = "" if r.held else "  (rate not held)"
                _say(f"{prefix} p50 {r.p50_us} µs  p99 {r.p99_us} µs  achieved"
                     f" {r.achieved:,.0f}/s{held}")  # fmt: skip
            else:
                _say(f"{prefix} FAILED: {outcome.error}")
    return results


def run_idle(servers: list[ServerSpec], connections: int, settings: Settings) -> list[IdleOutcome]:
    outcomes = []
    for spec in servers:
        outcome = measure_idle(spec, SCENARIOS["hello"], connections, settings)
        outcomes.append(outcome)
        if outcome.result is not None:
            r = outcome.result
            per = r.per_connection
            per_text = f"{per / 1024:.1f} KiB/connection" if per is not None else "?"
            _say(
                f"idle {spec.name:<12} {r.opened:,} opened, {r.alive:,} still open,"
                f" RSS {r.rss_before / 2**20:.1f} → {r.rss_after / 2**20:.1f} MiB, {per_text}"
            )
        else:
            _say(f"idle {spec.name:<12} FAILED: {outcome.error}")
    return outcomes


def estimate_minutes(
    args: argparse.Namespace, scenarios: list[Scenario], servers: list[ServerSpec]
) -> int:
    # About 1.5 s per measurement to start, smoke-check and stop a server, on top of the load.
    per_run: float = args.duration + args.warmup + 1.5
    runs = 0
    if "throughput" in args.parts:
        runs += sum(
            1 for sc in scenarios for sv in servers if sc.servers is None or sv.name in sc.servers
        )
    if "p99" in args.parts:
        runs += len(args.p99_servers)
    seconds: float = runs * per_run * args.rounds
    if "idle" in args.parts:
        seconds += len(args.idle_servers) * 25
    return max(1, round(seconds / 60))


def save_json(path: Path, **parts: object) -> None:
    """Every round's numbers, for reading by a script (the report shows only medians)."""

    def default(value: object) -> object:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return dataclasses.asdict(value)
        return str(value)

    path.write_text(json.dumps(parts, default=default, indent=1))


def main(argv: list[str] | None = None) -> int:
    raw_argv = sys.argv[1:] if argv is None else argv
    args = parse_args(raw_argv)
    servers = [SERVERS[n] for n in args.servers]
    scenarios = [SCENARIOS[n] for n in args.scenarios]
    missing = preflight(servers)
    if missing:
        _say("bench: missing: " + "; ".join(missing))
        return 2

    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = OUT_ROOT / stamp
    out.mkdir(parents=True, exist_ok=True)
    settings = Settings(out, args.duration, args.warmup, args.connections, args.rounds)
    invoked_as = os.environ.get("BENCH_INVOKED_AS", "python -m bench")
    meta = Meta(command=" ".join([invoked_as, *map(shlex.quote, raw_argv)]).strip(),
                note=args.note, wrk_version=WRK.version())  # fmt: skip
    _say(f"bench: raw output in {out}; about {estimate_minutes(args, scenarios, servers)} min")

    atexit.register(ServerProcess.stop_all)
    throughput: dict[str, dict[str, list[Outcome]]] = {}
    latency: dict[str, list[LatencyOutcome]] = {}
    idle: list[IdleOutcome] = []
    rate: float | None = None
    try:
        with stopped_on_exit():
            if "throughput" in args.parts:
                throughput = run_throughput(scenarios, servers, settings)
            if "p99" in args.parts:
                rate = fixed_rate_for(args, throughput, settings)
                if rate is not None:
                    latency = run_latency(rate, [SERVERS[n] for n in args.p99_servers], settings)
            if "idle" in args.parts:
                idle = run_idle([SERVERS[n] for n in args.idle_servers], args.idle_connections,
                                settings)  # fmt: skip
    except KeyboardInterrupt:
        _say("bench: interrupted; every server has been stopped")
        return 130

    meta.load_end = loadavg()
    method = (
        f"each server pinned to core 0 (`taskset -c 0`), one worker, access log off; wrk pinned"
        f" to core 1 (`taskset -c 1 wrk -t1 -c{args.connections} -d{args.duration:g}s`);"
        f" {args.rounds} interleaved round(s), a fresh server start and {args.warmup:g} s"
        f" warm-up per measurement; median of rounds"
    )
    report = render(
        meta,
        method=method,
        throughput=throughput,
        fixed_rate=rate,
        latency=latency,
        idle=idle,
        idle_connections=args.idle_connections,
    )
    (out / "report.md").write_text(report)
    save_json(out / "results.json", throughput=throughput, latency=latency, idle=idle)
    _say("")
    _say(report)
    if args.record != "none":
        record(RESULTS, report, args.record)
        _say(f"bench: {args.record} {RESULTS.relative_to(REPO)}")
    return 0
