"""The Server API as uvicorn 0.55's (issue 14, point 2), and ``--loop none|MODULE:FACTORY``.

Servers run either in a thread of this process (``Server.run()`` and ``serve()`` are meant to
be embedded; signals are not handled off the main thread) or in a real subprocess that embeds
``pounce.Server`` (for signal handling), and are always reached over real sockets.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect as ws_connect

import pounce
from pounce.config import Config
from tests.support import APPS, ROOT, PounceProcess, RawClient, get, request

sys.path.insert(0, str(APPS))
import server_api_apps

ASYNCIO_LOOP = "_UnixSelectorEventLoop"  # what asyncio.new_event_loop() makes on Linux
ServerThread = tuple[pounce.Server, threading.Thread, dict[str, Any]]


def server_config(**options: Any) -> Config:
    options.setdefault("app", server_api_apps.slow_app)
    return Config(port=0, access_log=False, log_level="warning", **options)


@pytest.fixture
def run_in_thread() -> Iterator[Callable[[Config], ServerThread]]:
    """``Server(config).run()`` in a thread; each one is force-stopped after the test."""
    started: list[ServerThread] = []

    def start(config: Config) -> ServerThread:
        server = pounce.Server(config)
        result: dict[str, Any] = {}

        def target() -> None:
            try:
                result["code"] = server.run()
            except BaseException as exc:  # reported by the test, not lost in the thread
                result["error"] = exc

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started and "error" not in result and thread.is_alive():
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.01)
        started.append((server, thread, result))
        return server, thread, result

    yield start
    for server, thread, _ in started:
        server.should_exit = server.force_exit = True
        thread.join(5)
        assert not thread.is_alive()


def port_of(server: pounce.Server) -> int:
    return int(server.sockets[0].getsockname()[1])


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


# should_exit / force_exit / started ------------------------------------------------------------


@pytest.mark.parametrize("loop", ["asyncio", "auto"])
def test_should_exit_from_another_thread_stops_run(run_in_thread, loop):
    server, thread, result = run_in_thread(server_config(loop=loop))
    assert server.started
    port = port_of(server)
    assert httpx.get(f"http://127.0.0.1:{port}/", timeout=5).text == "ok"
    asked = time.monotonic()
    server.should_exit = True
    thread.join(3)
    took = time.monotonic() - asked
    assert not thread.is_alive(), "run() still running 3 s after should_exit = True"
    # Seen on the next tick (at most 1 s with the default timeouts), then a graceful shutdown
    # with no connection open.
    assert took < 1.5, took
    assert result == {"code": 0}
    assert refused(port)


def test_force_exit_alone_stops_run_without_lifespan_shutdown(run_in_thread, tmp_path, monkeypatch):
    marker = tmp_path / "shutdown"
    monkeypatch.setenv("SHUTDOWN_MARKER", str(marker))
    server, thread, result = run_in_thread(server_config())
    server.force_exit = True
    thread.join(3)
    assert not thread.is_alive()
    assert result == {"code": 0}
    assert not marker.exists()


def test_force_exit_ends_a_graceful_shutdown(run_in_thread, tmp_path, monkeypatch):
    marker = tmp_path / "shutdown"
    monkeypatch.setenv("SHUTDOWN_MARKER", str(marker))
    server, thread, result = run_in_thread(server_config())
    with RawClient(port_of(server), timeout=10) as slow:
        slow.send(get("/slow"))
        deadline = time.monotonic() + 5
        while server.is_idle():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        server.should_exit = True
        thread.join(1.5)
        assert thread.is_alive(), "the graceful shutdown did not wait for the request"
        asked = time.monotonic()
        server.force_exit = True
        thread.join(3)
        assert not thread.is_alive()
        assert time.monotonic() - asked < 1.0
        assert slow.is_closed(2)
    assert result == {"code": 0}
    # force_exit skips lifespan shutdown, as uvicorn's.
    assert not marker.exists()


def test_startup_main_loop_shutdown_called_one_by_one(tmp_path, monkeypatch):
    marker = tmp_path / "shutdown"
    monkeypatch.setenv("SHUTDOWN_MARKER", str(marker))

    async def main() -> int:
        server = pounce.Server(server_config())
        assert not server.started
        await server.startup()
        assert server.started
        port = port_of(server)
        main_loop = asyncio.create_task(server.main_loop())
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert response.text == "ok"
        await asyncio.sleep(0.2)
        assert not main_loop.done()
        server.should_exit = True
        await asyncio.wait_for(main_loop, 1.5)
        assert not marker.exists()
        await server.shutdown()
        assert marker.read_text() == "shutdown ran"
        return port

    port = asyncio.run(main())
    assert refused(port)


@pytest.mark.parametrize("http", ["httptools", "h11"])
def test_limit_max_requests_ends_serve(run_in_thread, http):
    server, thread, result = run_in_thread(server_config(http=http, limit_max_requests=3))
    port = port_of(server)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
        assert [client.get("/").status_code for _ in range(3)] == [200, 200, 200]
    thread.join(3)
    assert not thread.is_alive(), "serve() went on after limit_max_requests"
    assert result == {"code": 0}
    assert refused(port)


def test_limit_max_requests_counts_nothing_when_unset(run_in_thread):
    server, _, _ = run_in_thread(server_config())
    assert server.state is not None and server.state.on_request is None


# Signals -----------------------------------------------------------------------------------------


def embed(mode: str, tmp_path: Path) -> tuple[subprocess.Popen[str], int, Path, Path]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    port = sock.getsockname()[1]
    log = tmp_path / "embed.log"
    marker = tmp_path / "shutdown"
    env = dict(
        os.environ,
        PYTHONPATH=f"{ROOT}:{APPS}",
        PYTHONUNBUFFERED="1",
        SHUTDOWN_MARKER=str(marker),
    )
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, str(APPS / "embed_server.py"), str(sock.fileno()), mode],
            pass_fds=(sock.fileno(),),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    sock.close()
    return proc, port, log, marker


def wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@pytest.mark.timeout(40)
def test_sigterm_goes_to_the_previous_handler_after_serve(tmp_path):
    proc, port, log, marker = embed("previous", tmp_path)
    try:
        assert wait_for(lambda: "running on" in log.read_text(), 15), log.read_text()
        assert request(port, get("/")).body == b"ok"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 7, log.read_text()
        out = log.read_text()
        # The server shut down gracefully first (lifespan shutdown ran), then the program's
        # own handler, restored, received the SIGTERM.
        assert marker.read_text() == "shutdown ran"
        assert "Finished server process" in out
        assert out.index("Finished server process") < out.index("previous handler got SIGTERM")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


@pytest.mark.timeout(40)
def test_sigterm_after_serve_returned_is_not_swallowed(tmp_path):
    proc, _, log, _ = embed("after", tmp_path)
    try:
        assert wait_for(lambda: "serve returned" in log.read_text(), 15), log.read_text()
        assert "SIGTERM handler: <Handlers.SIG_DFL: 0>" in log.read_text()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(5) == -signal.SIGTERM, log.read_text()
        assert "still running" not in log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


# Start-up: app import before the loop, exit codes ----------------------------------------------


@pytest.mark.parametrize("workers", [[], ["--workers", "2"]])
def test_app_module_calling_asyncio_run_at_import(pounce_server, workers):
    if workers:
        proc = pounce_server("asyncio_run_at_import:app", *workers, ready=False)
        proc.wait_for_log("2 workers ready")
    else:
        proc = pounce_server("asyncio_run_at_import:app")
    assert httpx.get(proc.url, timeout=5).text == "set up at import"


def test_bind_failure_runs_lifespan_shutdown_and_exits_3(tmp_path):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    marker = tmp_path / "shutdown"
    proc = PounceProcess(
        "server_api_apps:slow_app",
        "--port",
        str(port),
        use_fd=False,
        env={"SHUTDOWN_MARKER": str(marker)},
    )
    try:
        assert proc.wait(15) == 3, proc.output()
        out = proc.output()
        errors = [line for line in out.splitlines() if "Error" in line]
        assert errors == [
            f"ERROR:    Error: --port: cannot bind 127.0.0.1:{port} (Address already in use)"
        ], out
        assert "Traceback" not in out
        assert marker.read_text() == "shutdown ran"
        assert "Application shutdown complete." in out
    finally:
        proc.stop()
        busy.close()


def test_unusable_fd_is_a_usage_error_after_lifespan_shutdown(tmp_path):
    marker = tmp_path / "shutdown"
    proc = PounceProcess(
        "server_api_apps:slow_app",
        "--fd",
        "999",
        use_fd=False,
        env={"SHUTDOWN_MARKER": str(marker)},
    )
    try:
        assert proc.wait(15) == 2, proc.output()
        out = proc.output()
        errors = [line for line in out.splitlines() if "Error" in line]
        assert errors == [
            "ERROR:    Error: --fd: 999 is not a usable socket (Bad file descriptor)"
        ], out
        assert marker.read_text() == "shutdown ran"
    finally:
        proc.stop()


@pytest.mark.parametrize("mode", [["--workers", "2"], ["--reload"]])
def test_bind_failure_exits_3_with_workers_and_reload(mode, tmp_path):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    proc = PounceProcess(
        "server_api_apps:slow_app", "--port", str(port), *mode, use_fd=False, cwd=tmp_path
    )
    try:
        assert proc.wait(15) == 3, proc.output()
        out = proc.output()
        errors = [line for line in out.splitlines() if "Error" in line]
        assert errors == [f"Error: --port: cannot bind 127.0.0.1:{port} (Address already in use)"]
        assert "Traceback" not in out
    finally:
        proc.stop()
        busy.close()


# --loop none and loop factories ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("loop", "expected"),
    [
        # none: asyncio's loop as its policy gives it; the app set a policy at import.
        ("none", "MarkedLoop"),
        ("asyncio", ASYNCIO_LOOP),
        ("server_api_apps:loop_factory", "MarkedLoop"),
    ],
)
def test_loop_choice(pounce_server, loop, expected):
    proc = pounce_server(
        "server_api_apps:loop_app", "--loop", loop, env={"SERVER_API_SET_POLICY": "1"}
    )
    assert httpx.get(proc.url, timeout=5).text == expected


def test_loop_none_without_a_policy_is_asyncios_default(pounce_server):
    proc = pounce_server("server_api_apps:loop_app", "--loop", "none")
    assert httpx.get(proc.url, timeout=5).text == ASYNCIO_LOOP
    assert "loop: none" in proc.output()


@pytest.mark.parametrize(
    ("loop", "needle"),
    [
        ("no_such_module:factory", '--loop: could not import module "no_such_module"'),
        (
            "server_api_apps:no_such_factory",
            '--loop: attribute "no_such_factory" not found in module "server_api_apps"',
        ),
        (
            "server_api_apps:not_a_loop_factory",
            "--loop: the loop factory 'server_api_apps:not_a_loop_factory' returned object, "
            "not an event loop",
        ),
    ],
)
def test_loop_factory_that_cannot_load_exits_3(loop, needle):
    proc = PounceProcess("server_api_apps:loop_app", "--loop", loop)
    try:
        assert proc.wait(15) == 3, proc.output()
        out = proc.output()
        assert out.strip().splitlines() == [f"Error: {needle}"], out
    finally:
        proc.stop()


# reset_contextvars ------------------------------------------------------------------------------


@pytest.mark.parametrize("http", ["httptools", "h11"])
@pytest.mark.parametrize("reset", [False, True])
def test_reset_contextvars(pounce_server, http, reset):
    args = ["--http", http] + (["--reset-contextvars"] if reset else [])
    proc = pounce_server("server_api_apps:context_app", *args)
    expected = "unset" if reset else "inherited"
    assert httpx.get(proc.url, timeout=5).text == expected
    with httpx.Client(http1=False, http2=True, timeout=5) as h2:  # h2c prior knowledge
        response = h2.get(proc.url)
    assert response.http_version == "HTTP/2"
    assert response.text == expected
    with ws_connect(f"ws://127.0.0.1:{proc.port}/", open_timeout=5) as ws:
        assert ws.recv(timeout=5) == expected


# ssl_context_factory ----------------------------------------------------------------------------


def test_ssl_context_factory_builds_the_context(run_in_thread, certs):
    calls: list[tuple[Config, Callable[[], ssl.SSLContext]]] = []

    def factory(config: Config, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
        calls.append((config, default))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(certs.cert), str(certs.key))
        return ctx

    config = server_config(ssl_context_factory=factory)
    server, _, _ = run_in_thread(config)
    assert len(calls) == 1 and calls[0][0] is config
    url = f"https://127.0.0.1:{port_of(server)}/"
    assert httpx.get(url, verify=certs.client_context(), timeout=5).text == "ok"


def test_ssl_context_factory_adjusts_the_default_context(run_in_thread, certs):
    def tls13_only(config: Config, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
        ctx = default()
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        return ctx

    server, _, _ = run_in_thread(
        server_config(
            ssl_certfile=str(certs.cert), ssl_keyfile=str(certs.key), ssl_context_factory=tls13_only
        )
    )
    url = f"https://127.0.0.1:{port_of(server)}/"
    with httpx.Client(verify=certs.client_context(), http2=True, timeout=5) as client:
        response = client.get(url)
    assert response.text == "ok"
    # The default context's ALPN (h2) survived the factory's change.
    assert response.http_version == "HTTP/2"
    old_client = certs.client_context()
    old_client.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, verify=old_client, timeout=5)
