"""The systemd protocols' parsing and messages (sd_listen_fds(3), sd_notify(3),
sd_watchdog_enabled(3)), without processes (tests/integration/test_systemd.py runs them for
real)."""

from __future__ import annotations

import os
import socket

import pytest

from pounce.config import Config
from pounce.errors import ConfigError
from pounce.sd_notify import Notifier
from pounce.socket_activation import activated_sockets, listen_fds
from pounce.sockets import adopt_socket

pytestmark = pytest.mark.timeout(10)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "LISTEN_PID",
        "LISTEN_FDS",
        "LISTEN_FDNAMES",
        "NOTIFY_SOCKET",
        "WATCHDOG_USEC",
        "WATCHDOG_PID",
    ):
        monkeypatch.delenv(name, raising=False)


# sd_listen_fds(3) -----------------------------------------------------------------------------


def test_listen_fds_for_this_pid(monkeypatch):
    monkeypatch.setenv("LISTEN_PID", str(os.getpid()))
    monkeypatch.setenv("LISTEN_FDS", "3")
    monkeypatch.setenv("LISTEN_FDNAMES", "a:b:c")
    assert listen_fds() == [3, 4, 5]
    # Unset, as sd_listen_fds(unset_environment=1): no child reads them again.
    assert not {"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} & set(os.environ)
    assert listen_fds() == []


def test_listen_fds_for_another_pid_or_none(monkeypatch):
    monkeypatch.setenv("LISTEN_PID", str(os.getpid() + 1))
    monkeypatch.setenv("LISTEN_FDS", "2")
    assert listen_fds() == []
    assert "LISTEN_FDS" not in os.environ
    monkeypatch.setenv("LISTEN_FDS", "2")  # no LISTEN_PID: not activated
    assert listen_fds() == []
    monkeypatch.setenv("LISTEN_PID", str(os.getpid()))
    monkeypatch.setenv("LISTEN_FDS", "0")
    assert listen_fds() == []


@pytest.mark.parametrize(
    ("pid", "fds", "message"),
    [
        ("me", "abc", "$LISTEN_FDS: 'abc' is not a non-negative integer"),
        ("me", "-1", "$LISTEN_FDS: '-1'"),
        ("x1", "1", "$LISTEN_PID: 'x1' is not a non-negative integer"),
    ],
)
def test_malformed_variables_name_themselves(monkeypatch, pid, fds, message):
    monkeypatch.setenv("LISTEN_PID", str(os.getpid()) if pid == "me" else pid)
    monkeypatch.setenv("LISTEN_FDS", fds)
    with pytest.raises(ConfigError, match=message.replace("$", r"\$")):
        listen_fds()


def test_activation_refuses_uds_fd_and_reuse_port(monkeypatch):
    for options, name in (
        ({"uds": "/tmp/x.sock"}, "--uds"),
        ({"fd": 7}, "--fd"),
        ({"reuse_port": True}, "--reuse-port"),
    ):
        monkeypatch.setenv("LISTEN_PID", str(os.getpid()))
        monkeypatch.setenv("LISTEN_FDS", "1")
        config = Config(app="x:y", **options)  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match=f"systemd passed 1 socket\\(s\\); {name} cannot"):
            activated_sockets(config)


def test_activated_datagram_socket_is_refused():
    # A .socket unit with ListenDatagram= passed to pounce: a clear error naming the variable,
    # and the fd is left open (it is systemd's).
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as dgram:
        fd = dgram.fileno()
        with pytest.raises(ConfigError, match=rf"\$LISTEN_FDS: {fd} is not a stream socket"):
            adopt_socket(fd, Config(app="x:y"), "$LISTEN_FDS")
        assert dgram.fileno() == fd
        os.fstat(fd)  # still open


# sd_notify(3) ---------------------------------------------------------------------------------


def test_no_notify_socket_no_notifier():
    assert Notifier.from_environment() is None


def test_notifier_sends_to_a_path_and_unsets_the_variables(monkeypatch, tmp_path):
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as rec:
        rec.bind(path)
        monkeypatch.setenv("NOTIFY_SOCKET", path)
        monkeypatch.setenv("WATCHDOG_USEC", "3000000")
        notifier = Notifier.from_environment()
        assert notifier is not None
        assert not {"NOTIFY_SOCKET", "WATCHDOG_USEC"} & set(os.environ)
        assert notifier.watchdog_interval == 1.5
        notifier.ready("Serving")
        assert rec.recv(1024) == f"READY=1\nSTATUS=Serving\nMAINPID={os.getpid()}".encode()
        notifier.watchdog(100.0)
        notifier.watchdog(101.0)  # within half the timeout of the last one: nothing
        notifier.watchdog(101.5)
        assert rec.recv(1024) == b"WATCHDOG=1"
        assert rec.recv(1024) == b"WATCHDOG=1"
        rec.setblocking(False)
        with pytest.raises(BlockingIOError):
            rec.recv(1024)
        notifier.stopping("Bye")
        assert rec.recv(1024) == b"STOPPING=1\nSTATUS=Bye"
        notifier.close()


def test_notifier_abstract_socket(monkeypatch):
    name = f"pounce-unit-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as rec:
        rec.bind(b"\0" + name.encode())
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        notifier = Notifier.from_environment()
        assert notifier is not None
        assert notifier.watchdog_interval == 0
        notifier.reloading("HUP")
        message = rec.recv(1024).decode().split("\n")
        assert message[:2] == ["RELOADING=1", "STATUS=HUP"]
        assert message[2].startswith("MONOTONIC_USEC=")
        notifier.close()


def test_watchdog_of_another_pid_is_not_ours(monkeypatch, tmp_path):
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "n.sock"))
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")
    monkeypatch.setenv("WATCHDOG_PID", "1")
    notifier = Notifier.from_environment()
    assert notifier is not None and notifier.watchdog_interval == 0
    notifier.close()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("NOTIFY_SOCKET", "relative.sock", r"\$NOTIFY_SOCKET: 'relative.sock'"),
        ("WATCHDOG_USEC", "soon", r"\$WATCHDOG_USEC: 'soon' is not a number of microseconds"),
    ],
)
def test_malformed_notify_variables_name_themselves(monkeypatch, tmp_path, name, value, message):
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "n.sock"))
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message):
        Notifier.from_environment()


def test_unreachable_notify_socket_is_logged_once(tmp_path, caplog):
    notifier = Notifier(str(tmp_path / "nobody.sock"))
    notifier.ready("x")
    notifier.stopping("y")
    notes = [r for r in caplog.records if "Cannot notify systemd" in r.getMessage()]
    assert len(notes) == 1
    notifier.close()
