"""h2c smuggling through a real nginx (issue 13).

nginx proxies to pounce with ``proxy_set_header Connection $http_connection`` (a common
WebSocket setup) and denies ``/admin`` with 403. The attacker sends ``GET /`` with
``Upgrade: h2c`` through nginx; if pounce answered 101, nginx would turn the connection into a
tunnel and the attacker would ask pounce for ``/admin`` over HTTP/2, past nginx's rule.

- Default settings: no 101 (a plain HTTP/1.1 200), and ``/admin`` gets only nginx's 403.
- ``--h2c-upgrade --forwarded-allow-ips 127.0.0.1`` with nginx adding ``X-Forwarded-For``:
  refused the same way (a request that came through a proxy is not upgraded).
- ``--h2c-upgrade`` behind an nginx that adds no proxy header: the smuggle works. That test
  shows the risk the option documents; it is not a behaviour anyone should rely on.

nginx (Debian package ``nginx``) runs in the foreground as the test's user, with every path
in a temporary directory. Without it the tests skip, except when ``CI`` is set: then they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import h2.config
import h2.connection
import pytest

from tests.h2support import h2c_upgrade
from tests.support import PounceProcess, RawClient

pytestmark = pytest.mark.timeout(60)

NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
)

DENIED_BODY = b"denied by nginx"

CONF = """\
daemon off;
master_process off;
pid {dir}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location /admin {{
            default_type text/plain;
            return 403 "{denied}";
        }}
        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $http_connection;
{extra}
        }}
    }}
}}
"""


@dataclass
class Nginx:
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGQUIT)  # nginx: graceful stop
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[Callable[..., Nginx]]:
    """Start an nginx in front of a pounce port: ``nginx(upstream_port, extra_directives)``."""
    if NGINX is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is not installed (CI must have it: apt-get install nginx)")
        pytest.skip("nginx is not installed (Debian package nginx)")
    started: list[subprocess.Popen[bytes]] = []

    def start(upstream: int, extra: str = "") -> Nginx:
        for attempt in range(3):  # the free port may be taken before nginx binds it
            port = _free_port()
            conf = tmp_path / "nginx.conf"
            conf.write_text(
                CONF.format(
                    dir=tmp_path,
                    port=port,
                    upstream=upstream,
                    denied=DENIED_BODY.decode(),
                    extra=extra,
                )
            )
            log = tmp_path / f"nginx-{attempt}.log"
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    [NGINX, "-p", str(tmp_path), "-c", str(conf), "-e", "stderr"],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            started.append(proc)
            if _wait_listening(port, proc):
                return Nginx(port, proc, log)
            _stop(proc)
        raise AssertionError(f"nginx did not start: {log.read_text(errors='replace')}")

    yield start
    for proc in started:
        _stop(proc)


@pytest.fixture
def upstream() -> Iterator[Callable[..., PounceProcess]]:
    """pounce serving the scope app (every path, /admin included, answers 200 with its scope)."""
    started: list[PounceProcess] = []

    def start(*args: str) -> PounceProcess:
        proc = PounceProcess("scope_app:app", "--no-access-log", *args)
        started.append(proc)
        return proc.wait_ready()

    yield start
    for proc in started:
        proc.stop()


def attack(port: int) -> tuple[int, int, bytes]:
    """The smuggling attempt through the proxy on ``port``: (status of the upgrade request,
    status of /admin, /admin's body). /admin is asked over HTTP/2 on the tunnel after a 101,
    else as HTTP/1.1 on the same connection to the proxy."""
    with h2c_upgrade(port, "/", host="localhost") as attempt:
        if attempt.switched:
            first = attempt.h2.response(1)
            assert first.status == 200
            admin = attempt.h2.get("/admin")
            return 101, admin.status, bytes(admin.body)
        assert attempt.response.status == 200, attempt.response
        assert json.loads(attempt.response.body)["http_version"] == "1.1"
    with RawClient(port) as raw:  # nginx may have closed the first connection: a new one
        raw.send(b"GET /admin HTTP/1.1\r\nHost: localhost\r\n\r\n")
        admin_response = raw.read_response()
    return attempt.response.status, admin_response.status, admin_response.body


def test_default_refuses_the_smuggle(nginx, upstream):
    app = upstream()
    proxy = nginx(app.port)
    upgrade_status, admin_status, admin_body = attack(proxy.port)
    assert upgrade_status == 200  # no 101: answered as plain HTTP/1.1
    assert (admin_status, admin_body) == (403, DENIED_BODY)


def test_default_ignores_a_preface_sent_blindly_behind_the_upgrade(nginx, upstream):
    """An attacker who does not wait for the 101 sends the upgrade request, the HTTP/2 preface
    and a request for /admin in one write: nginx reads the preface as a next HTTP/1.1
    request (its own 400), and nothing reaches the app but the first request."""
    app = upstream()
    proxy = nginx(app.port)
    client = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=True, header_encoding=None)
    )
    settings = client.initiate_upgrade_connection().decode("ascii")
    admin = [(b":method", b"GET"), (b":path", b"/admin"), (b":scheme", b"http")]
    client.send_headers(3, [*admin, (b":authority", b"localhost")], end_stream=True)
    request = (
        "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade, HTTP2-Settings\r\n"
        f"Upgrade: h2c\r\nHTTP2-Settings: {settings}\r\n\r\n"
    ).encode("ascii")
    with RawClient(proxy.port, timeout=10) as raw:
        raw.send(request + client.data_to_send())
        first = raw.read_response()
        try:
            rest = raw.read_all()  # nginx closes after its 400
        except ConnectionResetError:
            rest = raw.buf
    assert first.status == 200 and json.loads(first.body)["path"] == "/"
    assert rest.startswith(b"HTTP/1.1 400 "), rest[:200]
    assert b"http_version" not in rest  # nothing from the app


def test_h2c_upgrade_refused_behind_a_trusted_proxy(nginx, upstream):
    app = upstream("--h2c-upgrade", "--forwarded-allow-ips", "127.0.0.1")
    proxy = nginx(
        app.port, "            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;"
    )
    upgrade_status, admin_status, admin_body = attack(proxy.port)
    assert upgrade_status == 200
    assert (admin_status, admin_body) == (403, DENIED_BODY)


def test_h2c_upgrade_refused_behind_an_untrusted_proxy(nginx, upstream):
    """nginx not in --forwarded-allow-ips: its X-Real-IP is not believed, but still refuses."""
    app = upstream("--h2c-upgrade", "--forwarded-allow-ips", "10.9.9.9")
    proxy = nginx(app.port, "            proxy_set_header X-Real-IP $remote_addr;")
    upgrade_status, admin_status, admin_body = attack(proxy.port)
    assert upgrade_status == 200
    assert (admin_status, admin_body) == (403, DENIED_BODY)


def test_risk_of_the_opt_in_smuggle_past_a_proxy_that_adds_no_proxy_header(nginx, upstream):
    """DEMONSTRATES THE RISK of --h2c-upgrade, not a feature: behind an nginx that forwards
    Upgrade and Connection and adds no proxy header, pounce cannot tell nginx from a client,
    answers 101, and /admin, denied by nginx, is served by the app over the tunnel."""
    app = upstream("--h2c-upgrade")
    proxy = nginx(app.port)
    upgrade_status, admin_status, admin_body = attack(proxy.port)
    assert upgrade_status == 101
    assert admin_status == 200
    scope = json.loads(admin_body)
    assert scope["path"] == "/admin" and scope["http_version"] == "2"
