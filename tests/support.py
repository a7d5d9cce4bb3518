"""Helpers for tests that run a real pounce process and talk to it over real sockets."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = Path(__file__).resolve().parent / "apps"


class PounceProcess:
    """``python -m pounce`` on a socket bound here and handed over with ``--fd``.

    Binding in the test avoids port races; the test's copy of the socket is closed once the
    child has it, so a dead server refuses connections instead of leaving them hanging.
    """

    def __init__(
        self,
        app: str,
        *args: str,
        env: dict[str, str] | None = None,
        use_fd: bool = True,
        app_dir: Path = APPS,
        cwd: Path | None = None,
    ) -> None:
        self.app = app
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in stop()
            prefix="pounce-", suffix=".log", delete=False
        )
        cmd = [sys.executable, "-m", "pounce", "--app-dir", str(app_dir)]
        pass_fds: tuple[int, ...] = ()
        self.sock: socket.socket | None = None
        self.port = 0
        if use_fd:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.bind(("127.0.0.1", 0))
            self.sock.listen(1024)
            self.port = self.sock.getsockname()[1]
            cmd += ["--fd", str(self.sock.fileno())]
            pass_fds = (self.sock.fileno(),)
        cmd += [*args, app] if app else list(args)  # no app: from $POUNCE_APP/$UVICORN_APP
        child_env = dict(os.environ)
        child_env["PYTHONUNBUFFERED"] = "1"
        child_env.setdefault("PYTHONPATH", str(ROOT))
        if env:
            child_env.update(env)
        self.cmd = cmd
        self.proc = subprocess.Popen(
            cmd,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            pass_fds=pass_fds,
            env=child_env,
            cwd=str(cwd or ROOT),
        )
        if self.sock is not None:
            self.sock.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"pounce exited with {self.proc.returncode} before {text!r}:\n{self.output()}"
                )
            time.sleep(0.02)
        raise TimeoutError(f"no {text!r} in the log after {timeout}s:\n{self.output()}")

    def wait_ready(self, timeout: float = 15.0) -> PounceProcess:
        self.wait_for_log("running on", timeout)
        return self

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout: float = 15.0) -> int:
        return self.proc.wait(timeout)

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, wait; SIGKILL if it will not go."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()
        return self.proc.returncode


def run_pounce(
    *args: str, timeout: float = 15.0, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the CLI to completion (for option errors and --version)."""
    child_env = dict(os.environ)
    child_env.setdefault("PYTHONPATH", str(ROOT))
    if env:
        child_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "pounce", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=child_env,
        cwd=str(cwd or ROOT),
    )


# A minimal HTTP/1.1 client for raw-socket tests ----------------------------------------------


@dataclass
class Response:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    raw_head: bytes = b""
    chunked: bool = False
    trailers: list[tuple[str, str]] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def header_all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


class RawClient:
    """Send raw bytes, read responses one at a time, observe the connection closing."""

    def __init__(self, port: int, timeout: float = 5.0, host: str = "127.0.0.1") -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        if not chunk:
            return False
        self.buf += chunk
        return True

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self.buf:
            if not self._fill():
                raise EOFError(f"connection closed before {marker!r}; have {self.buf[:200]!r}")
        idx = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:idx], self.buf[idx:]
        return out

    def _read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise EOFError(f"connection closed after {len(self.buf)} of {n} bytes")
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_response(self, head_request: bool = False) -> Response:
        head = self._read_until(b"\r\n\r\n")
        lines = head[:-4].split(b"\r\n")
        version, status, *reason = lines[0].split(b" ", 2)
        assert version == b"HTTP/1.1", lines[0]
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers.append((name.decode("latin-1"), value.strip().decode("latin-1")))
        resp = Response(int(status), (reason[0] if reason else b"").decode(), headers, b"", head)
        code = resp.status
        if head_request or code in (204, 304) or 100 <= code < 200:
            return resp
        te = resp.header("transfer-encoding")
        cl = resp.header("content-length")
        if te and "chunked" in te.lower():
            resp.chunked = True
            body = []
            while True:
                size_line = self._read_until(b"\r\n")
                size = int(size_line.split(b";")[0], 16)
                if size == 0:
                    while True:
                        line = self._read_until(b"\r\n")
                        if line == b"\r\n":
                            break
                        n, _, v = line.partition(b":")
                        resp.trailers.append((n.decode(), v.strip().decode()))
                    break
                body.append(self._read_exact(size))
                assert self._read_exact(2) == b"\r\n"
            resp.body = b"".join(body)
        elif cl is not None:
            resp.body = self._read_exact(int(cl))
        else:
            while self._fill():
                pass
            resp.body, self.buf = self.buf, b""
        return resp

    def read_all(self) -> bytes:
        """Everything until the server closes the connection."""
        while self._fill():
            pass
        out, self.buf = self.buf, b""
        return out

    def is_closed(self, timeout: float = 2.0) -> bool:
        """True if the server closes the connection (EOF or reset) within ``timeout``."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True


def request(port: int, data: bytes, timeout: float = 5.0) -> Response:
    with RawClient(port, timeout) as client:
        client.send(data)
        return client.read_response()


def get(path: str = "/", host: bytes = b"test") -> bytes:
    return b"GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path.encode(), host)
