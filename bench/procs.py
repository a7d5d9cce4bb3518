"""Starting and stopping the servers under test, so that none outlives the bench.

Each server runs in its own session (process group), pinned with ``taskset``. Stopping sends
SIGTERM to the whole group (granian's worker is a child process), waits, then SIGKILLs it.
Every live server is also registered, and ``stop_all`` runs from ``finally``, ``atexit`` and the
SIGTERM handler, so Ctrl-C, an error or ``kill`` of the bench leaves nothing listening. If the
bench itself is SIGKILLed, PR_SET_PDEATHSIG makes the kernel send the server SIGTERM.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from .servers import HOST

PR_SET_PDEATHSIG = 1
STOP_GRACE_SECONDS = 5.0


class ServerStartError(RuntimeError):
    """A server exited or did not listen in time; the message names its log."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def raise_nofile_limit() -> int:
    """Raise this process's open-file limit to its hard limit (the idle test needs ~10k)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def _child_setup() -> None:
    # Runs in the child between fork and exec.
    raise_nofile_limit()
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def pinned(cpu: int, argv: list[str]) -> list[str]:
    return ["taskset", "-c", str(cpu), *argv]


class ServerProcess:
    """One running server. Use as a context manager, or call ``stop``."""

    _live: set[ServerProcess] = set()

    def __init__(
        self,
        name: str,
        *,
        argv: list[str],
        port: int,
        log_path: Path,
        env: Mapping[str, str],
        cpu: int = 0,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.port = port
        self.log_path = log_path
        self.argv = pinned(cpu, argv)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = log_path.open("wb")
        self._log.write(("$ " + " ".join(self.argv) + "\n").encode())
        self._log.flush()
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
            cwd=cwd,
            start_new_session=True,
            # The bench starts no threads, the one case where preexec_fn is unsafe.
            preexec_fn=_child_setup,  # noqa: PLW1509
        )
        ServerProcess._live.add(self)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, lines: int = 15) -> str:
        if not self._log.closed:
            self._log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join("    " + line for line in text[-lines:])

    def wait_listening(self, timeout: float = 20.0) -> None:
        """Return once the port accepts a connection; raise ServerStartError if the process
        exits first or the timeout passes (so a broken server never hangs the run)."""
        deadline = time.monotonic() + timeout
        while True:
            code = self.proc.poll()
            if code is not None:
                raise ServerStartError(
                    f"{self.name} exited with code {code} before listening on port {self.port};"
                    f" log {self.log_path}:\n{self.log_tail()}"
                )
            try:
                with socket.create_connection((HOST, self.port), timeout=0.5):
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                # The caller stops the server (start_server does, on any exception).
                raise ServerStartError(
                    f"{self.name} did not listen on port {self.port} within {timeout:.0f} s;"
                    f" log {self.log_path}:\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.proc.wait(STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                pass
        # Also after a clean exit of the leader: a worker child may still be alive.
        self._signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(STOP_GRACE_SECONDS)
        self._log.close()
        ServerProcess._live.discard(self)

    def _signal_group(self, sig: signal.Signals) -> None:
        # The server is the leader of its own session, so its pid is the process group id.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @classmethod
    def stop_all(cls) -> None:
        for server in list(cls._live):
            server.stop()


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name in field 2 may contain spaces; fields after its ')' are fixed.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found: list[int] = []
    todo = [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time used so far by a process tree (all threads of each process)."""
    ticks = 0
    for member in _descendants(pid):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            # Fields 14 and 15 of stat(5), utime and stime; the list starts at field 3.
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    """RSS of a process and all its descendants (granian serves from a child process)."""
    total = 0
    for member in _descendants(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return total


@contextlib.contextmanager
def stopped_on_exit() -> Iterator[None]:
    """Stop every server on leaving the block, however it is left; turn SIGTERM into an exit
    that runs the ``finally`` clauses."""

    def on_sigterm(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        ServerProcess.stop_all()
        signal.signal(signal.SIGTERM, previous)
