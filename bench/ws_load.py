"""WebSocket echo throughput with a client that is not the limit: messages/s per server.

    python -m bench.ws_load                                   # 3 rounds x 5 s, every case
    python -m bench.ws_load --rounds 1 -d 2 --servers pounce,uvicorn --cases 64B,64B-deflate

Each measurement starts one server from ``servers.WS_SERVERS`` afresh on
``bench.apps.ws_echo:app``, pinned to core 0 (``runner.start_server``), and runs
``bench/ws_client.py`` pinned to core 1. Rounds are interleaved (round r runs every case on
every server before round r+1), the table gives the median of rounds and the ratio against
uvicorn's default (``--ws auto``: websockets-sansio), and the client's CPU share, which must stay
well below one core for the numbers to be the server's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from .loadgen import LOAD_CPU, LoadError
from .procs import ServerProcess, ServerStartError, pinned, stopped_on_exit
from .runner import REPO, start_server
from .servers import WS_SERVERS, ServerSpec
from .ws_client import Result, default_flow

APP = "bench.apps.ws_echo:app"
BASELINE = "uvicorn"
OUT_ROOT = REPO / "bench" / "out" / "ws_load"
SIZES = {"64B": 64, "4KiB": 4 * 1024, "64KiB": 64 * 1024}
# A client using more than this share of its core may be what limits the rate.
CLIENT_CPU_LIMIT = 0.9
# Time for the client beyond its warm-up and load: start-up, handshakes, draining, closing.
CLIENT_SLACK_SECONDS = 30.0


@dataclass(frozen=True)
class Case:
    size_label: str
    deflate: bool

    @property
    def name(self) -> str:
        return self.size_label + ("-deflate" if self.deflate else "")

    @property
    def size(self) -> int:
        return SIZES[self.size_label]


CASES = {c.name: c for c in (Case(s, d) for d in (False, True) for s in SIZES)}


@dataclass(frozen=True)
class Client:
    connections: int
    # None: the client's default for the message size (ws_client.default_flow).
    window: int | None
    batch: int | None
    duration: float
    warmup: float


@dataclass(frozen=True)
class Measurement:
    server: str
    case: str
    round: int
    messages_per_s: float | None = None
    client_cpu: float | None = None
    server_cpu: float | None = None
    # The client offered permessage-deflate and the server declined it (granian does).
    declined: bool = False
    error: str | None = None

    @property
    def per_server_cpu_second(self) -> float | None:
        """Messages per second of server CPU: on a busy machine, far steadier than messages/s."""
        if self.messages_per_s is None or not self.server_cpu:
            return None
        return self.messages_per_s / self.server_cpu


def run_client(server: ServerProcess, case: Case, client: Client, raw: Path) -> Result:
    argv = pinned(LOAD_CPU, [
        sys.executable, "-m", "bench.ws_client", "--port", str(server.port),
        "--server-pid", str(server.pid), "--size", str(case.size),
        "-c", str(client.connections), "-d", str(client.duration), "--warmup", str(client.warmup),
        *(["--window", str(client.window)] if client.window else []),
        *(["--batch", str(client.batch)] if client.batch else []),
        *(["--deflate"] if case.deflate else []),
    ])  # fmt: skip
    timeout = client.warmup + client.duration + CLIENT_SLACK_SECONDS
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, cwd=REPO, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise LoadError(f"ws_client did not finish within {timeout:.0f} s") from exc
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.write_text(f"$ {' '.join(argv)}\n{done.stdout}{done.stderr}")
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return Result(**json.loads(line[len("RESULT ") :]))
        if line.startswith("ERROR "):
            raise LoadError(f"ws_client: {line[len('ERROR ') :]} ({raw})")
    tail = "\n".join(done.stderr.splitlines()[-5:])
    raise LoadError(f"ws_client exited with {done.returncode}, no result; {raw}:\n{tail}")


def measure(spec: ServerSpec, case: Case, round_no: int, client: Client, out: Path) -> Measurement:
    label = f"{case.name}-{spec.name}-r{round_no}"
    server: ServerProcess | None = None
    try:
        server = start_server(spec, APP, out / "logs" / f"{label}.log")
        result = run_client(server, case, client, out / "raw" / f"{label}.txt")
        if server.proc.poll() is not None:
            raise ServerStartError(f"{spec.name} exited during the load; log {server.log_path}")
    except (ServerStartError, LoadError, OSError) as exc:
        return Measurement(spec.name, case.name, round_no, error=str(exc).splitlines()[0])
    finally:
        if server is not None:
            server.stop()
    if case.deflate and not result.deflate_agreed:
        return Measurement(spec.name, case.name, round_no, declined=True)
    if result.bytes_ok is False:
        return Measurement(spec.name, case.name, round_no, error="echoed bytes != messages x size")
    return Measurement(
        spec.name, case.name, round_no,
        messages_per_s=result.messages_per_s,
        client_cpu=result.client_cpu,
        server_cpu=result.server_cpu,
    )  # fmt: skip


def table(
    results: list[Measurement],
    servers: list[str],
    cases: list[Case],
    value: Callable[[Measurement], float | None],
) -> str:
    """The median of ``value`` per case and server with its ratio to uvicorn; then the highest
    client CPU share (near 100 %: the client may be the limit) and the lowest server CPU share
    (well below 100 %: a server was starved or not kept busy) over the case's runs."""
    lines = [
        "| case | " + " | ".join(servers) + " | client CPU (max) | server CPU (min) |",
        "|---|" + "--:|" * (len(servers) + 2),
    ]
    for case in cases:
        here = [m for m in results if m.case == case.name]
        medians: dict[str, float] = {}
        for name in servers:
            values = [v for m in here if m.server == name and (v := value(m)) is not None]
            if values:
                medians[name] = statistics.median(values)
        cells = []
        for name in servers:
            if name in medians:
                cell = f"{medians[name]:,.0f}"
                if name != BASELINE and BASELINE in medians:
                    cell += f" ({medians[name] / medians[BASELINE]:.2f}x)"
            elif any(m.declined for m in here if m.server == name):
                cell = "declined"
            else:
                cell = "FAILED"
            cells.append(cell)
        clients = [m.client_cpu for m in here if m.client_cpu is not None]
        client = f"{max(clients):.0%}" if clients else "-"
        if clients and max(clients) > CLIENT_CPU_LIMIT:
            client += " (client-bound?)"
        server_shares = [m.server_cpu for m in here if m.server_cpu is not None]
        server = f"{min(server_shares):.0%}" if server_shares else "-"
        lines.append(f"| {case.name} | " + " | ".join(cells) + f" | {client} | {server} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--servers", default=",".join(WS_SERVERS), help="from: " + ",".join(WS_SERVERS))
    p.add_argument("--cases", default=",".join(CASES), help="from: " + ",".join(CASES))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("-d", "--duration", type=float, default=5.0, help="measured seconds per run")
    p.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds first")
    p.add_argument("-c", "--connections", type=int, default=4)
    p.add_argument("--window", type=int, help="messages in flight per connection")
    p.add_argument("--batch", type=int, help="messages per write")
    args = p.parse_args(argv)
    servers = [n.strip() for n in args.servers.split(",") if n.strip()]
    case_names = [n.strip() for n in args.cases.split(",") if n.strip()]
    unknown = [n for n in servers if n not in WS_SERVERS]
    unknown += [n for n in case_names if n not in CASES]
    if unknown:
        p.error("unknown: " + ", ".join(unknown))
    cases = [CASES[n] for n in case_names]
    flows: dict[str, tuple[int, int]] = {}
    for case in cases:
        window, batch = default_flow(case.size)
        flows[case.size_label] = (args.window or window, args.batch or batch)
    bad = [f"{label} {w}/{b}" for label, (w, b) in flows.items() if w % b]
    if bad:
        p.error("the window must be a multiple of the batch: " + ", ".join(bad))
    client = Client(args.connections, args.window, args.batch, args.duration, args.warmup)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = OUT_ROOT / stamp
    print(f"ws_load: raw output in {out}", flush=True)
    results: list[Measurement] = []
    with stopped_on_exit():
        for round_no in range(1, args.rounds + 1):
            for case in cases:
                for name in servers:
                    m = measure(WS_SERVERS[name], case, round_no, client, out)
                    results.append(m)
                    if m.messages_per_s is not None:
                        what = f"{m.messages_per_s:>10,.0f} msg/s  client CPU {m.client_cpu:.0%}"
                    else:
                        what = "declined permessage-deflate" if m.declined else f"FAILED: {m.error}"
                    print(f"[round {round_no}/{args.rounds}] {case.name:<13} {name:<16} {what}",
                          flush=True)  # fmt: skip
    flow_text = ", ".join(f"{label} {w}/{b}" for label, (w, b) in flows.items())
    (out / "results.json").write_text(json.dumps([asdict(m) for m in results], indent=1))
    print(
        f"\nWebSocket echo, messages/s: median of {args.rounds} round(s), {args.duration:g} s"
        f" each after {args.warmup:g} s warm-up; {args.connections} connections, messages in"
        f" flight / per write: {flow_text}; servers on core 0, client on core 1;"
        f" ratio against {BASELINE}\n"
    )
    print("Messages/s:\n")
    print(table(results, servers, cases, lambda m: m.messages_per_s))
    print("\nMessages per second of server CPU (the steadier column on a busy machine):\n")
    print(table(results, servers, cases, lambda m: m.per_server_cpu_second))
    return 0


if __name__ == "__main__":
    sys.exit(main())
