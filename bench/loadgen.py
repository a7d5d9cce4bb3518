"""Load generators: run one, pinned to its own core, and parse its report.

A load tool is anything with ``name``, ``version()`` and ``run(...) -> LoadResult``; wrk drives
the HTTP/1.1 scenarios. ``H2load`` is here for the HTTP/2 scenarios to register (see
scenarios.py); a WebSocket client would be a third class with the same shape.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .procs import pinned

BENCH_DIR = Path(__file__).resolve().parent
LUA_DIR = BENCH_DIR / "lua"
LOAD_CPU = 1


class LoadError(RuntimeError):
    """The load tool failed or printed nothing we can read."""


@dataclass(frozen=True)
class LoadResult:
    requests_per_s: float
    requests: int
    # Connect/read/write/timeout errors, and responses that were not 2xx/3xx.
    errors: int = 0
    bad_status: int = 0
    p50_us: float | None = None
    p99_us: float | None = None
    raw: Path | None = None

    @property
    def clean(self) -> bool:
        return self.errors == 0 and self.bad_status == 0


@dataclass(frozen=True)
class Load:
    """One load run: where, how long, how many connections, and extra tool arguments."""

    url: str
    # Whole seconds: wrk's -d takes no fractions.
    duration: int
    connections: int
    script: Path | None = None
    script_args: tuple[str, ...] = ()
    out: Path | None = None


class LoadTool(Protocol):
    name: str

    def version(self) -> str: ...

    def run(self, load: Load) -> LoadResult: ...


def _run(argv: list[str], timeout: float, out: Path | None) -> str:
    if shutil.which(argv[0]) is None:
        raise LoadError(f"{argv[0]} is not installed (Debian: apt-get install {argv[0]})")
    cmd = pinned(LOAD_CPU, argv)
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise LoadError(f"{' '.join(cmd)} did not finish within {timeout:.0f} s") from exc
    text = f"$ {' '.join(cmd)}\n{done.stdout}{done.stderr}"
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    if done.returncode != 0:
        raise LoadError(f"{argv[0]} exited with {done.returncode}:\n{text}")
    return text


_UNITS_US = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6}


def _duration_us(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise LoadError(f"unreadable duration {text!r}")
    return float(match.group(1)) * _UNITS_US[match.group(2)]


class Wrk:
    name = "wrk"

    def version(self) -> str:
        # `wrk -v` prints its version line and exits non-zero.
        done = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
        first = (done.stdout or done.stderr).splitlines()[0]
        # "wrk debian/4.1.0-3+b2 [epoll] Copyright (C) 2012 Will Glozer": keep name and version.
        return " ".join(first.split()[:2])

    def command(self, load: Load) -> list[str]:
        argv = [
            "wrk", "-t1", f"-c{load.connections}", f"-d{load.duration}s",
            "--latency", "--timeout", "5s",
        ]  # fmt: skip
        if load.script is not None:
            argv += ["-s", str(load.script)]
        argv.append(load.url)
        if load.script_args:
            argv += ["--", *load.script_args]
        return argv

    def run(self, load: Load) -> LoadResult:
        text = _run(self.command(load), load.duration + 60, load.out)
        return self.parse(text, load.out)

    @staticmethod
    def parse(text: str, raw: Path | None = None) -> LoadResult:
        rate = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
        total = re.search(r"^\s+(\d+) requests in", text, re.M)
        if rate is None or total is None:
            raise LoadError(f"no result in wrk output:\n{text}")
        if int(total.group(1)) == 0:
            raise LoadError(f"wrk completed no request:\n{text}")
        errors = 0
        sock = re.search(
            r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
        )
        if sock is not None:
            errors = sum(int(n) for n in sock.groups())
        status = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
        percentiles = {
            int(m.group(1)): _duration_us(m.group(2))
            for m in re.finditer(r"^\s+(50|99)%\s+(\S+)", text, re.M)
        }
        return LoadResult(
            requests_per_s=float(rate.group(1)),
            requests=int(total.group(1)),
            errors=errors,
            bad_status=int(status.group(1)) if status else 0,
            p50_us=percentiles.get(50),
            p99_us=percentiles.get(99),
            raw=raw,
        )


class H2load:
    """nghttp2's h2load, for HTTP/2 scenarios (h2c prior knowledge with an http:// URL).

    ``streams`` is h2load's -m, the concurrent streams per connection."""

    name = "h2load"

    def __init__(self, streams: int = 10) -> None:
        self.streams = streams

    def version(self) -> str:
        done = subprocess.run(["h2load", "--version"], capture_output=True, text=True, check=False)
        return done.stdout.strip()

    def command(self, load: Load) -> list[str]:
        argv = [
            "h2load", "-t1", f"-c{load.connections}", f"-m{self.streams}",
            f"-D{load.duration}",
        ]  # fmt: skip
        return [*argv, *load.script_args, load.url]

    def run(self, load: Load) -> LoadResult:
        text = _run(self.command(load), load.duration + 60, load.out)
        return self.parse(text, load.out)

    @staticmethod
    def parse(text: str, raw: Path | None = None) -> LoadResult:
        rate = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", text)
        counts = re.search(
            r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, "
            r"(\d+) errored, (\d+) timeout",
            text,
        )
        codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text)
        if rate is None or counts is None:
            raise LoadError(f"no result in h2load output:\n{text}")
        done, _ok, failed, errored, timeout = (int(n) for n in counts.groups())
        if done == 0:
            # e.g. a server without HTTP/2 that never answers the h2c preface: no errors, no data.
            raise LoadError(f"h2load completed no request:\n{text}")
        bad = int(codes.group(3)) + int(codes.group(4)) if codes else 0
        return LoadResult(
            requests_per_s=float(rate.group(1)),
            requests=done,
            errors=errored + timeout + max(0, failed - bad),
            bad_status=bad,
            raw=raw,
        )


WRK = Wrk()
