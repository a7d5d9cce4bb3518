"""Logging with real processes and clients: uvicorn's default lines and colours, uvicorn's own
log configs (JSON, YAML, ini) after the README's rename, the same lines as a real uvicorn 0.55,
``--access-log-format`` and ``--access-log-json`` over HTTP/1.1, HTTP/2 and WebSocket
handshakes, and the one-line error for a bad format. The twins: the whole file runs in both
builds (``POUNCE_NO_EXTENSIONS=1``); tests/unit/test_access_log.py compares them directly."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.h2support import H2Client
from tests.support import APPS, ROOT, PounceProcess, run_pounce
from tests.wssupport import H2WebSocket

PORT = r"\d+"


def sed(text: str) -> str:
    """The README's conversion of a uvicorn log config: ``sed 's/uvicorn/pounce/g'``."""
    return text.replace("uvicorn", "pounce")


def raw_get(port: int, path: str, *headers: str) -> tuple[int, bytes]:
    """One request on a fresh connection; returns the client's port and the response."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        lines = [f"GET {path} HTTP/1.1", "Host: test", *headers, "Connection: close", "", ""]
        sock.sendall("\r\n".join(lines).encode("latin-1"))
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
        return sock.getsockname()[1], out


def lines_with(server: PounceProcess, text: str, count: int = 1) -> list[str]:
    deadline = time.monotonic() + 10
    while True:
        found = [line for line in server.output().splitlines() if text in line]
        if len(found) >= count or time.monotonic() > deadline:
            assert len(found) == count, server.output()
            return found
        time.sleep(0.02)


# uvicorn's defaults and colours -------------------------------------------------------------


def test_default_lines_are_uvicorns(pounce_server: Any) -> None:
    server = pounce_server("testapp:app", "--no-use-colors")
    port, response = raw_get(server.port, "/status?code=404&x=%22")
    assert response.startswith(b"HTTP/1.1 404 ")
    (line,) = lines_with(server, "/status?code=404")
    assert (
        line == f'INFO:     127.0.0.1:{port} - "GET /status?code=404&x=%22 HTTP/1.1" 404 Not Found'
    )
    lines_with(server, "INFO:     Application startup complete.")


def test_use_colors(pounce_server: Any) -> None:
    server = pounce_server("testapp:app", "--use-colors")
    port, _ = raw_get(server.port, "/")
    (line,) = lines_with(server, "GET / HTTP/1.1")
    assert line == (
        f"\x1b[32mINFO\x1b[0m:     127.0.0.1:{port} - "
        '"\x1b[1mGET / HTTP/1.1\x1b[0m" \x1b[32m200 OK\x1b[0m'
    )
    lines_with(server, "\x1b[32mINFO\x1b[0m:     Application startup complete.")


# uvicorn's log configs, renamed ---------------------------------------------------------------

# uvicorn's documented default (uvicorn.org, Concepts: Logging) with the usual addition of a
# timestamp, in each of the three forms --log-config reads.
UVICORN_JSON = """{
  "version": 1,
  "disable_existing_loggers": false,
  "formatters": {
    "default": {"()": "uvicorn.logging.DefaultFormatter",
                "fmt": "%(asctime)s %(levelprefix)s %(message)s", "datefmt": "%Y",
                "use_colors": null},
    "access": {"()": "uvicorn.logging.AccessFormatter",
               "fmt": "%(asctime)s %(levelprefix)s %(client_addr)s - \\"%(request_line)s\\" %(status_code)s",
               "datefmt": "%Y"}
  },
  "handlers": {
    "default": {"formatter": "default", "class": "logging.StreamHandler", "stream": "ext://sys.stderr"},
    "access": {"formatter": "access", "class": "logging.StreamHandler", "stream": "ext://sys.stdout"}
  },
  "loggers": {
    "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": false},
    "uvicorn.error": {"level": "INFO"},
    "uvicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": false}
  }
}
"""  # noqa: E501

UVICORN_YAML = """version: 1
disable_existing_loggers: false
formatters:
  default:
    (): uvicorn.logging.DefaultFormatter
    fmt: '%(asctime)s %(levelprefix)s %(message)s'
    datefmt: '%Y'
    use_colors: false
  access:
    (): uvicorn.logging.AccessFormatter
    fmt: '%(asctime)s %(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s'
    datefmt: '%Y'
    use_colors: false
handlers:
  default:
    formatter: default
    class: logging.StreamHandler
    stream: ext://sys.stderr
  access:
    formatter: access
    class: logging.StreamHandler
    stream: ext://sys.stdout
loggers:
  uvicorn:
    handlers: [default]
    level: INFO
    propagate: false
  uvicorn.error:
    level: INFO
  uvicorn.access:
    handlers: [access]
    level: INFO
    propagate: false
"""

UVICORN_INI = """[loggers]
keys=root,uvicorn,uvicorn_error,uvicorn_access

[handlers]
keys=default,access

[formatters]
keys=default,access

[logger_root]
level=WARNING
handlers=

[logger_uvicorn]
level=INFO
handlers=default
propagate=0
qualname=uvicorn

[logger_uvicorn_error]
level=INFO
handlers=
qualname=uvicorn.error

[logger_uvicorn_access]
level=INFO
handlers=access
propagate=0
qualname=uvicorn.access

[handler_default]
class=StreamHandler
formatter=default
args=(sys.stderr,)

[handler_access]
class=StreamHandler
formatter=access
args=(sys.stdout,)

[formatter_default]
class=uvicorn.logging.DefaultFormatter
format=%(asctime)s %(levelprefix)s %(message)s
datefmt=%Y

[formatter_access]
class=uvicorn.logging.AccessFormatter
format=%(asctime)s %(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s
datefmt=%Y
"""


@pytest.mark.parametrize(
    ("suffix", "text"), [(".json", UVICORN_JSON), (".yaml", UVICORN_YAML), (".ini", UVICORN_INI)]
)
def test_uvicorn_log_config_renamed(
    pounce_server: Any, tmp_path: Path, suffix: str, text: str
) -> None:
    path = tmp_path / f"log{suffix}"
    path.write_text(sed(text))
    env = {"FORCE_COLOR": ""}
    server = pounce_server("testapp:app", "--log-config", str(path), env=env)
    port, _ = raw_get(server.port, "/echo?q=1")
    year = time.strftime("%Y")
    (line,) = lines_with(server, "/echo?q=1")
    # The ini form has no use_colors; the test's output is a file, so no colours either way.
    assert line == f'{year} INFO:     127.0.0.1:{port} - "GET /echo?q=1 HTTP/1.1" 200 OK'
    lines_with(server, f"{year} INFO:     Application startup complete.")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def uvicorn_lines(config_text: str | None, tmp_path: Path, paths: list[str]) -> list[str]:
    """Run a real uvicorn 0.55 on the same app and requests; its access lines, ports as PORT."""
    pytest.importorskip("uvicorn")
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", "--app-dir", str(APPS), "--port", str(port)]
    if config_text is not None:
        path = tmp_path / "uvicorn-log.json"
        path.write_text(config_text)
        cmd += ["--log-config", str(path)]
    log = tmp_path / "uvicorn.out"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*cmd, "--no-use-colors", "testapp:app"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
        )
        try:
            deadline = time.monotonic() + 15
            while b"Uvicorn running on" not in log.read_bytes():
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.05)
            for target in paths:
                raw_get(port, target, "User-Agent: same")
            time.sleep(0.3)
        finally:
            proc.terminate()
            proc.wait(10)
    return access_lines(log.read_text(), paths)


def access_lines(text: str, paths: list[str]) -> list[str]:
    return [
        re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", line)
        for line in text.splitlines()
        if any(f" {p} HTTP" in line for p in paths)
    ]


PATHS = ["/", "/echo?q=%22x%22", "/status?code=418", "/status?code=599", "/nope"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("config", [None, UVICORN_JSON], ids=["default", "json-config"])
def test_same_access_lines_as_uvicorn(
    pounce_server: Any, tmp_path: Path, config: str | None
) -> None:
    expected = uvicorn_lines(config, tmp_path, PATHS)
    assert len(expected) == len(PATHS)
    args: list[str] = ["--no-use-colors"]
    if config is not None:
        path = tmp_path / "pounce-log.json"
        path.write_text(sed(config))
        args += ["--log-config", str(path)]
    server = pounce_server("testapp:app", *args)
    for target in PATHS:
        raw_get(server.port, target, "User-Agent: same")
    lines_with(server, "/nope")
    assert access_lines(server.output(), PATHS) == expected


# --access-log-format and --access-log-json ----------------------------------------------------

FULL_FORMAT = (
    '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" '
    "m=%(m)s U=%(U)s q=%(q)s H=%(H)s B=%(B)s T=%(T)s D=%(D)s M=%(M)s L=%(L)s p=%(p)s "
    "ct=%({content-type}o)s xs=%({x-status}o)s none=%({x-none}o)s xi=%({x-in}i)s "
    "e=%({POUNCE_LOG_TEST}e)s"
)


def test_access_log_format_http1(pounce_server: Any) -> None:
    server = pounce_server(
        "testapp:app",
        "--access-log-format",
        FULL_FORMAT,
        env={"POUNCE_LOG_TEST": "yes"},
    )
    auth = base64.b64encode(b"bob:pw").decode()
    _, response = raw_get(
        server.port,
        "/status?code=201",
        f"Authorization: Basic {auth}",
        "Referer: http://ref/",
        "User-Agent: agent/1",
        "X-In: a",
        "X-In: b",
    )
    assert response.startswith(b"HTTP/1.1 201 ")
    (line,) = lines_with(server, "/status?code=201")
    pid = server.proc.pid
    pattern = (
        r"127\.0\.0\.1 - bob \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "
        r'"GET /status\?code=201 HTTP/1\.1" 201 - "http://ref/" "agent/1" '
        r"m=GET U=/status q=code=201 H=HTTP/1\.1 B=0 T=0 D=(\d+) M=(\d+) L=0\.(\d{6}) "
        rf"p=<{pid}> ct=- xs=201 none=- xi=a, b e=yes"
    )
    match = re.fullmatch(pattern, line)
    assert match is not None, line
    micros, millis, decimal = (int(g) for g in match.groups())
    assert micros == decimal and millis == micros // 1000
    assert "INFO" not in line  # the format is the whole line, as gunicorn's


def test_access_log_json_http1(pounce_server: Any) -> None:
    server = pounce_server("testapp:app", "--access-log-json")
    port, _ = raw_get(server.port, "/?a=1", "User-Agent: j")
    (line,) = lines_with(server, '"path": "/"')
    fields = json.loads(line)
    assert fields.pop("time").startswith(time.strftime("%Y-"))
    assert 0 <= fields.pop("duration") < 5
    assert fields == {
        "remote_addr": "127.0.0.1",
        "method": "GET",
        "path": "/",
        "query": "a=1",
        "protocol": "HTTP/1.1",
        "status": 200,
        "bytes": 13,
        "referer": None,
        "user_agent": "j",
    }
    assert port > 0


def test_access_log_json_with_format(pounce_server: Any) -> None:
    server = pounce_server(
        "testapp:app", "--access-log-json", "--access-log-format", "%(s)s %({x-status}o)s %(U)s"
    )
    raw_get(server.port, "/status?code=202")
    (line,) = lines_with(server, '"path": "/status"')
    assert json.loads(line) == {
        "status": 202,
        "response_headers": {"x-status": "202"},
        "path": "/status",
    }


def test_access_log_format_http2(pounce_server: Any) -> None:
    server = pounce_server("testapp:app", "--access-log-format", "%(H)s %(m)s %(U)s %(s)s %(B)s")

    async def main() -> None:
        async with httpx.AsyncClient(http1=False, http2=True, timeout=10) as client:
            response = await client.get(f"{server.url}/h2?x=1")
            assert response.http_version == "HTTP/2"
            assert response.status_code == 404

    asyncio.run(main())
    (line,) = lines_with(server, "/h2")
    assert line == "HTTP/2 GET /h2 404 9"


def test_default_line_http2(pounce_server: Any) -> None:
    server = pounce_server("testapp:app", "--no-use-colors")

    async def main() -> None:
        async with httpx.AsyncClient(http1=False, http2=True, timeout=10) as client:
            assert (await client.get(f"{server.url}/")).status_code == 200

    asyncio.run(main())
    (line,) = lines_with(server, '"GET / HTTP/2"')
    assert re.fullmatch(rf'INFO:     127\.0\.0\.1:{PORT} - "GET / HTTP/2" 200 OK', line)


def test_websocket_handshakes_are_access_records(pounce_server: Any) -> None:
    server = pounce_server(
        "ws_apps:app",
        "--access-log-format",
        "%(m)s %(U)s %(q)s %(H)s %(s)s %({sec-websocket-extensions}o)s",
    )
    url = f"ws://127.0.0.1:{server.port}"

    async def main() -> None:
        async with connect(f"{url}/scope?k=v") as ws:
            await ws.recv()
        with pytest.raises(InvalidStatus) as info:
            async with connect(f"{url}/deny"):
                pass
        assert info.value.response.status_code == 403

    asyncio.run(main())
    # o atoms see the headers the app and the handshake negotiation add (not Upgrade etc.).
    (accepted,) = lines_with(server, "/scope")
    assert accepted.startswith("GET /scope k=v HTTP/1.1 101 permessage-deflate"), accepted
    assert lines_with(server, "/deny") == ["GET /deny  HTTP/1.1 403 -"]  # q: "", as gunicorn


def test_websocket_default_line(pounce_server: Any) -> None:
    server = pounce_server("ws_apps:app", "--no-use-colors")

    async def main() -> None:
        async with connect(f"ws://127.0.0.1:{server.port}/scope") as ws:
            await ws.recv()

    asyncio.run(main())
    (line,) = lines_with(server, "/scope")
    assert re.fullmatch(
        rf'INFO:     127\.0\.0\.1:{PORT} - "GET /scope HTTP/1\.1" 101 Switching Protocols', line
    )


def test_websocket_over_http2_is_an_access_record(pounce_server: Any) -> None:
    """RFC 8441: an extended CONNECT answered 200 is logged as such."""
    server = pounce_server("ws_apps:app", "--access-log-format", "%(m)s %(U)s %(H)s %(s)s")
    with H2Client(server.port) as client:
        ws = H2WebSocket(client, "/scope")
        assert ws.wait_status() == 200
        ws.receive()
        assert bytes(client.get("/plain").body) == b"hello /plain"
    assert lines_with(server, "/scope") == ["CONNECT /scope HTTP/2 200"]
    assert lines_with(server, "/plain") == ["GET /plain HTTP/2 200"]


def test_log_config_with_access_log_format(pounce_server: Any, tmp_path: Path) -> None:
    """--access-log-format sets the formatter of the configured pounce.access handlers."""
    path = tmp_path / "log.json"
    path.write_text(sed(UVICORN_JSON))
    server = pounce_server(
        "testapp:app", "--log-config", str(path), "--access-log-format", "%(r)s!"
    )
    raw_get(server.port, "/x")
    assert lines_with(server, "/x") == ["GET /x HTTP/1.1!"]


def test_no_access_log_wins(pounce_server: Any) -> None:
    server = pounce_server("testapp:app", "--no-access-log", "--access-log-format", "%(r)s!")
    raw_get(server.port, "/quiet")
    time.sleep(0.3)
    assert "/quiet" not in server.output()


@pytest.mark.parametrize(
    ("fmt", "message"),
    [
        ("%(h)s %(bogus)s", "Error: --access-log-format: unknown atom %(bogus)s"),
        ("%(h)s %d", "Error: --access-log-format: '%(h)s %d' is not a valid format"),
    ],
)
def test_bad_format_is_a_one_line_error(fmt: str, message: str) -> None:
    result = run_pounce("testapp:app", "--access-log-format", fmt)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(message), result.stderr


@pytest.mark.timeout(60)
def test_response_header_atom_in_workers(pounce_server: Any) -> None:
    """The prefork workers record response headers for an o atom too."""
    server = pounce_server(
        "testapp:app", "--workers", "2", "--access-log-format", "%(U)s %({x-status}o)s"
    )
    for code in (203, 204, 205):
        raw_get(server.port, f"/status?code={code}")
    assert sorted(lines_with(server, "/status ", count=3)) == [
        "/status 203",
        "/status 204",
        "/status 205",
    ]


def test_log_level_warning_hides_access_lines(pounce_server: Any) -> None:
    server = pounce_server("testapp:app", "--log-level", "warning", ready=False)
    deadline = time.monotonic() + 15
    while True:
        try:
            raw_get(server.port, "/hidden")
            break
        except OSError:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    time.sleep(0.3)
    assert "/hidden" not in server.output()
    assert "INFO" not in server.output()
