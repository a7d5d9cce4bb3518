"""pounce's gunicorn worker classes under a real gunicorn arbiter, with real clients and wrk.

Every test starts ``python -m gunicorn -k pounce.workers.PounceWorker`` on a socket bound here
and handed over as ``--bind fd://N`` (no port race), and stops it by PID in a ``finally``:
SIGTERM to the arbiter, then SIGKILL to the arbiter and to every worker PID seen during the
test that is still alive. The machine may be busy (2 cores shared with other test runs), so the
waits are generous; the bounds that matter (exit within the graceful timeout, a heartbeat that
keeps an idle worker alive under ``--timeout 2``) are asserted exactly.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from pounce._compat import HAS_HTTPTOOLS
from tests.conftest import PURE_RUN
from tests.integration.conftest import Certs
from tests.integration.test_supervisor import children, parse_wrk, wait_until
from tests.support import APPS, ROOT, RawClient

gunicorn = pytest.importorskip("gunicorn")
from gunicorn.config import KNOWN_SETTINGS  # noqa: E402

WORKER = "pounce.workers.PounceWorker"
H11_WORKER = "pounce.workers.PounceH11Worker"
APP = "gunicorn_app:app"
HAVE_WRK = shutil.which("wrk") is not None
# gunicorn 25+ opens a control socket in ~/.gunicorn by default: parallel runs would share it.
NO_CONTROL_SOCKET = (
    ["--no-control-socket"]
    if any(s.name == "control_socket_disable" for s in KNOWN_SETTINGS)
    else []
)


class Gunicorn:
    """A gunicorn arbiter on a socket bound here; ``stop()`` ends it and all its workers."""

    def __init__(
        self,
        *args: str,
        worker: str = WORKER,
        workers: int = 2,
        app: str = APP,
        bind: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in stop()
            prefix="gunicorn-", suffix=".log", delete=False
        )
        # A bound socket for fd://, unless the test names another bind (gunicorn would
        # ignore it next to an fd).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(1024)
        self.port = sock.getsockname()[1]
        if bind is None:
            bind = f"fd://{sock.fileno()}"
        self.cmd = [
            sys.executable,
            "-m",
            "gunicorn",
            "-k",
            worker,
            "-w",
            str(workers),
            "--bind",
            bind,
            "--chdir",
            str(APPS),
            *NO_CONTROL_SOCKET,
            *args,
            app,
        ]
        child_env = dict(os.environ)
        child_env["PYTHONUNBUFFERED"] = "1"
        child_env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
        )
        if env:
            child_env.update(env)
        self.proc = subprocess.Popen(
            self.cmd,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            pass_fds=(sock.fileno(),),
            env=child_env,
            cwd=str(ROOT),
        )
        sock.close()
        self.seen_workers: set[int] = set()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def workers(self) -> set[int]:
        found = children(self.proc.pid)
        self.seen_workers |= found
        return found

    def wait_booted(self, count: int, timeout: float = 20.0) -> set[int]:
        """Wait until ``count`` workers have finished lifespan startup; their pids."""

        def ready() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}:\n{self.output()}")
            started = set(
                map(
                    int,
                    re.findall(r"\[(\d+)\] \[INFO\] Application startup complete", self.output()),
                )
            )
            return len(started & self.workers()) >= count

        assert wait_until(ready, timeout), self.output()
        return self.workers()

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def stop(self) -> int | None:
        self.workers()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for pid in self.seen_workers:
            if _is_gunicorn_process(pid):
                os.kill(pid, signal.SIGKILL)
        self.log.close()
        return self.proc.returncode


def _is_gunicorn_process(pid: int) -> bool:
    """A live process that is still one of ours (its pid was not reused)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return b"gunicorn" in cmdline and state not in ("Z", "X")


@contextmanager
def gunicorn_server(*args: str, **kw: object) -> Iterator[Gunicorn]:
    server = Gunicorn(*args, **kw)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()


def get_pid(port: int) -> int:
    """The pid of the worker that answered a request on a new connection."""
    with RawClient(port, timeout=10) as client:
        client.send(b"GET /pid HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        resp = client.read_response()
    assert resp.status == 200
    return int(resp.body)


def wrk_errors(output: str) -> dict[str, int]:
    match = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if match is None:
        return {"connect": 0, "read": 0, "write": 0, "timeout": 0}
    return dict(zip(("connect", "read", "write", "timeout"), map(int, match.groups()), strict=True))


@contextmanager
def wrk(port: int, path: str = "/", seconds: int = 3) -> Iterator[list[str]]:
    """``wrk -c 8 -t 1 -d 3`` in the background; its output is in the list after the block."""
    cmd = ["wrk", "-t1", "-c8", f"-d{seconds}s", f"http://127.0.0.1:{port}{path}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    result: list[str] = []
    try:
        time.sleep(0.5)  # wrk is connected and busy before the test acts
        yield result
        out, _ = proc.communicate(timeout=seconds + 30)
        result.append(out)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


# Serving ------------------------------------------------------------------------------------


@pytest.mark.timeout(90)
@pytest.mark.parametrize("worker", [WORKER, H11_WORKER])
def test_get_post_websocket_with_two_workers(worker: str) -> None:
    from websockets.sync.client import connect

    with gunicorn_server("--access-logfile", "-", worker=worker) as server:
        pids = server.wait_booted(2)
        assert len(pids) == 2
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=10) as client:
            resp = client.get("/")
            assert (resp.status_code, resp.content) == (200, b"hello")
            assert resp.headers["server"] == "pounce"
            body = os.urandom(300_000)
            resp = client.post("/echo", content=body)
            assert resp.status_code == 200 and resp.content == body
            scope = client.get("/scope").json()
            assert scope["scheme"] == "http" and scope["client"][0] == "127.0.0.1"
            # Lifespan ran in the worker that answers, and its state reached the request.
            assert scope["started_in"] == scope["pid"] and scope["pid"] in pids
        with connect(f"ws://127.0.0.1:{server.port}/ws", open_timeout=10) as ws:
            ws.send("text frame")
            assert ws.recv(timeout=10) == "text frame"
            ws.send(b"\x00\x01binary")
            assert ws.recv(timeout=10) == b"\x00\x01binary"
        answered = {get_pid(server.port) for _ in range(20)}
        assert answered <= pids
        log = server.output()
        assert f"Using worker: {worker}" in log
        # Each worker names its implementations: the pure run's child processes are pure too.
        speedups = "pure" if PURE_RUN else "compiled"
        http = "h11" if worker == H11_WORKER else ("httptools" if HAS_HTTPTOOLS else "h11")
        assert log.count(f"speedups: {speedups}") == 2, log
        assert log.count(f"http: {http}, ") == 2, log
        # The access log went through gunicorn's --access-logfile handler.
        assert re.search(r'127\.0\.0\.1:\d+ - "POST /echo HTTP/1\.1" 200$', log, re.M), log
        assert server.stop() == 0


@pytest.mark.timeout(60)
def test_limit_request_line_and_keepalive_come_from_gunicorn() -> None:
    with gunicorn_server("--limit-request-line", "100", "--keep-alive", "1", workers=1) as server:
        server.wait_booted(1)
        with RawClient(server.port, timeout=10) as client:
            client.send(b"GET /" + b"a" * 150 + b" HTTP/1.1\r\nHost: t\r\n\r\n")
            assert client.read_response().status == 414
        with RawClient(server.port, timeout=10) as client:
            client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            assert client.read_response().status == 200
            started = time.monotonic()
            # --keep-alive 1: the idle connection is closed after about a second, not 5 s.
            assert client.is_closed(timeout=4)
            assert time.monotonic() - started < 3


@pytest.mark.timeout(60)
def test_no_access_log_without_access_logfile() -> None:
    with gunicorn_server(workers=1) as server:
        server.wait_booted(1)
        assert httpx.get(f"http://127.0.0.1:{server.port}/scope", timeout=10).status_code == 200
        assert "GET /scope" not in server.output()


@pytest.mark.timeout(60)
def test_forwarded_allow_ips_comes_from_gunicorn() -> None:
    headers = {"x-forwarded-for": "203.0.113.7", "x-forwarded-proto": "https"}
    # gunicorn's default trusts 127.0.0.1 and ::1: the test client is the proxy.
    with gunicorn_server(workers=1) as server:
        server.wait_booted(1)
        url = f"http://127.0.0.1:{server.port}/scope"
        scope = httpx.get(url, headers=headers, timeout=10).json()
        assert (scope["client"][0], scope["scheme"]) == ("203.0.113.7", "https")
    with gunicorn_server("--forwarded-allow-ips", "10.0.0.1", workers=1) as server:
        server.wait_booted(1)
        url = f"http://127.0.0.1:{server.port}/scope"
        scope = httpx.get(url, headers=headers, timeout=10).json()
        assert (scope["client"][0], scope["scheme"]) == ("127.0.0.1", "http")


@pytest.mark.timeout(60)
def test_unix_socket_bind(tmp_path: Path) -> None:
    path = tmp_path / "g.sock"
    with gunicorn_server(bind=f"unix:{path}", workers=1) as server:
        server.wait_booted(1)
        transport = httpx.HTTPTransport(uds=str(path))
        with httpx.Client(transport=transport, base_url="http://g", timeout=10) as client:
            resp = client.post("/echo", content=b"over a unix socket")
            assert (resp.status_code, resp.content) == (200, b"over a unix socket")
        assert server.stop() == 0
    assert not path.exists()  # gunicorn's arbiter unlinks its socket on a graceful stop


@pytest.mark.timeout(60)
def test_preload_imports_in_the_arbiter() -> None:
    with gunicorn_server("--preload") as server:
        pids = server.wait_booted(2)
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=10) as client:
            assert int(client.get("/import-pid").text) == server.pid
            scope = client.get("/scope").json()
        assert scope["pid"] in pids and scope["pid"] != server.pid
        assert scope["started_in"] == scope["pid"]  # lifespan still runs in each worker


@pytest.mark.timeout(60)
def test_tls_from_gunicorn_certfile_and_keyfile(certs: Certs) -> None:
    args = ("--certfile", str(certs.cert), "--keyfile", str(certs.key))
    with gunicorn_server(*args) as server:
        server.wait_booted(2)
        ctx = ssl.create_default_context(cafile=str(certs.ca))
        base = f"https://127.0.0.1:{server.port}"
        with httpx.Client(base_url=base, verify=ctx, timeout=10) as client:
            resp = client.get("/scope")
            assert resp.status_code == 200 and resp.http_version == "HTTP/1.1"
            assert resp.json()["scheme"] == "https"
        with httpx.Client(base_url=base, verify=ctx, http2=True, timeout=10) as client:
            resp = client.get("/scope")
            assert resp.http_version == "HTTP/2"  # ALPN h2 (RFC 9113 §3.2)
            assert resp.json()["http_version"] == "2"
        # A plain-HTTP client on the TLS port gets no HTTP answer.
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{server.port}/", timeout=5)


# Recycling, signals -------------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_max_requests_recycles_workers_without_losing_a_request() -> None:
    with gunicorn_server("--max-requests", "15") as server:
        first = server.wait_booted(2)
        answered: list[int] = []
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=20) as client:
            for _ in range(90):
                resp = client.get("/pid")  # keep-alive: a recycled worker closes after answering
                assert resp.status_code == 200
                answered.append(int(resp.text))
        assert len(answered) == 90
        # A worker that reached 15 drains: the request already on its way on the keep-alive
        # connection is answered too (with connection: close), so 15 or 16 per worker.
        assert len(set(answered)) >= 6, answered
        assert max(answered.count(pid) for pid in set(answered)) <= 16
        assert set(answered) - first, answered
        assert "(--max-requests): restarting" in server.output()
        assert server.stop() == 0


@pytest.mark.timeout(90)
@pytest.mark.skipif(not HAVE_WRK, reason="wrk is not installed")
def test_hup_under_wrk_load_loses_no_request() -> None:
    with gunicorn_server() as server:
        old = server.wait_booted(2)
        with wrk(server.port) as result:
            time.sleep(1.0)
            server.signal(signal.SIGHUP)
        out = result[0]
        stats = parse_wrk(out)
        assert stats.requests > 100, out
        assert stats.socket_errors == 0, out
        assert stats.non_2xx == 0, out
        # The old workers drained and exited; two new ones serve.
        assert wait_until(lambda: not (server.workers() & old), 20), server.output()
        new = server.wait_booted(2)
        assert len(new) == 2 and not (new & old)
        assert get_pid(server.port) in new
        assert "Hang up" in server.output()


@pytest.mark.timeout(90)
@pytest.mark.skipif(not HAVE_WRK, reason="wrk is not installed")
def test_term_under_wrk_load_answers_every_request_and_exits_0() -> None:
    graceful = 10
    with gunicorn_server("--graceful-timeout", str(graceful)) as server:
        server.wait_booted(2)
        with wrk(server.port, "/slow?t=0.05") as result:
            time.sleep(1.0)
            server.signal(signal.SIGTERM)
            sent = time.monotonic()
            code = server.proc.wait(graceful + 10)
            took = time.monotonic() - sent
        out = result[0]
        stats = parse_wrk(out)
        errors = wrk_errors(out)
        assert code == 0, server.output()
        assert took < graceful, took
        assert stats.requests > 20 and stats.non_2xx == 0, out
        # Every request sent was answered: a connection closed or reset with a request in
        # flight is a "read" error in wrk, a request never answered a "timeout". wrk keeps
        # reconnecting until its 3 s are over, and once the arbiter has closed the listening
        # socket those connects are refused, which wrk counts as "write" (or "connect")
        # errors: they are not requests, and no server avoids them.
        assert (errors["read"], errors["timeout"]) == (0, 0), out
        assert "Application shutdown complete" in server.output()


@pytest.mark.timeout(60)
def test_term_finishes_requests_in_flight() -> None:
    with gunicorn_server("--graceful-timeout", "10") as server:
        server.wait_booted(2)
        clients = [RawClient(server.port, timeout=15) for _ in range(6)]
        try:
            for client in clients:
                client.send(b"GET /slow?t=1.5 HTTP/1.1\r\nHost: t\r\n\r\n")
            time.sleep(0.5)
            server.signal(signal.SIGTERM)
            for client in clients:
                resp = client.read_response()
                assert (resp.status, resp.body) == (200, b"slow done")
                assert resp.header("connection") == "close"
        finally:
            for client in clients:
                client.close()
        assert server.proc.wait(15) == 0


@pytest.mark.timeout(60)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGQUIT])
def test_int_and_quit_stop_at_once(sig: int) -> None:
    with gunicorn_server("--graceful-timeout", "20", workers=1) as server:
        server.wait_booted(1)
        with RawClient(server.port, timeout=15) as client:
            client.send(b"GET /slow?t=10 HTTP/1.1\r\nHost: t\r\n\r\n")
            time.sleep(0.5)
            sent = time.monotonic()
            server.signal(sig)
            server.proc.wait(15)
            # Not the 10 s of the request, nor the 20 s graceful timeout.
            assert time.monotonic() - sent < 5
            assert client.is_closed(timeout=2)


@pytest.mark.timeout(60)
def test_usr1_reopens_the_access_log(tmp_path: Path) -> None:
    access = tmp_path / "access.log"
    with gunicorn_server("--access-logfile", str(access), workers=1) as server:
        server.wait_booted(1)
        url = f"http://127.0.0.1:{server.port}"
        assert httpx.get(f"{url}/before", timeout=10).status_code == 200
        assert wait_until(lambda: "GET /before" in access.read_text(), 5)
        access.rename(tmp_path / "access.log.1")  # what logrotate does before sending USR1
        server.signal(signal.SIGUSR1)
        assert wait_until(access.exists, 10), server.output()
        assert httpx.get(f"{url}/after", timeout=10).status_code == 200
        assert wait_until(lambda: "GET /after" in access.read_text(), 5), server.output()
        assert "GET /after" not in (tmp_path / "access.log.1").read_text()


@pytest.mark.timeout(60)
def test_heartbeat_keeps_an_idle_worker_and_a_blocked_one_is_replaced() -> None:
    with gunicorn_server("--timeout", "2", workers=1) as server:
        (pid,) = server.wait_booted(1)
        # Idle for 3x --timeout: the tick's notify() keeps the arbiter from killing it.
        time.sleep(6)
        assert server.workers() == {pid}
        assert get_pid(server.port) == pid
        assert "WORKER TIMEOUT" not in server.output()
        # A loop blocked by the app stops the heartbeat: the arbiter replaces the worker.
        with RawClient(server.port, timeout=20) as client:
            client.send(b"GET /block?t=8 HTTP/1.1\r\nHost: t\r\n\r\n")
            assert wait_until(lambda: "WORKER TIMEOUT" in server.output(), 15), server.output()
        assert wait_until(lambda: bool(server.workers() - {pid}), 15), server.output()
        assert get_pid(server.port) != pid


@pytest.mark.timeout(60)
def test_bad_certificate_is_a_boot_error(tmp_path: Path) -> None:
    bad = tmp_path / "cert.pem"
    bad.write_text("not a certificate\n")
    with gunicorn_server("--certfile", str(bad), "--keyfile", str(bad), workers=1) as server:
        code = server.proc.wait(30)
        log = server.output()
        assert code == 3, log
        assert "Error: --certfile: cannot load certificate" in log
        assert "Traceback" not in log


@pytest.mark.timeout(60)
def test_failed_lifespan_startup_stops_gunicorn_with_code_3() -> None:
    with gunicorn_server(workers=1, app="lifespan_apps:failing_startup") as server:
        code = server.proc.wait(30)
        log = server.output()
        assert code == 3, log
        assert "Worker failed to boot" in log
