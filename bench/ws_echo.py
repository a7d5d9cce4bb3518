"""WebSocket echo throughput: messages/s for 64-byte and 64 KiB messages, pounce vs uvicorn.

    python -m bench.ws_echo                      # 2 rounds x 3 s per size and server
    python -m bench.ws_echo --rounds 1 -d 2 --servers pounce,uvicorn

Each server (``servers.WS_SERVERS``) runs ``bench.apps.ws_echo:app`` pinned to core 0; the
client (the ``websockets`` library, permessage-deflate off, ``--connections`` connections each
keeping ``--window`` messages in flight) is pinned to core 1. Rounds are interleaved across
servers; the table shows the median of rounds. A message counts when its echo has arrived and
matches in size.

The ``websockets`` client saturates its own core near 70k messages/s, before a fast server does:
``bench/ws_load.py`` is the bench to quote; this one checks an ordinary client library's view.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time

from .procs import stopped_on_exit
from .runner import REPO, start_server
from .servers import HOST, WS_SERVERS
from .ws_load import APP

SIZES = {"64B": 64, "64KiB": 64 * 1024}


async def _connection(url: str, size: int, window: int, stop_at: float) -> int:
    from websockets.asyncio.client import connect  # noqa: PLC0415  # optional (websockets)

    payload = os.urandom(size)
    done = 0
    async with connect(url, compression=None, max_size=None, ping_interval=None) as ws:
        in_flight = 0
        while True:
            now = time.monotonic()
            while in_flight < window and now < stop_at:
                await ws.send(payload)
                in_flight += 1
            if not in_flight:
                return done
            echo = await ws.recv()
            if len(echo) != size:
                raise RuntimeError(f"echo of {len(echo)} bytes, sent {size}")
            in_flight -= 1
            done += 1


async def measure(port: int, size: int, seconds: float, connections: int, window: int) -> float:
    url = f"ws://{HOST}:{port}/"
    start = time.monotonic()
    counts = await asyncio.gather(
        *(_connection(url, size, window, start + seconds) for _ in range(connections))
    )
    return sum(counts) / (time.monotonic() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--servers", default="pounce,uvicorn")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("-d", "--duration", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--window", type=int, default=8)
    parser.add_argument("--sizes", default=",".join(SIZES), help="64B,64KiB")
    args = parser.parse_args(argv)
    sizes = {label: SIZES[label] for label in args.sizes.split(",")}
    servers = args.servers.split(",")
    if hasattr(os, "sched_setaffinity") and os.cpu_count() and os.cpu_count() > 1:  # type: ignore[operator]
        os.sched_setaffinity(0, {1})  # the client on core 1, servers on core 0
    results: dict[tuple[str, str], list[float]] = {}
    with stopped_on_exit():
        for _ in range(args.rounds):
            for name in servers:
                for label, size in sizes.items():
                    log = REPO / "bench" / "out" / "ws_echo" / f"{name}.log"
                    server = start_server(WS_SERVERS[name], APP, log)
                    try:
                        rate = asyncio.run(
                            measure(server.port, size, args.duration, args.connections,
                                    args.window)
                        )  # fmt: skip
                    finally:
                        server.stop()
                    results.setdefault((name, label), []).append(rate)
    print(f"WebSocket echo, messages/s (median of {args.rounds} rounds, {args.duration:g} s each,")
    print(f"{args.connections} connections x {args.window} in flight, client on core 1)\n")
    print("| server | " + " | ".join(sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    for name in servers:
        cells = [f"{statistics.median(results[(name, label)]):,.0f}" for label in sizes]
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
