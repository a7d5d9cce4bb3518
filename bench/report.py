"""The run's metadata and its markdown report (printed, saved in bench/out/, and optionally
written to or appended to bench/RESULTS.md)."""

from __future__ import annotations

import datetime as dt
import os
import platform
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from .idle import IdleOutcome
from .latency import LatencyOutcome, median_p99
from .runner import REPO, Outcome, median_per_cpu, median_rate
from .servers import SERVERS

PACKAGES = ("pounce", "uvicorn", "granian", "hypercorn", "fastapi", "uvloop", "httptools", "h11")
RESULTS_HEADER = """# Benchmark results

Runs recorded by `bench/run --record append` (newest last). bench/README.md says what each
scenario measures and how the servers are started. Numbers from a shared or noisy machine are
marked as such in their run's note.
"""


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
    return done.stdout.strip()


def _pounce_speedups() -> str:
    pounce = shutil.which("pounce", path=str(Path(sys.executable).parent))
    if pounce is None:
        return "?"
    done = subprocess.run([pounce, "--version"], capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("speedups:"):
            return line.split(":", 1)[1].strip()
    return "?"


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


@dataclass
class Meta:
    command: str
    note: str
    wrk_version: str
    started: str = field(
        default_factory=lambda: dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    )
    load_start: str = field(default_factory=loadavg)
    load_end: str = ""

    def lines(self, method: str) -> list[str]:
        commit = _git("rev-parse", "--short", "HEAD") or "?"
        dirty = " (uncommitted changes)" if _git("status", "--porcelain", "--", "pounce") else ""
        versions = ", ".join(
            f"{p} {_version(p)}" + (f" (speedups: {_pounce_speedups()})" if p == "pounce" else "")
            for p in PACKAGES
        )
        lines = [
            f"- Command: `{self.command}`",
            f"- Machine: `nproc` {os.cpu_count()}, {_cpu_model()}, Linux {platform.release()};"
            f" load average {self.load_start} at start, {self.load_end or loadavg()} at end",
            f"- Versions: Python {platform.python_version()}, {versions}, {self.wrk_version}",
            f"- pounce tree: {_git('rev-parse', '--abbrev-ref', 'HEAD')} @ {commit}{dirty}",
            f"- Method: {method}",
        ]
        if self.note:
            lines.append(f"- Note: {self.note}")
        return lines


def _fmt_rate(value: float | None) -> str:
    return f"{value:,.0f}" if value is not None else "—"


def _fmt_us(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value / 1000:.2f} ms" if value >= 1000 else f"{value:.0f} µs"


def _ratio(value: float | None, base: float | None) -> str:
    return f"{value / base:.2f}x" if value is not None and base else "—"


# Below this median share of a core, a row's req/s is not the server's maximum.
BUSY_CPU_SHARE = 0.8


def starved_rows(results: dict[str, dict[str, list[Outcome]]]) -> int:
    count = 0
    for by_server in results.values():
        for outcomes in by_server.values():
            shares = [s for o in outcomes if (s := o.cpu_share) is not None]
            if shares and statistics.median(shares) < BUSY_CPU_SHARE:
                count += 1
    return count


def throughput_table(results: dict[str, dict[str, list[Outcome]]]) -> list[str]:
    lines = [
        "| scenario | server | req/s (median) | min - max | req/s ratio | req per server"
        " CPU-s | CPU-s ratio | server CPU | errors |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for scenario, by_server in results.items():
        rates = {name: median_rate(outcomes) for name, outcomes in by_server.items()}
        per_cpu = {name: median_per_cpu(outcomes) for name, outcomes in by_server.items()}
        for name, outcomes in by_server.items():
            done = [o.result.requests_per_s for o in outcomes if o.result is not None]
            failed = [o for o in outcomes if o.error is not None]
            baseline = SERVERS[name].baseline
            if baseline is None:
                rate_ratio = cpu_ratio = "baseline"
            else:
                rate_ratio = _ratio(rates[name], rates.get(baseline))
                cpu_ratio = _ratio(per_cpu[name], per_cpu.get(baseline))
                if rate_ratio != "—":
                    rate_ratio += f" {baseline}"
            errors = sum(o.result.errors + o.result.bad_status for o in outcomes if o.result)
            spread = f"{min(done):,.0f} - {max(done):,.0f}" if done else "—"
            shares = [s for o in outcomes if (s := o.cpu_share) is not None]
            share = f"{statistics.median(shares):.0%}" if shares else "—"
            errors_text = f"{errors:,}" + (f", {len(failed)} failed runs" if failed else "")
            lines.append(
                f"| {scenario} | {name} | {_fmt_rate(rates[name])} | {spread} | {rate_ratio}"
                f" | {_fmt_rate(per_cpu[name])} | {cpu_ratio} | {share} | {errors_text} |"
            )
    return lines


def latency_table(rate: float, outcomes: dict[str, list[LatencyOutcome]]) -> list[str]:
    lines = [
        f"hello at a fixed {rate:,.0f} req/s (half of uvicorn's hello maximum unless"
        " --p99-rate was given), 64 connections, wrk paced by bench/lua/fixed_rate.lua;"
        " median over rounds:",
        "",
        "| server | achieved req/s | p50 | p90 | p99 | p99.9 | p99 vs uvicorn | errors |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    uvicorn_p99 = median_p99(outcomes.get("uvicorn", []))
    for name, runs in outcomes.items():
        ok = [o.result for o in runs if o.result is not None]
        if not ok:
            lines.append(f"| {name} | failed | | | | | | {len(runs)} failed runs |")
            continue

        def med(values: list[float]) -> float:
            return statistics.median(values)

        p99 = med([r.p99_us for r in ok])
        achieved = med([r.achieved for r in ok])
        short = sum(1 for r in ok if not r.held)
        held = f" (rate not held in {short} of {len(ok)} rounds)" if short else ""
        ratio = f"{p99 / uvicorn_p99:.2f}x" if uvicorn_p99 else "—"
        errors = sum(r.errors + r.bad_status for r in ok)
        lines.append(
            f"| {name} | {achieved:,.0f}{held} | {_fmt_us(med([r.p50_us for r in ok]))}"
            f" | {_fmt_us(med([r.p90_us for r in ok]))} | {_fmt_us(p99)}"
            f" | {_fmt_us(med([r.p999_us for r in ok]))} | {ratio} | {errors} |"
        )
    return lines


def idle_table(outcomes: list[IdleOutcome]) -> list[str]:
    lines = [
        "| server | connections open / asked | still open after hold | RSS before | RSS with"
        " connections | RSS per connection |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for outcome in outcomes:
        r = outcome.result
        if r is None:
            first = (outcome.error or "").splitlines()[0]
            lines.append(f"| {outcome.server} | failed: {first} | | | | |")
            continue
        per = r.per_connection
        per_text = f"{per / 1024:.1f} KiB" if per is not None else "—"
        lines.append(
            f"| {outcome.server} | {r.opened:,} / {r.connections:,} | {r.alive:,}"
            f" | {r.rss_before / 2**20:.1f} MiB | {r.rss_after / 2**20:.1f} MiB | {per_text} |"
        )
    return lines


@dataclass(frozen=True)
class Target:
    name: str
    measured: str
    met: bool | None


def targets(
    throughput: dict[str, dict[str, list[Outcome]]],
    latency: dict[str, list[LatencyOutcome]],
    idle: list[IdleOutcome],
    idle_connections: int,
) -> list[Target]:
    """Issue 3's targets, from whatever parts of them this run measured."""
    found: list[Target] = []
    hello = {name: median_rate(o) for name, o in throughput.get("hello", {}).items()}
    hello_cpu = {name: median_per_cpu(o) for name, o in throughput.get("hello", {}).items()}

    def ratio_target(label: str, server: str, other: str, need: float) -> None:
        a, b = hello.get(server), hello.get(other)
        if a is not None and b:
            per_cpu = _ratio(hello_cpu.get(server), hello_cpu.get(other))
            measured = f"{a / b:.2f}x (per server CPU-s: {per_cpu})"
            found.append(Target(label, measured, a / b >= need))

    ratio_target("hello: pounce ≥ 2.5x uvicorn", "pounce", "uvicorn", 2.5)
    ratio_target("hello: pounce ≥ 1.0x granian", "pounce", "granian", 1.0)
    ratio_target("hello: pounce-pure ≥ 1.5x uvicorn-h11", "pounce-pure", "uvicorn-h11", 1.5)
    ours, theirs = median_p99(latency.get("pounce", [])), median_p99(latency.get("uvicorn", []))
    if ours is not None and theirs is not None:
        found.append(
            Target(
                "p99 at half uvicorn's max: pounce ≤ uvicorn",
                f"{_fmt_us(ours)} vs {_fmt_us(theirs)}",
                ours <= theirs,
            )
        )
    for outcome in idle:
        if outcome.server == "pounce" and outcome.result is not None:
            r = outcome.result
            found.append(
                Target(
                    f"{idle_connections:,} idle keep-alive connections held",
                    f"{r.alive:,} still open",
                    r.alive >= idle_connections,
                )
            )
    return found


def targets_table(found: list[Target]) -> list[str]:
    lines = ["| target | measured | met |", "|---|--:|:-:|"]
    for t in found:
        lines.append(f"| {t.name} | {t.measured} | {'yes' if t.met else 'no'} |")
    return lines


def render(
    meta: Meta,
    *,
    method: str,
    throughput: dict[str, dict[str, list[Outcome]]],
    fixed_rate: float | None,
    latency: dict[str, list[LatencyOutcome]],
    idle: list[IdleOutcome],
    idle_connections: int,
) -> str:
    out = [f"## Run of {meta.started}", "", *meta.lines(method), ""]
    if throughput:
        out += ["### Throughput", "", *throughput_table(throughput), ""]
        starved = starved_rows(throughput)
        if starved:
            out += [
                f"**{starved} row(s) used under {BUSY_CPU_SHARE:.0%} of core 0** (server CPU):"
                " other jobs took the core or wrk could not keep the server busy, so their req/s"
                " is not the server's maximum and req/s ratios mix in how much CPU each server"
                " got. Compare the per-CPU-second columns, and re-run on a quiet machine.",
                "",
            ]
    if latency and fixed_rate is not None:
        out += ["### p99 latency at a fixed rate", "", *latency_table(fixed_rate, latency), ""]
    if idle:
        out += [f"### {idle_connections:,} idle keep-alive connections, one worker", "",
                *idle_table(idle), ""]  # fmt: skip
    found = targets(throughput, latency, idle, idle_connections)
    if found:
        out += ["### Issue 3 targets", "", *targets_table(found), ""]
    return "\n".join(out)


def record(path: Path, section: str, mode: str) -> None:
    """``append`` adds the run after the existing ones; ``replace`` keeps only this run."""
    if mode == "append" and path.exists() and path.read_text().strip():
        text = path.read_text().rstrip("\n") + "\n\n" + section
    else:
        text = RESULTS_HEADER + "\n" + section
    path.write_text(text.rstrip("\n") + "\n")
