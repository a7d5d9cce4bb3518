"""``--metrics-bind``, ``/livez``, ``/readyz`` and ``--shutdown-delay`` on real processes.

Scrapes are parsed with ``prometheus_client``'s text parser. The counters are checked against
the requests the test made (httpx, HTTP/1.1 and HTTP/2 by prior knowledge), under
``--workers 2``, across a ``kill -9`` of one worker and a SIGHUP's rolling restart: they never
go down and equal what was sent. Every process is stopped by the ``pounce_server`` fixture.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import time

import hpack
import httpx
import pytest
from hyperframe.frame import PingFrame, RstStreamFrame
from prometheus_client.parser import text_string_to_metric_families

from tests.h2support import H2Client
from tests.integration.test_h2_attacks import CANCEL, attack, headers_frame
from tests.integration.test_supervisor import ready_pids, wait_until, workers_of
from tests.support import RawClient, request, run_pounce

pytestmark = pytest.mark.timeout(90)

APP = "supervisor_app:app"
QUIET = ("--no-access-log",)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fetch(port: int, path: str, method: str = "GET") -> tuple[int, bytes]:
    resp = request(port, f"{method} {path} HTTP/1.1\r\nHost: m\r\n\r\n".encode(), timeout=10)
    return resp.status, resp.body


def scrape(port: int) -> Samples:
    status, body = fetch(port, "/metrics")
    assert status == 200, body
    out: Samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def requests_of(samples: Samples, method: str, protocol: str, status: str = "2xx") -> float:
    key = (("method", method), ("protocol", protocol), ("status", status))
    return samples.get(("pounce_http_requests_total", key), 0.0)


def total_requests(samples: Samples) -> float:
    return sum(v for (name, _), v in samples.items() if name == "pounce_http_requests_total")


def restarts(samples: Samples, cause: str) -> float:
    return samples.get(("pounce_worker_restarts_total", (("cause", cause),)), 0.0)


def assert_monotonic(before: Samples, after: Samples) -> None:
    """Every counter sample of ``before`` is still there and not lower."""
    for key, value in before.items():
        name = key[0]
        if name.endswith(("_total", "_bucket", "_count", "_sum")):
            assert after.get(key, 0.0) >= value, (key, value, after.get(key))


def make_requests(url: str, h1_gets: int, h1_posts: int, h2_gets: int) -> None:
    with httpx.Client(timeout=10) as client:
        for _ in range(h1_gets):
            assert client.get(f"{url}/").status_code == 200
        for i in range(h1_posts):
            assert client.post(f"{url}/echo", content=b"x" * i).status_code == 200
    if h2_gets:
        with httpx.Client(http1=False, http2=True, timeout=10) as client:
            for _ in range(h2_gets):
                response = client.get(f"{url}/")
                assert response.status_code == 200 and response.http_version == "HTTP/2"


def start(pounce_server, *args: str, workers: int = 2):
    port = free_port()
    proc = pounce_server(
        APP, "--workers", str(workers), "--metrics-bind", f"127.0.0.1:{port}", *QUIET, *args
    )
    assert wait_until(lambda: len(workers_of(proc)) == workers, 15), proc.output()
    assert wait_until(lambda: fetch(port, "/readyz")[0] == 200, 15), proc.output()
    return proc, port


def test_counts_equal_the_requests_across_kill_9_and_sighup(pounce_server):
    proc, mport = start(pounce_server)
    scrapes = [scrape(mport)]
    assert total_requests(scrapes[0]) == 0
    make_requests(proc.url, h1_gets=30, h1_posts=20, h2_gets=20)
    scrapes.append(scrape(mport))
    got = scrapes[-1]
    assert requests_of(got, "GET", "HTTP/1.1") == 30
    assert requests_of(got, "POST", "HTTP/1.1") == 20
    assert requests_of(got, "GET", "HTTP/2") == 20
    assert got[("pounce_http_request_duration_seconds_count", ())] == 70
    assert got[("pounce_http_response_body_bytes_total", ())] > 0
    assert got[("pounce_connections_accepted_total", (("transport", "tcp"),))] >= 2
    assert got[("pounce_workers", (("state", "ready"),))] == 2

    # kill -9: the victim's counts were collected by the scrape above; its replacement starts
    # from zero and the sum does not go down.
    before = workers_of(proc)
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    assert wait_until(lambda: len(workers_of(proc)) == 2 and bool(ready_pids(proc) - before), 15), (
        proc.output()
    )
    assert wait_until(lambda: fetch(mport, "/readyz")[0] == 200, 15), proc.output()
    scrapes.append(scrape(mport))
    assert total_requests(scrapes[-1]) == 70
    assert restarts(scrapes[-1], "died") == 1
    make_requests(proc.url, h1_gets=10, h1_posts=0, h2_gets=5)
    scrapes.append(scrape(mport))
    assert requests_of(scrapes[-1], "GET", "HTTP/1.1") == 40
    assert requests_of(scrapes[-1], "GET", "HTTP/2") == 25

    # SIGHUP: both workers drain and exit; their final counts stay in the sums.
    before = workers_of(proc)
    proc.signal(signal.SIGHUP)
    assert wait_until(lambda: not (workers_of(proc) & before), 30), proc.output()
    assert wait_until(lambda: len(workers_of(proc)) == 2, 15), proc.output()
    scrapes.append(scrape(mport))
    assert total_requests(scrapes[-1]) == 85
    assert restarts(scrapes[-1], "sighup") == 2
    make_requests(proc.url, h1_gets=5, h1_posts=5, h2_gets=5)
    scrapes.append(scrape(mport))
    final = scrapes[-1]
    assert requests_of(final, "GET", "HTTP/1.1") == 45
    assert requests_of(final, "POST", "HTTP/1.1") == 25
    assert requests_of(final, "GET", "HTTP/2") == 30
    assert final[("pounce_http_request_duration_seconds_count", ())] == 100
    for earlier, later in itertools.pairwise(scrapes):
        assert_monotonic(earlier, later)
    assert proc.stop() == 0


def test_pounce_own_error_answers_are_counted_by_status(pounce_server):
    proc, mport = start(pounce_server, "--limit-request-line", "100", workers=1)
    assert fetch(proc.port, "/" + "a" * 200)[0] == 414
    with RawClient(proc.port) as client:
        client.send(b"NOT HTTP AT ALL\r\n\r\n")
        assert client.read_response().status == 400
    got = scrape(mport)
    assert got[("pounce_http_own_responses_total", (("status", "414"),))] == 1
    assert got[("pounce_http_own_responses_total", (("status", "400"),))] == 1
    assert total_requests(got) == 0  # the app answered none of them


def test_http2_floods_and_resets_are_counted_by_protection(pounce_server):
    proc, mport = start(pounce_server, workers=1)
    encoder = hpack.Encoder()
    parts = []
    for i in range(2000):  # Rapid Reset (CVE-2023-44487)
        parts.append(headers_frame(encoder, 1 + 2 * i, ["END_HEADERS", "END_STREAM"]))
        rst = RstStreamFrame(1 + 2 * i)
        rst.error_code = CANCEL
        parts.append(rst.serialize())
    attack(proc.port, b"".join(parts))
    attack(proc.port, PingFrame(0, opaque_data=b"12345678").serialize() * 5000)
    # Three client resets of open streams (an /echo waiting for its body), below the limit.
    with H2Client(proc.port) as client:
        for _ in range(3):
            stream_id = client.request("/echo", method="POST", end_stream=False)
            client.conn.reset_stream(stream_id)
            client.flush()
        assert client.get("/").status == 200  # the connection lives on
    got = scrape(mport)
    floods = {
        dict(labels)["protection"]: value
        for (name, labels), value in got.items()
        if name == "pounce_http2_flood_protections_total"
    }
    assert floods == {"too many stream resets": 1, "PING flood": 1}
    code = (("code", "ENHANCE_YOUR_CALM"),)
    assert got[("pounce_http2_connection_errors_total", code)] == 2
    assert got[("pounce_http2_resets_received_total", ())] == 3


def test_livez_and_readyz_detail_every_worker(pounce_server):
    proc, mport = start(pounce_server, "--timeout-worker-healthcheck", "20")
    status, body = fetch(mport, "/livez")
    assert status == 200, body
    live = json.loads(body)
    assert live["status"] == "live" and live["supervisor"]["pid"] == proc.proc.pid
    assert {w["pid"] for w in live["workers"]} == workers_of(proc)
    assert all(w["answered"] is True for w in live["workers"])
    status, body = fetch(mport, "/readyz")
    ready = json.loads(body)
    assert status == 200 and ready["status"] == "ready" and ready["workers_serving"] == 2
    # A worker whose loop is blocked does not answer the probe: /livez says which one.
    blocked = RawClient(proc.port, timeout=30)
    try:
        blocked.send(b"GET /block?t=4 HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(0.5)
        status, body = fetch(mport, "/livez")
        assert status == 503, body
        detail = json.loads(body)
        assert [w["answered"] for w in detail["workers"]].count(False) == 1, detail
        assert blocked.read_response().status == 200
    finally:
        blocked.close()
    assert wait_until(lambda: fetch(mport, "/livez")[0] == 200, 10)
    assert fetch(mport, "/nope")[0] == 404
    assert fetch(mport, "/metrics", method="POST")[0] == 405


def test_readyz_turns_503_at_sigterm_while_requests_still_succeed(pounce_server):
    proc, mport = start(pounce_server, "--shutdown-delay", "2")
    assert fetch(mport, "/readyz")[0] == 200
    proc.signal(signal.SIGTERM)
    signalled = time.monotonic()
    assert wait_until(lambda: fetch(mport, "/readyz")[0] == 503, 1), proc.output()
    status, body = fetch(mport, "/readyz")
    assert status == 503 and json.loads(body)["reason"] == "shutting down (--shutdown-delay)"
    served = 0
    while time.monotonic() - signalled < 1.5:
        # New connections: the listener still accepts during the delay.
        assert fetch(proc.port, "/")[0] == 200
        served += 1
    assert served >= 5
    assert proc.proc.poll() is None  # still running within the delay
    assert proc.wait(20) == 0
    assert time.monotonic() - signalled >= 2.0
    assert "--shutdown-delay" in proc.output()


@pytest.mark.parametrize("value", ["9100", "127.0.0.1:http", "127.0.0.1:0", "::1:9100"])
def test_bad_metrics_bind_is_a_one_line_error(value):
    result = run_pounce("--metrics-bind", value, "--app-dir", "tests/apps", APP)
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: --metrics-bind: "), result.stderr


def test_metrics_bind_in_use_is_a_one_line_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_pounce(
            "--port", "0", "--metrics-bind", f"127.0.0.1:{port}", "--app-dir", "tests/apps", APP
        )
    assert result.returncode == 3, result
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert errors == [
        f"Error: --metrics-bind: cannot bind 127.0.0.1:{port} (Address already in use)"
    ]
    assert "Traceback" not in result.stderr
