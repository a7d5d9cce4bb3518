"""Helpers for the WebSocket tests: the app's disconnect log, and a raw RFC 8441 client."""

from __future__ import annotations

import itertools
import json
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from wsproto.connection import Connection, ConnectionType
from wsproto.events import Event

from tests.h2support import H2Client, StreamResult


def disconnects(base_url: str, path: str, count: int = 1) -> list[dict[str, Any]]:
    """The websocket.disconnect messages ws_apps saw for ``path`` (waits for ``count``)."""
    deadline = time.monotonic() + 10
    while True:
        with urllib.request.urlopen(f"{base_url}/log", timeout=5) as resp:
            seen = [m for m in json.loads(resp.read()) if m["path"] == path]
        if len(seen) >= count or time.monotonic() > deadline:
            return seen
        time.sleep(0.05)


def assert_ping_cadence(times: list[float], interval: float) -> None:
    """Ping arrival times: each within 50 ms of one interval after the previous, and no
    drift (the k-th within 50 ms of k intervals after the first)."""
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(times)]
    assert all(abs(gap - interval) <= 0.05 for gap in gaps), gaps
    for k, t in enumerate(times):
        assert abs(t - times[0] - k * interval) <= 0.05, (k, gaps)


def timing_attempts(measure: Callable[[], None], attempts: int = 3) -> None:
    """Run a timing measurement (its asserts) up to ``attempts`` times, each on a new
    WebSocket, until one passes. A scheduler stall of either process on a loaded machine
    (seen: 270 ms on two shared cores) spoils one run; a wrong timing spoils every run."""
    for attempt in range(attempts):
        try:
            measure()
            return
        except AssertionError:
            if attempt == attempts - 1:
                raise


class H2WebSocket:
    """One WebSocket inside an HTTP/2 stream (RFC 8441 §4), frames by wsproto."""

    def __init__(
        self,
        client: H2Client,
        path: str,
        scheme: bytes = b"http",
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        self.client = client
        self.ws = Connection(ConnectionType.CLIENT)
        self.offset = 0
        conn = client.conn
        client.wait(lambda: conn.remote_settings.enable_connect_protocol == 1)
        sid = self.stream_id = conn.get_next_available_stream_id()
        client.streams[sid] = StreamResult()
        conn.send_headers(
            sid,
            [
                (b":method", b"CONNECT"),
                (b":protocol", b"websocket"),
                (b":scheme", scheme),
                (b":path", path.encode()),
                (b":authority", b"localhost"),
                (b"sec-websocket-version", b"13"),
                *(headers or []),
            ],
        )
        client.flush()

    @property
    def result(self) -> StreamResult:
        return self.client.streams[self.stream_id]

    def wait_status(self) -> int:
        self.client.wait(lambda: bool(self.result.status) or self.result.done)
        return self.result.status

    def send(self, event: Event, end_stream: bool = False) -> None:
        self.client.send_body(self.stream_id, self.ws.send(event), end_stream=end_stream)

    def _events(self) -> list[Event]:
        body = self.result.body
        if len(body) > self.offset:
            self.ws.receive_data(bytes(body[self.offset :]))
            self.offset = len(body)
        return list(self.ws.events())

    def receive(self, count: int = 1, timeout: float = 10.0) -> list[Event]:
        """The next ``count`` events (fewer if the stream ends first)."""
        got: list[Event] = []

        def ready() -> bool:
            got.extend(self._events())
            return len(got) >= count or self.result.done

        self.client.wait(ready, timeout)
        got.extend(self._events())
        return got
