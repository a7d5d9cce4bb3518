"""``UVICORN_*`` environment variables: read for uvicorn's options when the ``POUNCE_*`` one is
not set; a ``POUNCE_*`` value wins over them and a command-line flag over both; each one that
took effect is named once in an INFO line. Real processes, real environments."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from tests.support import APPS, RawClient, run_pounce


def _note(var: str, option: str) -> str:
    return f"INFO:     Using ${var} for {option} ($POUNCE_{var[len('UVICORN_') :]} is not set)"


def test_uvicorn_var_is_used_and_named(pounce_server) -> None:
    proc = pounce_server(
        "scope_app:app", "--no-access-log", env={"UVICORN_ROOT_PATH": "/from-uvicorn"}
    )
    assert httpx.get(f"{proc.url}/x", timeout=10).json()["root_path"] == "/from-uvicorn"
    lines = proc.output().splitlines()
    assert lines.count(_note("UVICORN_ROOT_PATH", "--root-path")) == 1


def test_pounce_var_wins_over_uvicorn_var(pounce_server) -> None:
    proc = pounce_server(
        "scope_app:app",
        "--no-access-log",
        env={"UVICORN_ROOT_PATH": "/from-uvicorn", "POUNCE_ROOT_PATH": "/from-pounce"},
    )
    assert httpx.get(f"{proc.url}/x", timeout=10).json()["root_path"] == "/from-pounce"
    assert "UVICORN_ROOT_PATH" not in proc.output()


def test_flag_wins_over_both(pounce_server) -> None:
    proc = pounce_server(
        "scope_app:app",
        "--no-access-log",
        "--root-path",
        "/from-flag",
        env={"UVICORN_ROOT_PATH": "/from-uvicorn", "POUNCE_ROOT_PATH": "/from-pounce"},
    )
    assert httpx.get(f"{proc.url}/x", timeout=10).json()["root_path"] == "/from-flag"
    assert "UVICORN_ROOT_PATH" not in proc.output()


def test_empty_pounce_var_falls_back_to_uvicorn(pounce_server) -> None:
    # click reads an empty variable as unset, for POUNCE_* as for UVICORN_*.
    proc = pounce_server(
        "scope_app:app",
        "--no-access-log",
        env={"UVICORN_ROOT_PATH": "/from-uvicorn", "POUNCE_ROOT_PATH": ""},
    )
    assert httpx.get(f"{proc.url}/x", timeout=10).json()["root_path"] == "/from-uvicorn"


@pytest.mark.timeout(30)
def test_uvicorn_timeout_keep_alive(pounce_server) -> None:
    proc = pounce_server("testapp:app", "--no-access-log", env={"UVICORN_TIMEOUT_KEEP_ALIVE": "1"})
    assert _note("UVICORN_TIMEOUT_KEEP_ALIVE", "--timeout-keep-alive") in proc.output()
    with RawClient(proc.port, timeout=10) as client:
        client.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        assert client.read_response().status == 200
        start = time.monotonic()
        client.sock.settimeout(10)
        assert client.sock.recv(1) == b""  # closed by the server
        idle = time.monotonic() - start
    # 1 s (+ the idle sweep's granularity), far from the default 5 s.
    assert 0.5 <= idle < 3.5, idle


def test_uvicorn_app_flag_and_multiple_options(pounce_server) -> None:
    # UVICORN_APP stands for the APP argument; a repeatable option (--header) is split on
    # whitespace as click does for uvicorn; a boolean flag reads "false".
    proc = pounce_server(
        "",
        env={
            "UVICORN_APP": "scope_app:app",
            "UVICORN_HEADERS": "x-one:1 x-two:2",
            "UVICORN_ACCESS_LOG": "false",
        },
    )
    response = httpx.get(f"{proc.url}/x", timeout=10)
    assert response.status_code == 200
    assert (response.headers["x-one"], response.headers["x-two"]) == ("1", "2")
    out = proc.output()
    assert "GET /x" not in out  # no access log
    lines = out.splitlines()
    for var, option in (
        ("UVICORN_APP", "APP"),
        ("UVICORN_HEADERS", "--header"),
        ("UVICORN_ACCESS_LOG", "--access-log"),
    ):
        assert lines.count(_note(var, option)) == 1, (var, out)


def test_bad_uvicorn_value_is_a_one_line_error() -> None:
    result = run_pounce("--app-dir", str(APPS), "testapp:app", env={"UVICORN_PORT": "eighty"})
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "Invalid value for '--port': 'eighty' is not a valid integer." in result.stderr


def test_uvicorn_port_binds_that_port(pounce_server) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = pounce_server(
        "testapp:app", "--no-access-log", use_fd=False, env={"UVICORN_PORT": str(port)}
    )
    assert httpx.get(f"http://127.0.0.1:{port}/", timeout=10).status_code == 200
    assert _note("UVICORN_PORT", "--port") in proc.output()


def test_version_is_not_read_from_uvicorn_version(pounce_server) -> None:
    # UVICORN_VERSION is a common build argument (a version number), not --version.
    proc = pounce_server("testapp:app", "--no-access-log", env={"UVICORN_VERSION": "0.55.0"})
    assert httpx.get(f"{proc.url}/", timeout=10).status_code == 200


def test_uvicorn_workers_named_once_by_the_supervisor(pounce_server) -> None:
    proc = pounce_server("testapp:app", "--no-access-log", env={"UVICORN_WORKERS": "2"})
    proc.wait_for_log("2 workers ready")
    assert httpx.get(f"{proc.url}/", timeout=10).status_code == 200
    assert proc.output().splitlines().count(_note("UVICORN_WORKERS", "--workers")) == 1
    assert proc.stop() == 0
