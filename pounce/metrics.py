# cython: language_level=3, annotation_typing=False
"""What one worker counts for ``--metrics-bind``, and the snapshot it sends its supervisor.

Only built when ``--metrics-bind`` is on (``ServerState.metrics``; ``None`` otherwise, and then
nothing here runs). Per request the cycle calls ``count`` once, where the access record is made
(``pounce/asgi/_cycle.py``, behind the ``start_time`` test that is already there for the access
log): plain integer increments on this object, no lock (one event loop thread).
Gauges (open connections, requests in flight) are not kept per request at all: ``snapshot``
reads them from the server's connection registry when the supervisor asks.

The supervisor asks over the control channel (``pounce/worker.py``) and sums the workers'
snapshots (``pounce/metrics_exposition.py``); counters are monotonic per worker, and a worker
that exits leaves its last snapshot to the supervisor's retired totals.

One source, two builds (as ``asgi/_cycle.py``): this file runs as it is in the pure build,
and Cython compiles it again as ``pounce._speedups._metrics`` (``_speedups/_metrics.py`` links
here), typed by ``_speedups/_metrics.pxd``; the block at the end picks the compiled class
unless ``POUNCE_NO_EXTENSIONS`` is set. Compiled, the cycle calls ``count`` as a C method
with its C slots as arguments (``_speedups/_cycle.pxd`` cimports this class).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from pounce._compat import USE_EXTENSIONS, import_compiled, record_selection
from pounce.http2.constants import ENHANCE_YOUR_CALM, ERROR_NAMES

try:
    import cython  # type: ignore[import-untyped]  # Cython ships no type information
except ImportError:  # a pure install without Cython: only ``cython.compiled`` is read
    cython = SimpleNamespace(compiled=False)

if not cython.compiled:  # compiled: _speedups/_clock.pxd's, the same clock read in C
    from time import perf_counter

# Upper bounds (seconds) of the request duration histogram's buckets; +Inf follows. Finer
# below 100 ms than Prometheus's default buckets: most requests of a fast server end there.
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# The scope's http_version values, in the order of the columns of a method's row of counts.
VERSIONS = ("1.0", "1.1", "2")
ROW_SIZE = 6 * len(VERSIONS)  # status classes 0 (out of range) to 5
# Methods counted under their own name; any other is counted as OTHER (the last row), so that
# a client inventing methods cannot grow the worker's counters (and the scrape) without bound.
METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "OTHER")
OTHER = len(METHODS) - 1
METHOD_ROWS = {method: i for i, method in enumerate(METHODS[:OTHER])}
N_BOUNDS = len(DURATION_BUCKETS)

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

    def __init__(self) -> None:
        # Responses completed, one flat list: row METHODS index, column status class * 3 +
        # the index of the http_version in VERSIONS. Compiled, a C array (as duration_buckets):
        # no key built, no int object made, no dictionary read per response but the method's.
        counts: list[int] = [0] * (len(METHODS) * ROW_SIZE)  # (Cython copies a list into an array)
        self.counts = counts
        # Per DURATION_BUCKETS bound, then +Inf: not cumulative here (exposition adds them up).
        buckets: list[int] = [0] * (N_BOUNDS + 1)
        self.duration_buckets = buckets
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
        """A response completed: ``count`` it from the cycle (for callers outside the cycle;
        the cycle calls ``count`` itself, compiled a C method call)."""
        scope = cycle.scope
        self.count(
            scope["method"], scope["http_version"], cycle.status, cycle.start_time,
            cycle.bytes_sent,
        )  # fmt: skip

    def count(self, method: str, version: str, status: int, start_time: float, nbytes: int) -> None:
        """A response completed (HTTP/1.1 or HTTP/2): count it, its duration since
        ``start_time`` (perf_counter's clock, set by the protocols when metrics are on) and its
        body bytes. Compiled, every argument but the two strings is a C number."""
        row = METHOD_ROWS.get(method, OTHER)
        column = 1 if version == "1.1" else 2 if version == "2" else 0
        index = status // 100 * 3 + column
        if not 0 <= index < ROW_SIZE:  # a status outside 100-599: counted as class 0
            index = column
        self.counts[row * ROW_SIZE + index] += 1
        duration = perf_counter() - start_time
        self.duration_sum += duration
        # The first bucket whose bound is not below the duration (Prometheus's "le"); most
        # requests end in the first one or two.
        bucket = 0
        while bucket < N_BOUNDS and duration > DURATION_BUCKETS[bucket]:
            bucket += 1
        self.duration_buckets[bucket] += 1
        self.bytes_out += nbytes

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
            "requests": [
                [METHODS[i // ROW_SIZE], i % ROW_SIZE // 3, VERSIONS[i % 3], n]
                for i, n in enumerate(self.counts)
                if n
            ],
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


if not cython.compiled:  # this file run as is (Cython drops the block from its compiled build)
    _error: ImportError | None = None
    if not TYPE_CHECKING and USE_EXTENSIONS:
        try:
            WorkerMetrics = import_compiled("pounce._speedups._metrics").WorkerMetrics
        except ImportError as exc:
            _error = exc
    record_selection("metrics", __name__, _error)
