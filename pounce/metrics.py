"""What one worker counts for ``--metrics-bind``, and the snapshot it sends its supervisor.

Only built when ``--metrics-bind`` is on (``ServerState.metrics``; ``None`` otherwise, and then
nothing here runs). Per request the cycle calls ``request_done`` once, where the access record
is made (``pounce/asgi/_cycle.py``, behind the ``start_time`` test that is already there for
the access log): plain integer increments on this object, no lock (one event loop thread).
Gauges (open connections, requests in flight) are not kept per request at all: ``snapshot``
reads them from the server's connection registry when the supervisor asks.

The supervisor asks over the control channel (``pounce/worker.py``) and sums the workers'
snapshots (``pounce/metrics_exposition.py``); counters are monotonic per worker, and a worker
that exits leaves its last snapshot to the supervisor's retired totals.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left
from collections.abc import Callable, Iterable
from time import perf_counter
from typing import Any

from pounce.http2.constants import ENHANCE_YOUR_CALM, ERROR_NAMES

# Upper bounds (seconds) of the request duration histogram's buckets; +Inf follows. Finer
# below 100 ms than Prometheus's default buckets: most requests of a fast server end there.
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# Methods counted under their own name; any other is counted as OTHER, so that a client
# inventing methods cannot grow the worker's counters (and the scrape) without bound.
KNOWN_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")
)

# The connection registry's classes (ServerState.connections) by the protocol they speak,
# matched by name so that this module imports none of them (they all import the state).
PROTOCOL_OF_CLASS = {
    "H1Protocol": "http/1.1",
    "H2Protocol": "h2",
    "WebSocketSession": "websocket",
    "ProxyHeaderReader": "proxy-header",
}


class WorkerMetrics:
    """One worker's counters (monotonic while it lives)."""

    __slots__ = (
        "accepted",
        "bytes_out",
        "duration_buckets",
        "duration_sum",
        "h2_connection_errors",
        "h2_flood_protections",
        "h2_resets_received",
        "own_responses",
        "requests",
        "websocket_sessions",
    )

    def __init__(self) -> None:
        # (method, status class (2 for 2xx), http_version) -> responses completed.
        self.requests: dict[tuple[str, int, str], int] = {}
        # Per DURATION_BUCKETS bound, then +Inf: not cumulative here (exposition adds them up).
        self.duration_buckets = [0] * (len(DURATION_BUCKETS) + 1)
        self.duration_sum = 0.0
        self.bytes_out = 0  # response body bytes
        # Connections accepted, by the listener's transport (tcp, tls, unix).
        self.accepted: dict[str, int] = {}
        # Error responses pounce wrote itself (400, 408, 413, 414, 431, 500, 503, 505), by status.
        self.own_responses: dict[int, int] = {}
        self.websocket_sessions = 0
        # HTTP/2 (rare events, counted where the protocol handles them): RST_STREAM from the
        # client, connections ended by an error of ours (by RFC 9113 §7 code name), and the
        # flood protections behind ENHANCE_YOUR_CALM, by the core's fixed description.
        self.h2_resets_received = 0
        self.h2_connection_errors: dict[str, int] = {}
        self.h2_flood_protections: dict[str, int] = {}

    def request_done(self, cycle: Any) -> None:
        """A response completed (HTTP/1.1 or HTTP/2): count it, its duration and body bytes.
        ``cycle.start_time`` is set (the protocols set it when metrics are on)."""
        scope = cycle.scope
        method = scope["method"]
        if method not in KNOWN_METHODS:
            method = "OTHER"
        key = (method, cycle.status // 100, scope["http_version"])
        requests = self.requests
        requests[key] = requests.get(key, 0) + 1
        duration = perf_counter() - cycle.start_time
        self.duration_sum += duration
        # bisect_left: a duration equal to a bound is in that bucket (Prometheus's "le").
        self.duration_buckets[bisect_left(DURATION_BUCKETS, duration)] += 1
        self.bytes_out += cycle.bytes_sent

    def own_response(self, status: int) -> None:
        """pounce answered with an error of its own (a malformed or oversized request, a
        timeout, a limit): not the app's response, so not in ``request_done``."""
        self.own_responses[status] = self.own_responses.get(status, 0) + 1

    def h2_connection_error(self, code: int, message: str) -> None:
        """An HTTP/2 connection ends with GOAWAY(code): a protocol error or a flood."""
        name = ERROR_NAMES.get(code, f"0x{code:x}")
        self.h2_connection_errors[name] = self.h2_connection_errors.get(name, 0) + 1
        if code == ENHANCE_YOUR_CALM:
            # The cores' messages for it are a fixed set ("PING flood", "too many stream
            # resets", ...): a bounded label.
            floods = self.h2_flood_protections
            floods[message] = floods.get(message, 0) + 1

    def counting(
        self, factory: Callable[[], asyncio.Protocol], transport: str
    ) -> Callable[[], asyncio.Protocol]:
        """The listener's protocol factory, counting each accepted connection: wrapped only
        when metrics are on, so the protocols themselves count nothing per connection."""
        accepted = self.accepted
        accepted.setdefault(transport, 0)

        def counted() -> asyncio.Protocol:
            accepted[transport] += 1
            return factory()

        return counted

    def snapshot(
        self, connections: Iterable[Any], proxy_rejected: dict[str, int]
    ) -> dict[str, Any]:
        """Everything as a JSON-ready dict: the counters, and the gauges read now from
        ``connections`` (ServerState.connections)."""
        open_by_protocol: dict[str, int] = {}
        in_flight = h2_streams = 0
        for conn in connections:
            protocol = PROTOCOL_OF_CLASS.get(type(conn).__name__, "other")
            open_by_protocol[protocol] = open_by_protocol.get(protocol, 0) + 1
            in_flight += _requests_in(conn, protocol)
            if protocol == "h2":
                h2_streams += len(conn.streams)
        return {
            "requests": [[m, c, v, n] for (m, c, v), n in self.requests.items()],
            "duration_buckets": list(self.duration_buckets),
            "duration_sum": self.duration_sum,
            "bytes_out": self.bytes_out,
            "accepted": dict(self.accepted),
            "own_responses": {str(k): v for k, v in self.own_responses.items()},
            "websocket_sessions": self.websocket_sessions,
            "proxy_protocol_rejected": dict(proxy_rejected),
            "h2_resets_received": self.h2_resets_received,
            "h2_connection_errors": dict(self.h2_connection_errors),
            "h2_flood_protections": dict(self.h2_flood_protections),
            "open_connections": open_by_protocol,
            "in_flight": in_flight,
            "h2_streams_open": h2_streams,
        }


def _requests_in(conn: Any, protocol: str) -> int:
    """Requests a connection is answering or holds queued: HTTP/1.1's current cycle and its
    pipeline, HTTP/2's open streams (a WebSocket session is counted as a connection only)."""
    if protocol == "http/1.1":
        return (conn.cycle is not None) + sum(1 for c, _, _ in conn.pipeline if c is not None)
    if protocol == "h2":
        return len(conn.streams)
    return 0
