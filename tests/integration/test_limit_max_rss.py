"""``--limit-max-rss``: a worker whose resident memory stays above the limit is replaced, under
load from wrk, without a failed request.

The app leaks on purpose (``/leak?mib=N`` keeps N MiB for the life of the worker); the load
itself (``GET /``) leaks nothing, so only the test's own leak requests move the RSS and the
memory used stays bounded (at most a few times the limit).
"""

from __future__ import annotations

import re
import time

import pytest

from tests.integration.test_supervisor import wait_until, workers_of, wrk_load
from tests.support import RawClient, run_pounce

pytestmark = pytest.mark.timeout(90)

APP = "service_app:app"
QUIET = ("--no-access-log",)
LEAK_MIB = 16
# Above a fresh worker's RSS (about 30-50 MiB, compiled or pure), below it plus a few leaks.
LIMIT_MIB = 120
LOAD_SECONDS = 15


def get(port: int, path: str) -> tuple[int, bytes]:
    with RawClient(port, timeout=10) as client:
        client.send(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
        resp = client.read_response()
    return resp.status, resp.body


def test_leaking_worker_is_replaced_under_load_without_a_failed_request(pounce_server):
    proc = pounce_server(
        APP, "--workers", "2", "--limit-max-rss", str(LIMIT_MIB), *QUIET, ready=True
    )
    assert wait_until(lambda: len(workers_of(proc)) == 2, 15), proc.output()
    before = workers_of(proc)
    status, body = get(proc.port, "/rss")
    assert status == 200 and int(body) < LIMIT_MIB - 2 * LEAK_MIB, body  # room to leak
    leak_statuses: list[int] = []
    pattern = re.compile(
        r"Worker \[(\d+)\] resident memory (\d+) MiB stayed above --limit-max-rss (\d+) MiB"
    )
    with wrk_load(proc.port, seconds=LOAD_SECONDS, connections=16) as result:
        started = time.monotonic()
        # Leak in steps until a worker says it stayed above the limit (two checks 1 s apart).
        while (match := pattern.search(proc.output())) is None:
            assert time.monotonic() - started < 30, proc.output()
            if len(leak_statuses) < 40:
                leak_statuses.append(get(proc.port, f"/leak?mib={LEAK_MIB}")[0])
            time.sleep(0.2)
        leaker, rss, limit = (int(g) for g in match.groups())
        # Its replacement is ready before it drains; then it exits, all while wrk runs.
        assert wait_until(lambda: leaker not in workers_of(proc), 20), proc.output()
        replaced_after = time.monotonic() - started
    (wrk,) = result
    print(
        f"--limit-max-rss {LIMIT_MIB} under load: worker replaced after {replaced_after:.1f}s; "
        f"{wrk.requests} requests, {wrk.socket_errors} socket errors, {wrk.non_2xx} non-2xx"
    )
    assert replaced_after < LOAD_SECONDS - 1, "the replacement did not happen under load"
    assert set(leak_statuses) == {200}
    assert wrk.requests > 500, wrk.output
    assert wrk.socket_errors == 0, wrk.output
    assert wrk.non_2xx == 0, wrk.output
    assert leaker in before and rss > limit == LIMIT_MIB
    out = proc.output()
    assert f"Worker [{leaker}] reached --limit-max-rss ({LIMIT_MIB} MiB): recycling it" in out
    assert re.search(rf"--limit-max-rss: replaces worker \[{leaker}\]", out)
    assert wait_until(lambda: len(workers_of(proc)) == 2, 20), proc.output()
    answered = {int(get(proc.port, "/pid")[1]) for _ in range(20)}
    assert leaker not in answered
    assert answered <= workers_of(proc)
    assert proc.stop() == 0


def test_limit_max_rss_alone_runs_the_supervisor(pounce_server):
    # As --limit-max-requests: recycling needs a parent to start the replacement.
    proc = pounce_server(APP, "--limit-max-rss", "1000", *QUIET)
    assert "Started supervisor process" in proc.output()
    assert get(proc.port, "/")[0] == 200


def test_limit_below_a_fresh_worker_is_warned_about(pounce_server):
    proc = pounce_server(APP, "--limit-max-rss", "1", *QUIET)
    proc.wait_for_log("just after start, above --limit-max-rss 1 MiB")
    # And it is what the warning says: the worker is replaced, again and again, while serving.
    proc.wait_for_log("reached --limit-max-rss (1 MiB): recycling it")
    assert get(proc.port, "/")[0] == 200


@pytest.mark.parametrize("value", ["-1", "0"])
def test_bad_limit_max_rss_is_a_one_line_error(value):
    result = run_pounce("--limit-max-rss", value, "service_app:app")
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == ["Error: --limit-max-rss: must be a positive number of MiB"]
