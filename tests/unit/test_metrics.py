"""``--metrics-bind``'s parts without processes: a worker's counters, the control channel's
stats frames, the supervisor's sums and their exposition text, read back with
``prometheus_client``'s parser (the one Prometheus's Python users rely on)."""

from __future__ import annotations

from time import perf_counter

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pounce.asgi.cycle import RequestResponseCycle
from pounce.config import Config, parse_host_port
from pounce.errors import ConfigError
from pounce.metrics import DURATION_BUCKETS, WorkerMetrics
from pounce.metrics_exposition import Totals, render
from pounce.worker import MSG_FINAL_STATS, MSG_STATS, stats_frame, take_messages


def finished_cycle(
    method: str, status: int, version: str, nbytes: int, start: float
) -> RequestResponseCycle:
    """A cycle as the protocols leave it at its end (the run's build: the compiled
    request_done reads the compiled cycle's slots)."""
    cycle = RequestResponseCycle(
        {"method": method, "http_version": version}, object(), None, more_body=False
    )
    cycle.status = status
    cycle.bytes_sent = nbytes
    cycle.start_time = start
    return cycle


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def worker_snapshot(requests: list[tuple[str, int, str]]) -> dict:
    metrics = WorkerMetrics()
    for method, status, version in requests:
        metrics.request_done(finished_cycle(method, status, version, 13, start=1e-9))
    metrics.own_response(400)
    return metrics.snapshot([], {"malformed": 2})


def test_request_done_counts_by_method_status_class_and_protocol():
    snap = worker_snapshot([("GET", 200, "1.1"), ("GET", 204, "1.1"), ("POST", 404, "2")])
    assert sorted(map(tuple, snap["requests"])) == [("GET", 2, "1.1", 2), ("POST", 4, "2", 1)]


def test_a_status_outside_100_599_is_counted_as_class_0():
    snap = worker_snapshot([("GET", 99, "1.0"), ("GET", 600, "1.0"), ("GET", 200, "1.0")])
    assert sorted(map(tuple, snap["requests"])) == [("GET", 0, "1.0", 2), ("GET", 2, "1.0", 1)]
    assert sum(snap["duration_buckets"]) == 3
    assert snap["bytes_out"] == 39
    assert snap["own_responses"] == {"400": 1}
    assert snap["proxy_protocol_rejected"] == {"malformed": 2}


def test_invented_methods_are_counted_as_other():
    # A client may send any token as a method: each must not become a series of its own.
    snap = worker_snapshot([(f"M{i}", 200, "1.1") for i in range(50)])
    assert snap["requests"] == [["OTHER", 2, "1.1", 50]]


def test_stats_frames_survive_any_split_between_single_byte_messages():
    snap = worker_snapshot([("GET", 200, "1.1")])
    stream = b"p" + stats_frame(MSG_STATS, snap) + b"RS" + stats_frame(MSG_FINAL_STATS, {})
    for cut in range(len(stream) + 1):
        buffer = bytearray()
        singles = b""
        frames = []
        for part in (stream[:cut], stream[cut:]):
            buffer += part
            got_singles, got_frames = take_messages(buffer)
            singles += got_singles
            frames += got_frames
        assert singles == b"pRS", cut
        assert frames == [(MSG_STATS[0], snap), (MSG_FINAL_STATS[0], {})], cut
        assert not buffer


def test_sums_keep_retired_workers_counters_and_only_live_gauges():
    live = worker_snapshot([("GET", 200, "1.1")] * 3)
    live["open_connections"] = {"http/1.1": 2}
    live["in_flight"] = 1
    retired = Totals()
    gone = worker_snapshot([("GET", 200, "1.1")] * 5 + [("GET", 500, "2")])
    gone["open_connections"] = {"http/1.1": 7}  # a dead worker's gauges mean nothing
    retired.retire(gone)
    text = render(retired.plus([live]), {"died": 1}, {"ready": 2}, ready=True)
    got = samples(text)
    key = (("method", "GET"), ("protocol", "HTTP/1.1"), ("status", "2xx"))
    assert got[("pounce_http_requests_total", key)] == 8
    key2 = (("method", "GET"), ("protocol", "HTTP/2"), ("status", "5xx"))
    assert got[("pounce_http_requests_total", key2)] == 1
    assert got[("pounce_http_request_duration_seconds_count", ())] == 9
    assert got[("pounce_http_request_duration_seconds_bucket", (("le", "+Inf"),))] == 9
    assert got[("pounce_connections_open", (("protocol", "http/1.1"),))] == 2
    assert got[("pounce_http_requests_in_flight", ())] == 1
    assert got[("pounce_http_own_responses_total", (("status", "400"),))] == 2
    assert got[("pounce_proxy_protocol_rejected_total", (("kind", "malformed"),))] == 4
    assert got[("pounce_worker_restarts_total", (("cause", "died"),))] == 1
    assert got[("pounce_workers", (("state", "ready"),))] == 2
    assert got[("pounce_ready", ())] == 1
    assert got[("pounce_http_response_body_bytes_total", ())] == 9 * 13


def test_histogram_buckets_are_cumulative_and_inclusive():
    metrics = WorkerMetrics()
    # Durations of about 0 (the first bucket), 3 ms (between the bounds 2.5 and 5 ms) and
    # 100 s (only +Inf), as request_done measures them: from the cycle's start_time.
    for ago in (0.0, 0.0, 0.003, 100.0):
        metrics.request_done(finished_cycle("GET", 200, "1.1", 0, perf_counter() - ago))
    totals = Totals()
    totals.add(metrics.snapshot([], {}))
    got = samples(render(totals, {}, {}, ready=False))
    bucket = "pounce_http_request_duration_seconds_bucket"
    assert got[(bucket, (("le", str(DURATION_BUCKETS[0])),))] == 2
    assert got[(bucket, (("le", "0.0025"),))] == 2
    assert got[(bucket, (("le", "0.005"),))] == 3
    assert got[(bucket, (("le", "10"),))] == 3
    assert got[(bucket, (("le", "+Inf"),))] == 4


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("127.0.0.1:9100", ("127.0.0.1", 9100)),
        ("0.0.0.0:1", ("0.0.0.0", 1)),
        ("localhost:9100", ("localhost", 9100)),
        ("[::1]:9100", ("::1", 9100)),
    ],
)
def test_host_port_accepted(value, expected):
    assert parse_host_port(value) == expected


@pytest.mark.parametrize(
    "value",
    ["9100", ":9100", "127.0.0.1:", "127.0.0.1:x", "127.0.0.1:0", "127.0.0.1:65536", "::1:9100",
     "[]:9100", "a b:9100"],
)  # fmt: skip
def test_bad_metrics_bind_names_the_option(value):
    with pytest.raises(ConfigError, match=r"^--metrics-bind: "):
        Config(app="x:y", metrics_bind=value)


@pytest.mark.parametrize("value", [-1.0, float("nan"), float("inf")])
def test_bad_shutdown_delay_names_the_option(value):
    with pytest.raises(ConfigError, match=r"^--shutdown-delay: "):
        Config(app="x:y", shutdown_delay=value)


def test_metrics_and_shutdown_delay_run_the_supervisor():
    assert not Config(app="x:y").use_supervisor
    assert Config(app="x:y", metrics_bind="127.0.0.1:9100").use_supervisor
    assert Config(app="x:y", shutdown_delay=2).use_supervisor


def test_h2_errors_by_code_and_flood_protection():
    metrics = WorkerMetrics()
    metrics.h2_connection_error(0xB, "PING flood")
    metrics.h2_connection_error(0xB, "PING flood")
    metrics.h2_connection_error(0x1, "DATA on a closed stream 7")  # not a label: no flood
    metrics.h2_resets_received += 3
    totals = Totals()
    totals.add(metrics.snapshot([], {}))
    got = samples(render(totals, {}, {}, ready=True))
    code = "pounce_http2_connection_errors_total"
    assert got[(code, (("code", "ENHANCE_YOUR_CALM"),))] == 2
    assert got[(code, (("code", "PROTOCOL_ERROR"),))] == 1
    floods = [k for k in got if k[0] == "pounce_http2_flood_protections_total"]
    assert floods == [("pounce_http2_flood_protections_total", (("protection", "PING flood"),))]
    assert got[floods[0]] == 2
    assert got[("pounce_http2_resets_received_total", ())] == 3
