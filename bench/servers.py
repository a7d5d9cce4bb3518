"""How each server under test is started: one worker, access log off, the same app target.

Each spec knows its baseline: the server its req/s is divided by in the table. The compiled
servers are compared with uvicorn on uvloop + httptools; the pure-Python pounce with uvicorn on
asyncio + h11, as in issue 3's targets.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"

# Console scripts live beside the interpreter running the bench, i.e. in the bench venv.
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Launch:
    """What a server is asked to do; the spec turns it into a command line."""

    app: str
    port: int
    keep_alive: int = 5


@dataclass(frozen=True)
class ServerSpec:
    name: str
    # The distribution whose version is reported for this server.
    package: str
    argv: Callable[[Launch], list[str]]
    baseline: str | None = "uvicorn"
    env: Mapping[str, str] = field(default_factory=dict)
    note: str = ""

    def command(self, launch: Launch) -> list[str]:
        return self.argv(launch)

    def command_name(self) -> str:
        """The console script this server is started with (checked before a run)."""
        return Path(self.command(Launch(app="x:app", port=0))[0]).name


def _cli(binary: str, loop: str, http: str) -> Callable[[Launch], list[str]]:
    """pounce and uvicorn take the same command line (pounce is a drop-in replacement)."""

    def argv(launch: Launch) -> list[str]:
        return [
            str(BIN / binary), launch.app,
            "--host", HOST, "--port", str(launch.port),
            "--loop", loop, "--http", http,
            "--no-access-log", "--log-level", "warning",
            "--timeout-keep-alive", str(launch.keep_alive),
        ]  # fmt: skip

    return argv


def _granian(launch: Launch) -> list[str]:
    # granian 2.8: one worker process with one runtime thread (its default); the access log is
    # off by default and turned off explicitly here. HTTP/1 keep-alive has no idle timeout to set.
    return [
        str(BIN / "granian"), "--interface", "asgi", "--loop", "uvloop",
        "--workers", "1",
        "--host", HOST, "--port", str(launch.port),
        "--no-access-log", "--log-level", "warning",
        launch.app,
    ]  # fmt: skip


HYPERCORN_CONFIG = Path(__file__).resolve().parent / "hypercorn.toml"


def _hypercorn(launch: Launch) -> list[str]:
    # hypercorn writes no access log unless --access-logfile is given. Its config file lifts
    # the cap of 1,000 requests per connection, which the other servers do not have.
    return [
        str(BIN / "hypercorn"), "--config", str(HYPERCORN_CONFIG),
        "--worker-class", "uvloop", "--workers", "1",
        "--bind", f"{HOST}:{launch.port}", "--keep-alive", str(launch.keep_alive),
        "--log-level", "warning",
        launch.app,
    ]  # fmt: skip


SERVERS: dict[str, ServerSpec] = {
    spec.name: spec
    for spec in (
        ServerSpec("pounce", "pounce", _cli("pounce", "uvloop", "httptools"),
                   note="uvloop + httptools"),
        ServerSpec("uvicorn", "uvicorn", _cli("uvicorn", "uvloop", "httptools"), baseline=None,
                   note="uvloop + httptools"),
        ServerSpec("granian", "granian", _granian, note="asgi, uvloop, 1 worker"),
        ServerSpec("hypercorn", "hypercorn", _hypercorn, note="uvloop worker, 1 worker"),
        ServerSpec("pounce-pure", "pounce", _cli("pounce", "asyncio", "h11"),
                   baseline="uvicorn-h11",
                   env={"POUNCE_NO_EXTENSIONS": "1"}, note="POUNCE_NO_EXTENSIONS=1, asyncio + h11"),
        ServerSpec("uvicorn-h11", "uvicorn", _cli("uvicorn", "asyncio", "h11"), baseline=None,
                   note="asyncio + h11"),
    )
}  # fmt: skip


def _with_args(base: ServerSpec, name: str, extra: tuple[str, ...], note: str) -> ServerSpec:
    """``base`` started with ``extra`` options appended to its command line, against uvicorn."""

    def argv(launch: Launch) -> list[str]:
        return [*base.command(launch), *extra]

    return ServerSpec(name, base.package, argv, baseline="uvicorn", env=base.env, note=note)


def _metrics_on(launch: Launch) -> list[str]:
    # --metrics-bind runs the supervisor with one worker (taskset pins both): what a user with
    # metrics on runs. The scrape listener takes the port after the server's.
    metrics = f"{HOST}:{launch.port + 1}"
    return [*SERVERS["pounce"].command(launch), "--metrics-bind", metrics]


# pounce with --metrics-bind, against pounce without (issue 17: within 3 % of it on hello).
SERVERS["pounce-metrics"] = ServerSpec(
    "pounce-metrics", "pounce", _metrics_on, baseline="pounce", note="--metrics-bind"
)


# The WebSocket echo bench (ws_load.py): the servers above as they are, plus uvicorn on wsproto.
# Each keeps its default WebSocket options; permessage-deflate is on only when the client offers
# it (RFC 7692 §5), so the client alone decides it.
WS_SERVERS: dict[str, ServerSpec] = {
    "pounce": SERVERS["pounce"],
    "uvicorn": SERVERS["uvicorn"],
    "uvicorn-wsproto": _with_args(SERVERS["uvicorn"], "uvicorn-wsproto", ("--ws", "wsproto"),
                                  "--ws wsproto"),
    "granian": SERVERS["granian"],
}  # fmt: skip
