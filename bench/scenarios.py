"""The scenario registry. A scenario is an app, a request, a load tool and a response check.

To add one (an HTTP/2 scenario with ``H2load``, a WebSocket one with its own load tool), write
the app under ``bench/apps/`` and call ``register(Scenario(...))`` here; ``--scenarios`` then
selects it by name. ``servers`` limits it to servers that speak its protocol.
"""

from __future__ import annotations

import http.client
from dataclasses import dataclass, field

from .loadgen import LUA_DIR, WRK, H2load, LoadTool
from .servers import HOST


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    # The ASGI target, the same for every server.
    app: str
    path: str = "/"
    tool: LoadTool = field(default=WRK)
    # A wrk Lua script under bench/lua/ (the request method and body, for instance).
    script: str | None = None
    # The smoke check made before measuring: request method, body size, expected body size.
    method: str = "GET"
    request_body_size: int = 0
    response_body_size: int | None = None
    # Servers this scenario can run on (None: all of them).
    servers: tuple[str, ...] | None = None
    # Whether a run without --scenarios includes it.
    default: bool = True
    # Connections for this scenario's load (None: the run's -c).
    connections: int | None = None

    def url(self, port: int) -> str:
        return f"http://{HOST}:{port}{self.path}"

    def smoke_check(self, port: int) -> None:
        """One request before the load: a server that answers wrongly is reported, not timed."""
        conn = http.client.HTTPConnection(HOST, port, timeout=10)
        try:
            body = b"x" * self.request_body_size if self.request_body_size else None
            conn.request(self.method, self.path, body=body)
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        if response.status != 200:
            raise SmokeCheckError(f"{self.name}: status {response.status}, body {data[:200]!r}")
        if self.response_body_size is not None and len(data) != self.response_body_size:
            raise SmokeCheckError(
                f"{self.name}: body of {len(data)} bytes, expected {self.response_body_size}"
            )


class SmokeCheckError(RuntimeError):
    pass


SCENARIOS: dict[str, Scenario] = {}


def register(scenario: Scenario) -> Scenario:
    if scenario.name in SCENARIOS:
        raise ValueError(f"scenario {scenario.name!r} registered twice")
    if scenario.script is not None and not (LUA_DIR / scenario.script).is_file():
        raise ValueError(f"scenario {scenario.name!r}: no script bench/lua/{scenario.script}")
    SCENARIOS[scenario.name] = scenario
    return scenario


register(
    Scenario(
        "hello",
        "13-byte body, content-length set: the server's own per-request cost",
        "bench.apps.hello:app",
        response_body_size=13,
    )
)
register(
    Scenario(
        "json",
        "a 10 KiB JSON body (encoded once at import), content-length set",
        "bench.apps.json_10k:app",
        response_body_size=10 * 1024,
    )
)
register(
    Scenario(
        "stream",
        "16 chunks of 1 KiB, one send() each, chunked transfer-encoding",
        "bench.apps.stream:app",
        response_body_size=16 * 1024,
    )
)
register(
    Scenario(
        "echo",
        "POST of a 64 KiB body, read whole and echoed back",
        "bench.apps.echo:app",
        script="post_64k.lua",
        method="POST",
        request_body_size=64 * 1024,
        response_body_size=64 * 1024,
    )
)
register(Scenario(
    "fastapi", "FastAPI route: path + query parameters, pydantic response model",
    "bench.apps.fastapi_app:app", path="/items/42?q=bench",
))  # fmt: skip
register(
    Scenario(
        "h2-hello",
        "HTTP/2 cleartext prior knowledge (h2load), 16 connections x 32 streams, the hello app",
        "bench.apps.hello:app",
        tool=H2load(streams=32),
        connections=16,
        response_body_size=13,
        servers=("pounce", "granian", "hypercorn"),
    )
)
