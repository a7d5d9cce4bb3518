"""The command line: uvicorn's options, POUNCE_* env vars, one-line errors, --version."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from tests.conftest import PURE_RUN
from tests.h2support import h2c_upgrade
from tests.support import APPS, ROOT, PounceProcess, RawClient, get, request, run_pounce


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


def test_version_lists_implementations():
    result = run_pounce("--version")
    assert result.returncode == 0
    out = result.stdout
    assert out.startswith("pounce 0.1.0 running on CPython 3.")
    assert ("speedups: pure" if PURE_RUN else "speedups: compiled") in out
    assert "http: httptools" in out
    assert "loop: uvloop" in out
    assert ("ws: wsproto" if PURE_RUN else "ws: compiled") in out  # the WebSocket core
    assert ("ws session: pure" if PURE_RUN else "ws session: compiled") in out  # its session
    assert ("h2: h2" if PURE_RUN else "h2: compiled") in out  # the HTTP/2 core


def test_version_names_the_h2_library_core_when_chosen():
    out = run_pounce("--version", env={"POUNCE_H2_CORE": "h2"}).stdout
    assert "h2: h2" in out


def test_version_follows_the_chosen_implementations():
    out = run_pounce("--version", "--http", "h11", "--loop", "asyncio").stdout
    assert "http: h11" in out
    assert "loop: asyncio" in out


def test_options_come_from_env():
    out = run_pounce("--version", env={"POUNCE_HTTP": "h11", "POUNCE_LOOP": "asyncio"}).stdout
    assert "http: h11" in out and "loop: asyncio" in out


def test_limit_options_come_from_env():
    result = run_pounce(
        "--app-dir", str(APPS), "testapp:app", env={"POUNCE_LIMIT_REQUEST_FIELDS": "0"}
    )
    assert result.returncode == 2
    assert "--limit-request-fields" in one_line_error(result)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--port", "abc", "testapp:app"], "'--port'"),
        (["--loop", "tokio", "testapp:app"], "--loop: must be one of"),
        (["--http", "h3", "testapp:app"], "'--http'"),
        (["--bogus", "testapp:app"], "--bogus"),
        (["--port", "70000", "testapp:app"], "--port"),
        (["--timeout-keep-alive", "0", "testapp:app"], "--timeout-keep-alive"),
        (["--root-path", "api/", "testapp:app"], "--root-path"),
        (["--header", "no-colon", "testapp:app"], "--header"),
        (["--limit-concurrency", "-1", "testapp:app"], "--limit-concurrency"),
        (["--forwarded-allow-ips", "10.0.0.0/33", "testapp:app"], "--forwarded-allow-ips"),
        (["--timeout-request-header", "0", "testapp:app"], "--timeout-request-header"),
        (["--timeout-request-body", "-1", "testapp:app"], "--timeout-request-body"),
        (["--timeout-send", "0", "testapp:app"], "--timeout-send"),
        (["--timeout-tls-handshake", "0", "testapp:app"], "--timeout-tls-handshake"),
        (["--limit-request-line", "1", "testapp:app"], "--limit-request-line"),
        (["--limit-request-field-size", "x", "testapp:app"], "'--limit-request-field-size'"),
        (["--limit-request-fields", "0", "testapp:app"], "--limit-request-fields"),
        (["--limit-request-body", "0", "testapp:app"], "--limit-request-body"),
        (["--limit-connections", "-5", "testapp:app"], "--limit-connections"),
        ([], "Missing argument 'APP'"),
    ],
)
def test_bad_options_give_one_line_and_exit_2(args, needle):
    result = run_pounce("--app-dir", str(APPS), *args)
    assert result.returncode == 2, result.stderr
    assert needle in one_line_error(result)


@pytest.mark.parametrize(
    ("app", "needle"),
    [
        ("no_such_module:app", 'could not import module "no_such_module"'),
        ("testapp:no_such_attr", 'attribute "no_such_attr" not found'),
        ("broken_app:app", "RuntimeError: broken at import"),
        ("misc_apps:not_callable", "is not callable"),
        # uvicorn exits 3 for a malformed app path too.
        ("testapp", 'app path "testapp" must be in the form'),
    ],
)
def test_app_load_errors_exit_3(app, needle):
    result = run_pounce("--app-dir", str(APPS), app)
    assert result.returncode == 3
    assert needle in one_line_error(result)


def test_debug_log_level_shows_the_traceback():
    result = run_pounce("--app-dir", str(APPS), "--log-level", "debug", "broken_app:app")
    assert result.returncode == 3
    assert "Traceback" in result.stderr
    assert "broken at import" in result.stderr


def test_factory(pounce_server):
    server = pounce_server("misc_apps:create_app", "--factory")
    assert httpx.get(server.url, timeout=5).text == "Hello, world!"


def test_env_file(pounce_server, tmp_path):
    env_file = tmp_path / "test.env"
    env_file.write_text("POUNCE_TEST_VALUE=from-env-file\n")
    server = pounce_server("misc_apps:env_app", "--env-file", str(env_file))
    assert httpx.get(server.url, timeout=5).text == "from-env-file"


def test_log_config_json(pounce_server, tmp_path):
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "CUSTOM|%(name)s|%(message)s"}},
        "handlers": {"out": {"class": "logging.StreamHandler", "formatter": "plain"}},
        "loggers": {"pounce": {"handlers": ["out"], "level": "INFO", "propagate": False}},
    }
    path = tmp_path / "log.json"
    path.write_text(json.dumps(config))
    server = pounce_server("testapp:app", "--log-config", str(path), ready=False)
    server.wait_for_log("CUSTOM|pounce.error|pounce running on")
    httpx.get(server.url, timeout=5)
    server.wait_for_log("CUSTOM|pounce.access|127.0.0.1:")


def test_access_log_line(pounce_server):
    server = pounce_server("testapp:app")
    request(server.port, get("/echo?q=1"))
    server.wait_for_log('"GET /echo?q=1 HTTP/1.1" 200 OK')
    line = next(line for line in server.output().splitlines() if "/echo?q=1" in line)
    # uvicorn's default line (pounce.config.LOGGING_CONFIG); tests/integration/test_logging.py
    # has the rest.
    assert re.fullmatch(r'INFO:     127\.0\.0\.1:\d+ - "GET /echo\?q=1 HTTP/1\.1" 200 OK', line)


def test_no_access_log(pounce_server):
    server = pounce_server("testapp:app", "--no-access-log")
    request(server.port, get("/?marker=1"))
    time.sleep(0.3)
    assert "marker=1" not in server.output()


def test_log_level_warning_hides_info(pounce_server):
    server = pounce_server("testapp:app", "--log-level", "warning", ready=False)
    time.sleep(1.5)
    assert httpx.get(server.url, timeout=5).status_code == 200
    assert "running on" not in server.output()


def test_host_and_port(pounce_server):
    server = pounce_server("testapp:app", "--host", "127.0.0.1", "--port", "0", use_fd=False)
    line = next(line for line in server.output().splitlines() if "running on" in line)
    port = int(line.split("127.0.0.1:")[1].split()[0])
    assert httpx.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 200


def test_unix_socket(pounce_server, tmp_path):
    path = str(tmp_path / "pounce.sock")
    server = pounce_server("testapp:app", "--uds", path, use_fd=False)
    transport = httpx.HTTPTransport(uds=path)
    with httpx.Client(transport=transport) as client:
        r = client.get("http://localhost/scope")
    assert r.status_code == 200
    assert r.json()["server"] is None
    server.stop()
    assert not os.path.exists(path)


def test_console_script_and_module_entry_points():
    script = shutil.which("pounce", path=os.path.dirname(sys.executable)) or shutil.which("pounce")
    assert script is not None
    out = subprocess.run(
        [script, "--version"], capture_output=True, text=True, timeout=15, check=True
    )
    assert out.stdout.startswith("pounce ")


@pytest.mark.parametrize("mode", ["run", "serve"])
def test_programmatic_api(mode):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    port = sock.getsockname()[1]
    env = dict(os.environ, PYTHONPATH=f"{ROOT}:{APPS}")
    proc = subprocess.Popen(
        [sys.executable, str(APPS / "run_programmatic.py"), str(sock.fileno()), mode],
        pass_fds=(sock.fileno(),),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    sock.close()
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with RawClient(port, timeout=2) as c:
                    c.send(get("/"))
                    assert c.read_response().body == b"Hello, world!"
                    break
            except (OSError, EOFError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        # pounce.run() exits 0 after a graceful stop; Server.serve() gives the SIGTERM back to
        # the previous (default) handler once it has shut down, as uvicorn's does.
        assert proc.wait(10) == (0 if mode == "run" else -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def test_limit_concurrency_answers_503(pounce_server):
    server = pounce_server("testapp:app", "--limit-concurrency", "1")
    slow = RawClient(server.port, timeout=10)
    slow.send(get("/slow?t=1"))
    time.sleep(0.3)
    resp = request(server.port, get("/"))
    assert resp.status == 503
    assert resp.header("retry-after") == "1"
    assert slow.read_response().status == 200
    slow.close()
    time.sleep(0.2)
    assert request(server.port, get("/")).status == 200


def test_pure_process_runs_pure_twins():
    proc = PounceProcess("testapp:app", env={"POUNCE_NO_EXTENSIONS": "1"})
    try:
        proc.wait_ready()
        assert "speedups: pure (POUNCE_NO_EXTENSIONS is set)" in proc.output()
    finally:
        proc.stop()


def test_h2c_upgrade_option_from_env(pounce_server):
    """POUNCE_H2C_UPGRADE turns --h2c-upgrade on (off by default: test_h2c_upgrade.py)."""
    server = pounce_server("scope_app:app", "--no-access-log", env={"POUNCE_H2C_UPGRADE": "1"})
    with h2c_upgrade(server.port, "/scope") as attempt:
        assert attempt.switched
        assert json.loads(bytes(attempt.h2.response(1).body))["http_version"] == "2"


def test_h2c_upgrade_through_run():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    port = sock.getsockname()[1]
    code = (
        "import sys, pounce; pounce.run('scope_app:app', fd=int(sys.argv[1]), "
        "h2c_upgrade=True, access_log=False)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(sock.fileno())],
        pass_fds=(sock.fileno(),),
        env=dict(os.environ, PYTHONPATH=f"{ROOT}:{APPS}"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    sock.close()
    try:
        with h2c_upgrade(port, "/scope", timeout=15) as attempt:  # the backlog holds it
            assert attempt.switched
            assert attempt.h2.response(1).status == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
