"""The supervisor's side of ``--metrics-bind``: sum the workers' snapshots and write them in
Prometheus's text exposition format (version 0.0.4,
https://prometheus.io/docs/instrumenting/exposition_formats/).

Counters are summed over the live workers' latest snapshots plus ``Totals.retire``'d ones: a
worker that exits (drained at SIGHUP or recycling, killed, crashed) leaves its last snapshot,
so a sum never goes down when a worker goes. Gauges are summed over the live workers only.
Writing the format is a few lines, so ``prometheus_client`` is not a dependency (the tests
parse the output with it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .metrics import DURATION_BUCKETS

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Snapshot keys whose values are {label value: count} counters.
_LABELLED_COUNTERS = (
    "accepted",
    "own_responses",
    "proxy_protocol_rejected",
    "h2_connection_errors",
    "h2_flood_protections",
)


class Totals:
    """Counters summed over snapshots (pounce/metrics.py ``WorkerMetrics.snapshot``)."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, int, str], int] = {}
        self.duration_buckets = [0] * (len(DURATION_BUCKETS) + 1)
        self.duration_sum = 0.0
        self.bytes_out = 0
        self.websocket_sessions = 0
        self.h2_resets_received = 0
        self.labelled: dict[str, dict[str, int]] = {key: {} for key in _LABELLED_COUNTERS}
        # Gauges: only from live workers (``add(..., gauges=True)``).
        self.open_connections: dict[str, int] = {}
        self.in_flight = 0
        self.h2_streams_open = 0

    def add(self, snapshot: dict[str, Any], gauges: bool = False) -> None:
        for method, status_class, version, count in snapshot["requests"]:
            key = (method, status_class, version)
            self.requests[key] = self.requests.get(key, 0) + count
        for i, count in enumerate(snapshot["duration_buckets"][: len(self.duration_buckets)]):
            self.duration_buckets[i] += count
        self.duration_sum += snapshot["duration_sum"]
        self.bytes_out += snapshot["bytes_out"]
        self.websocket_sessions += snapshot["websocket_sessions"]
        self.h2_resets_received += snapshot.get("h2_resets_received", 0)
        for name in _LABELLED_COUNTERS:
            _add_counts(self.labelled[name], snapshot.get(name, {}))
        if gauges:
            _add_counts(self.open_connections, snapshot["open_connections"])
            self.in_flight += snapshot["in_flight"]
            self.h2_streams_open += snapshot.get("h2_streams_open", 0)

    def retire(self, snapshot: dict[str, Any]) -> None:
        """A worker exited: its counters stay in the sums from now on."""
        self.add(snapshot)

    def plus(self, live: Iterable[dict[str, Any]]) -> Totals:
        """These totals (the retired workers') plus the live workers' snapshots."""
        total = Totals()
        total.add(self.as_snapshot())
        for snapshot in live:
            total.add(snapshot, gauges=True)
        return total

    def as_snapshot(self) -> dict[str, Any]:
        return {
            "requests": [[m, c, v, n] for (m, c, v), n in self.requests.items()],
            "duration_buckets": list(self.duration_buckets),
            "duration_sum": self.duration_sum,
            "bytes_out": self.bytes_out,
            "websocket_sessions": self.websocket_sessions,
            "h2_resets_received": self.h2_resets_received,
            **{key: dict(values) for key, values in self.labelled.items()},
        }


def _add_counts(into: dict[str, int], counts: dict[str, int]) -> None:
    for label, count in counts.items():
        into[label] = into.get(label, 0) + count


def render(totals: Totals, restarts: dict[str, int], workers: dict[str, int], ready: bool) -> str:
    """The exposition text: the workers' sums, then the supervisor's own numbers
    (``restarts`` by cause, ``workers`` by state, whether /readyz would answer 200)."""
    out: list[str] = []
    name = "pounce_http_requests_total"
    family(out, name, "counter", "Responses completed, by method, status class and protocol.")
    for (method, status_class, version), count in sorted(totals.requests.items()):
        labels = {"method": method, "status": f"{status_class}xx", "protocol": f"HTTP/{version}"}
        sample(out, name, labels, count)
    name = "pounce_http_request_duration_seconds"
    family(out, name, "histogram", "From the request head to the last response byte written.")
    cumulative = 0
    bounds = (*DURATION_BUCKETS, float("inf"))
    for bound, count in zip(bounds, totals.duration_buckets, strict=True):
        cumulative += count
        sample(out, f"{name}_bucket", {"le": _number(bound)}, cumulative)
    sample(out, f"{name}_sum", {}, totals.duration_sum)
    sample(out, f"{name}_count", {}, cumulative)
    labelled = totals.labelled
    # (name, type, help, label name, {label value: value}); no label: one unlabelled value.
    families: list[tuple[str, str, str, str, dict[str, int] | int]] = [
        ("pounce_http_response_body_bytes_total", "counter",
         "Response body bytes sent (HTTP/1.1 and HTTP/2).", "", totals.bytes_out),
        ("pounce_http_requests_in_flight", "gauge",
         "Requests being answered or queued (pipelined) now.", "", totals.in_flight),
        ("pounce_connections_accepted_total", "counter",
         "Connections accepted, by the listener's transport.", "transport", labelled["accepted"]),
        ("pounce_connections_open", "gauge",
         "Open connections, by protocol.", "protocol", totals.open_connections),
        ("pounce_websocket_sessions_total", "counter",
         "WebSocket sessions handed to the app (HTTP/1.1 and HTTP/2).", "",
         totals.websocket_sessions),
        ("pounce_http2_streams_open", "gauge", "HTTP/2 streams open now.", "",
         totals.h2_streams_open),
        ("pounce_http2_resets_received_total", "counter",
         "RST_STREAM frames received from clients.", "", totals.h2_resets_received),
        ("pounce_http2_connection_errors_total", "counter",
         "HTTP/2 connections ended by a GOAWAY with an error, by error code.", "code",
         labelled["h2_connection_errors"]),
        ("pounce_http2_flood_protections_total", "counter",
         "HTTP/2 connections closed by a flood protection (ENHANCE_YOUR_CALM).", "protection",
         labelled["h2_flood_protections"]),
        ("pounce_http_own_responses_total", "counter",
         "Error responses pounce wrote itself (not the app), by status.", "status",
         labelled["own_responses"]),
        ("pounce_proxy_protocol_rejected_total", "counter",
         "Connections closed for a bad or missing PROXY protocol header, by kind.", "kind",
         labelled["proxy_protocol_rejected"]),
        ("pounce_worker_restarts_total", "counter",
         "Workers started to replace another, by cause.", "cause", restarts),
        ("pounce_workers", "gauge", "Worker processes, by state.", "state", workers),
        ("pounce_ready", "gauge", "1 when /readyz answers 200.", "", int(ready)),
    ]  # fmt: skip
    for name, kind, help_text, label, values in families:
        family(out, name, kind, help_text)
        if isinstance(values, dict):
            for value, count in sorted(values.items()):
                sample(out, name, {label: value}, count)
        else:
            sample(out, name, {}, values)
    return "".join(out)


def family(out: list[str], name: str, kind: str, help_text: str) -> None:
    out.append(f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n")


def sample(out: list[str], name: str, labels: dict[str, str], value: float) -> None:
    if labels:
        inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
        out.append(f"{name}{{{inner}}} {_number(value)}\n")
    else:
        out.append(f"{name} {_number(value)}\n")


def _escape(value: str) -> str:
    # The format's label value escapes: backslash, double quote and line feed.
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if value == float("inf"):
        return "+Inf"
    if isinstance(value, int) or (value.is_integer() and abs(value) < 2**53):
        return str(int(value))
    return repr(value)
