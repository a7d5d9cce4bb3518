"""Lifespan modes, and one worker's graceful stop on real signals."""

from __future__ import annotations

import signal
import threading
import time

import httpx
import pytest

from tests.support import PounceProcess, RawClient, get


def test_failed_startup_exits_3(pounce_server):
    proc = pounce_server("lifespan_apps:failing_startup", ready=False)
    assert proc.wait(15) == 3
    out = proc.output()
    assert "database unreachable" in out
    assert "Application startup failed. Exiting." in out
    assert "Traceback" not in out


def test_lifespan_on_with_raising_app_exits_3(pounce_server):
    proc = pounce_server("lifespan_apps:raising_lifespan", "--lifespan", "on", ready=False)
    assert proc.wait(15) == 3
    assert "Application startup failed" in proc.output()


def test_lifespan_auto_with_raising_app_serves(pounce_server):
    proc = pounce_server("lifespan_apps:raising_lifespan")
    assert httpx.get(proc.url, timeout=5).text == "ok"
    assert "ASGI 'lifespan' protocol appears unsupported." in proc.output()


def test_lifespan_off_never_calls_lifespan(pounce_server):
    proc = pounce_server("lifespan_apps:failing_startup", "--lifespan", "off")
    assert "Waiting for application startup" not in proc.output()
    assert proc.proc.poll() is None


def test_lifespan_shutdown_runs_on_sigterm(pounce_server, tmp_path):
    marker = tmp_path / "marker"
    proc = pounce_server("lifespan_apps:shutdown_marker", env={"SHUTDOWN_MARKER": str(marker)})
    assert httpx.get(proc.url, timeout=5).text == "ok"
    proc.signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    assert marker.read_text() == "shutdown ran"
    assert "Application shutdown complete." in proc.output()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_in_flight_request_finishes_on_stop(pounce_server, parser, sig):
    proc = pounce_server("testapp:app", "--http", parser)
    result: dict = {}

    def slow_request() -> None:
        with RawClient(proc.port, timeout=10) as c:
            c.send(get("/slow?t=1.5"))
            resp = c.read_response()
            result["status"] = resp.status
            result["connection"] = resp.header("connection")
            result["body"] = resp.body
            result["closed"] = c.is_closed(3)

    t = threading.Thread(target=slow_request)
    t.start()
    time.sleep(0.5)
    proc.signal(sig)
    t.join(10)
    assert result == {"status": 200, "connection": "close", "body": b"slow done", "closed": True}
    assert proc.wait(10) == 0


def test_idle_keep_alive_connection_closes_on_stop(pounce_server):
    proc = pounce_server("testapp:app")
    with RawClient(proc.port) as c:
        c.send(get("/"))
        assert c.read_response().status == 200
        proc.signal(signal.SIGTERM)
        assert c.is_closed(5)
    assert proc.wait(10) == 0


def test_no_new_connections_after_stop(pounce_server):
    proc = pounce_server("testapp:app")
    busy = RawClient(proc.port, timeout=10)
    busy.send(get("/slow?t=1.5"))
    time.sleep(0.3)
    proc.signal(signal.SIGTERM)
    time.sleep(0.3)
    with pytest.raises(OSError):
        RawClient(proc.port, timeout=2).send(get("/"))
    assert busy.read_response().status == 200
    busy.close()
    assert proc.wait(10) == 0


def test_graceful_timeout_cancels_what_is_left(pounce_server):
    proc = pounce_server("testapp:app", "--timeout-graceful-shutdown", "0.5")
    c = RawClient(proc.port, timeout=10)
    c.send(get("/slow?t=30"))
    time.sleep(0.3)
    start = time.monotonic()
    proc.signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    assert time.monotonic() - start < 5
    assert c.is_closed(2)
    assert "timeout graceful shutdown exceeded" in proc.output()


def test_second_sigint_forces_exit(pounce_server):
    proc = pounce_server("testapp:app")
    c = RawClient(proc.port, timeout=10)
    c.send(get("/slow?t=30"))
    time.sleep(0.3)
    proc.signal(signal.SIGINT)
    time.sleep(0.3)
    assert proc.proc.poll() is None  # still draining the 30 s request
    start = time.monotonic()
    proc.signal(signal.SIGINT)
    proc.wait(10)
    assert time.monotonic() - start < 5
    c.close()


def test_startup_log_names_bind_and_implementations():
    proc = PounceProcess("testapp:app")
    try:
        proc.wait_ready()
        out = proc.output()
        assert "Started server process" in out
        assert "speedups:" in out and "http:" in out and "loop:" in out
    finally:
        proc.stop()
