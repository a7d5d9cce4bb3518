"""Open many keep-alive connections, make one request on each, and hold them.

Run by ``bench/idle.py`` (pinned to the load core), which talks to it over stdin/stdout:
it prints ``OPEN {json}`` once every connection has had its response, waits for a line
``check`` and answers ``ALIVE {json}`` (how many the server has not closed), then closes
everything when stdin reaches its end.

    python -m bench.idle_client --port 8000 --connections 10000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from .procs import raise_nofile_limit

REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
# Connects in flight at once: well under the servers' listen backlog (2048 and up).
CONNECT_CONCURRENCY = 256


async def _open_one(
    host: str, port: int, gate: asyncio.Semaphore
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    async with gate:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(REQUEST)
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length:
            await reader.readexactly(length)
        return reader, writer


async def _readline() -> str:
    return await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


async def main_async(host: str, port: int, count: int) -> None:
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    started = time.monotonic()
    results = await asyncio.gather(
        *(_open_one(host, port, gate) for _ in range(count)), return_exceptions=True
    )
    conns = [r for r in results if not isinstance(r, BaseException)]
    failures = [r for r in results if isinstance(r, BaseException)]
    first_error = repr(failures[0]) if failures else None
    report = {
        "opened": len(conns),
        "failed": len(failures),
        "first_error": first_error,
        "seconds": round(time.monotonic() - started, 3),
    }
    print("OPEN " + json.dumps(report), flush=True)
    while (await _readline()).strip() == "check":
        alive = sum(
            1 for reader, writer in conns if not reader.at_eof() and not writer.is_closing()
        )
        print("ALIVE " + json.dumps({"alive": alive}), flush=True)
    for _, writer in conns:
        writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--connections", type=int, default=10_000)
    args = parser.parse_args()
    limit = raise_nofile_limit()
    if limit < args.connections + 100:
        sys.exit(f"open-file hard limit {limit} is too low for {args.connections} connections")
    asyncio.run(main_async(args.host, args.port, args.connections))


if __name__ == "__main__":
    main()
