"""systemd: socket activation through Debian's ``systemd-socket-activate`` (sd_listen_fds(3)),
and sd_notify(3) messages received on a UNIX datagram socket the test binds, as systemd would.

``systemd-socket-activate`` binds the sockets, waits for the first connection, then execs
pounce with ``LISTEN_FDS``/``LISTEN_PID`` set: the pid it started is pounce's own, which the
tests stop by that pid. Every test has a timeout; waits are generous (2 shared cores).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import APPS, ROOT, PounceProcess, RawClient, run_pounce

pytestmark = pytest.mark.timeout(60)

APP = "service_app:app"
QUIET = ("--no-access-log",)
ACTIVATE = shutil.which("systemd-socket-activate")
needs_activate = pytest.mark.skipif(
    ACTIVATE is None and not os.environ.get("CI"),
    reason="systemd-socket-activate (Debian's systemd package) is not installed",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Activated(PounceProcess):
    """pounce run by ``systemd-socket-activate -l ADDRESS...``; its log in a temporary file
    (``output()``), stopped by its pid (``stop()``), as a ``PounceProcess``."""

    def __init__(self, listen: list[str], *args: str) -> None:
        assert ACTIVATE is not None, "systemd-socket-activate is missing"
        self.sock, self.port = None, 0  # no --fd: systemd-socket-activate binds
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in stop()
            prefix="pounce-sd-", suffix=".log", delete=False
        )
        cmd = [ACTIVATE]
        for address in listen:
            cmd += ["-l", address]
        # systemd-socket-activate gives the daemon only the variables named with -E.
        env = {"PYTHONUNBUFFERED": "1", "PYTHONPATH": os.environ.get("PYTHONPATH", str(ROOT))}
        for name in ("PATH", "HOME", "POUNCE_NO_EXTENSIONS", "POUNCE_H2_CORE"):
            if name in os.environ:
                env[name] = os.environ[name]
        for name, value in env.items():
            cmd += ["-E", f"{name}={value}"]
        cmd += [sys.executable, "-m", "pounce", "--app-dir", str(APPS), *QUIET, *args, APP]
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, cwd=str(ROOT))


@pytest.fixture
def activate() -> Iterator[type[Activated]]:
    started: list[Activated] = []

    class Tracked(Activated):
        def __init__(self, listen: list[str], *args: str) -> None:
            super().__init__(listen, *args)
            started.append(self)

    yield Tracked
    for proc in started:
        proc.stop()


Address = tuple[socket.AddressFamily, object]


def tcp(port: int) -> Address:
    return socket.AF_INET, ("127.0.0.1", port)


def unix(path: Path) -> Address:
    return socket.AF_UNIX, str(path)


def connect(where: Address) -> socket.socket:
    """A connection to ``where``, retried until systemd-socket-activate has bound it."""
    family, address = where
    deadline = time.monotonic() + 20
    while True:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(20)
            sock.connect(address)  # type: ignore[arg-type]  # a (host, port) or a path
            return sock
        except OSError:
            sock.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def get_over(where: Address, path: str) -> tuple[int, bytes]:
    """GET ``path`` on a new connection (``Connection: close``): status and body. Waits up to
    20 s for the answer, since the first connection is what makes systemd-socket-activate
    start pounce."""
    with connect(where) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


# Socket activation --------------------------------------------------------------------------


@needs_activate
def test_one_activated_socket_single_process(activate):
    port = free_port()
    proc = activate([f"127.0.0.1:{port}"])
    status, body = get_over(tcp(port), "/pid")
    assert status == 200
    assert int(body) == proc.proc.pid  # exec'd in place: the pid systemd started serves
    for _ in range(3):
        assert get_over(tcp(port), "/")[0] == 200
    # The variables are for this process only: unset before the app runs (sd_listen_fds(3)).
    assert get_over(tcp(port), "/env?name=LISTEN_FDS") == (200, b"-")
    assert get_over(tcp(port), "/env?name=LISTEN_PID") == (200, b"-")
    out = proc.output()
    assert "Serving 1 socket passed by systemd ($LISTEN_FDS: fd 3)" in out
    assert f"http://127.0.0.1:{port}" in out
    assert proc.stop() == 0


@needs_activate
def test_two_tcp_sockets_and_a_unix_socket_with_two_workers(activate, tmp_path):
    port1, port2 = free_port(), free_port()
    path = tmp_path / "activated.sock"
    proc = activate([f"127.0.0.1:{port1}", f"127.0.0.1:{port2}", str(path)], "--workers", "2")
    pids: set[int] = set()
    deadline = time.monotonic() + 20
    while len(pids) < 2 and time.monotonic() < deadline:
        for where in (tcp(port1), tcp(port2), unix(path)):
            status, body = get_over(where, "/pid")
            assert status == 200
            pids.add(int(body))
    assert len(pids) == 2, proc.output()  # both workers serve the activated sockets
    assert proc.proc.pid not in pids  # the supervisor (the pid systemd started) does not
    for where in (tcp(port1), tcp(port2), unix(path)):
        assert get_over(where, "/env?name=LISTEN_FDS") == (200, b"-")
    out = proc.output()
    assert "Serving 3 sockets passed by systemd ($LISTEN_FDS: fd 3, 4, 5)" in out
    assert f"unix socket {path}" in out
    assert "2 workers ready" in out
    assert proc.stop() == 0
    assert path.exists()  # systemd's socket: not pounce's to remove


@needs_activate
def test_activated_socket_kept_across_reloads(activate, tmp_path):
    # The reloader holds systemd's socket and hands it to each new child.
    port = free_port()
    proc = activate([f"127.0.0.1:{port}"], "--reload", "--reload-dir", str(tmp_path))
    first = int(get_over(tcp(port), "/pid")[1])
    (tmp_path / "changed.py").write_text("x = 1\n")
    deadline = time.monotonic() + 20
    second = first
    while second == first and time.monotonic() < deadline:
        time.sleep(0.2)
        status, body = get_over(tcp(port), "/pid")
        assert status == 200  # requests made during the restart wait in systemd's socket
        second = int(body)
    assert second != first, proc.output()
    assert "--reload: $NOTIFY_SOCKET" not in proc.output()  # no NOTIFY_SOCKET given here
    assert proc.stop() == 0


@needs_activate
def test_activation_with_uds_is_a_usage_error(activate, tmp_path):
    port = free_port()
    proc = activate([f"127.0.0.1:{port}"], "--uds", str(tmp_path / "x.sock"))
    connect(tcp(port)).close()  # the first connection starts pounce
    assert proc.proc.wait(20) == 2
    lines = [line for line in proc.output().splitlines() if line.strip()]
    assert lines[-1].startswith("Error: $LISTEN_FDS: systemd passed 1 socket(s); --uds"), lines
    assert "Traceback" not in proc.output()


def test_malformed_listen_fds_is_a_one_line_error():
    # LISTEN_PID must be pounce's own pid for LISTEN_FDS to be read: the shell's, kept by exec.
    cmd = 'export LISTEN_PID=$$ LISTEN_FDS=abc; exec "$0" -m pounce --app-dir "$1" service_app:app'
    env = dict(os.environ, PYTHONPATH=os.environ.get("PYTHONPATH", str(ROOT)))
    result = subprocess.run(
        ["sh", "-c", cmd, sys.executable, str(APPS)],
        capture_output=True,
        text=True,
        timeout=15,
        env=env,
        cwd=str(ROOT),
        check=False,
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == ["Error: $LISTEN_FDS: 'abc' is not a non-negative integer (sd_listen_fds(3))"]


def test_listen_fds_for_another_pid_is_ignored(pounce_server):
    # As sd_listen_fds(3): the variables were meant for another process (LISTEN_PID=1).
    proc = pounce_server(APP, *QUIET, env={"LISTEN_PID": "1", "LISTEN_FDS": "1"})
    with RawClient(proc.port) as client:
        client.send(b"GET /env?name=LISTEN_FDS HTTP/1.1\r\nHost: t\r\n\r\n")
        resp = client.read_response()
    assert (resp.status, resp.body) == (200, b"-")
    assert "passed by systemd" not in proc.output()


# sd_notify ----------------------------------------------------------------------------------


class NotifyReceiver:
    """The service manager's end of ``$NOTIFY_SOCKET``: a UNIX datagram socket."""

    def __init__(self, address: str | bytes) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.messages: list[dict[str, str]] = []

    def receive(self, timeout: float) -> dict[str, str] | None:
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096)
        except TimeoutError:
            return None
        message = dict(line.split("=", 1) for line in data.decode().split("\n"))
        self.messages.append(message)
        return message

    def wait_for(self, key: str, timeout: float = 20.0) -> dict[str, str]:
        """The next message with ``key`` (WATCHDOG=1 messages in between are kept too)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self.receive(deadline - time.monotonic())
            if message is not None and key in message:
                return message
        raise TimeoutError(f"no {key} after {timeout}s; got {self.messages}")

    def kinds(self) -> list[str]:
        """The messages in order, by their state keyword (WATCHDOG=1 left out)."""
        found = []
        for message in self.messages:
            for key in ("READY", "RELOADING", "STOPPING"):
                if key in message:
                    found.append(key)
        return found

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def receiver(tmp_path) -> Iterator[tuple[NotifyReceiver, str]]:
    path = tmp_path / "notify.sock"
    rec = NotifyReceiver(str(path))
    try:
        yield rec, str(path)
    finally:
        rec.close()


def test_sd_notify_single_process_ready_then_stopping(pounce_server, receiver):
    rec, path = receiver
    proc = pounce_server(APP, *QUIET, env={"NOTIFY_SOCKET": path})
    ready = rec.wait_for("READY")
    assert ready["READY"] == "1"
    assert ready["MAINPID"] == str(proc.proc.pid)
    assert ready["STATUS"] == f"Serving on http://127.0.0.1:{proc.port}"
    with RawClient(proc.port) as client:
        client.send(b"GET /env?name=NOTIFY_SOCKET HTTP/1.1\r\nHost: t\r\n\r\n")
        assert client.read_response().body == b"-"  # unset: the app cannot notify by mistake
    proc.signal(signal.SIGTERM)
    stopping = rec.wait_for("STOPPING")
    assert stopping["STOPPING"] == "1"
    assert proc.wait() == 0
    assert rec.kinds() == ["READY", "STOPPING"]


def test_sd_notify_supervisor_ready_reloading_ready_stopping(pounce_server, receiver):
    rec, path = receiver
    proc = pounce_server(APP, "--workers", "2", *QUIET, env={"NOTIFY_SOCKET": path})
    ready = rec.wait_for("READY")
    # Sent once both workers serve, by the supervisor (the process systemd started).
    assert "2 workers ready" in proc.output()
    assert ready["MAINPID"] == str(proc.proc.pid)
    assert ready["STATUS"] == f"2 workers serving on http://127.0.0.1:{proc.port}"
    proc.signal(signal.SIGHUP)
    reloading = rec.wait_for("RELOADING")
    assert int(reloading["MONOTONIC_USEC"]) > 0
    again = rec.wait_for("READY", timeout=30)  # the rolling restart is done
    assert again["STATUS"].startswith("2 workers serving")
    assert proc.output().count("ready in") == 4
    with RawClient(proc.port) as client:
        client.send(b"GET /env?name=NOTIFY_SOCKET HTTP/1.1\r\nHost: t\r\n\r\n")
        assert client.read_response().body == b"-"  # workers never notify
    proc.signal(signal.SIGTERM)
    rec.wait_for("STOPPING")
    assert proc.wait() == 0
    assert rec.kinds() == ["READY", "RELOADING", "READY", "STOPPING"]


def test_sd_notify_abstract_socket_and_watchdog(pounce_server):
    name = f"pounce-test-{uuid.uuid4().hex}"
    rec = NotifyReceiver(b"\0" + name.encode())
    try:
        # WatchdogSec=0.4s: WATCHDOG=1 every 0.2 s, from the supervisor's loop.
        env = {"NOTIFY_SOCKET": f"@{name}", "WATCHDOG_USEC": "400000"}
        proc = pounce_server(APP, "--workers", "2", *QUIET, env=env)
        rec.wait_for("READY")
        start = time.monotonic()
        beats = 0
        while time.monotonic() - start < 2.0:
            message = rec.receive(1.0)
            if message is not None and message.get("WATCHDOG") == "1":
                beats += 1
        assert beats >= 5, rec.messages  # about 10 expected; a busy machine may delay some
        proc.signal(signal.SIGTERM)
        rec.wait_for("STOPPING")
        assert proc.wait() == 0
    finally:
        rec.close()


def test_sd_notify_watchdog_for_another_pid_is_not_ours(pounce_server, receiver):
    rec, path = receiver
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000", "WATCHDOG_PID": "1"}
    proc = pounce_server(APP, *QUIET, env=env)
    rec.wait_for("READY")
    time.sleep(1.0)
    while rec.receive(0.1) is not None:
        pass
    assert not any("WATCHDOG" in m for m in rec.messages), rec.messages
    proc.stop()


def test_sd_notify_bad_socket_address_is_a_one_line_error():
    result = run_pounce("--app-dir", str(APPS), APP, env={"NOTIFY_SOCKET": "relative.sock"})
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: $NOTIFY_SOCKET: 'relative.sock'")


def test_sd_notify_unreachable_socket_does_not_stop_the_server(pounce_server, tmp_path):
    gone = str(tmp_path / "nobody-listens.sock")
    proc = pounce_server(APP, *QUIET, env={"NOTIFY_SOCKET": gone})
    with RawClient(proc.port) as client:
        client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        assert client.read_response().status == 200
    assert "Cannot notify systemd at $NOTIFY_SOCKET" in proc.output()
    assert proc.stop() == 0
