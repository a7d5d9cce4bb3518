"""``--interface``: WSGI (Flask, a plain PEP 3333 app) through a2wsgi, ASGI 2, and ``auto``
choosing each, on real processes with httpx over HTTP/1.1 and HTTP/2 (h2c prior knowledge).

Each app is run both with ``--interface auto`` and with its interface named: a WSGI or ASGI 2
app called the wrong way fails every request (500), so correct answers under ``auto`` show the
detection chose the right adapter. The apps are in tests/apps/interface_apps.py.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import ROOT, PounceProcess, run_pounce

WSGI_APPS = [
    ("interface_apps:flask_app", "flask", "auto"),
    ("interface_apps:flask_app", "flask", "wsgi"),
    ("interface_apps:wsgi_app", "wsgi", "auto"),
    ("interface_apps:wsgi_app", "wsgi", "wsgi"),
]


@pytest.fixture(scope="module", params=WSGI_APPS, ids=lambda p: f"{p[1]}-{p[2]}")
def wsgi_server(request: pytest.FixtureRequest) -> Iterator[tuple[PounceProcess, str]]:
    app, name, interface = request.param
    proc = PounceProcess(app, "--interface", interface, "--no-access-log")
    try:
        proc.wait_ready()
        yield proc, name
    finally:
        proc.stop()


@pytest.fixture(params=["HTTP/1.1", "HTTP/2"])
def client(request: pytest.FixtureRequest) -> Iterator[httpx.Client]:
    """An httpx client that speaks only one version (HTTP/2: prior knowledge on cleartext)."""
    h2 = request.param == "HTTP/2"
    with httpx.Client(http1=not h2, http2=h2, timeout=10) as c:
        c.headers["x-expect-version"] = request.param
        yield c


def test_wsgi_hello_status_and_headers(wsgi_server, client) -> None:
    proc, name = wsgi_server
    response = client.get(f"{proc.url}/hello")
    assert response.http_version == client.headers["x-expect-version"]
    assert response.status_code == 200
    assert response.content == b"hello"
    assert response.headers["x-app"] == name
    assert response.headers["content-type"].startswith("text/plain")


def test_wsgi_request_body_and_header(wsgi_server, client) -> None:
    proc, _ = wsgi_server
    body = os.urandom(200_000)  # larger than one read: a2wsgi feeds wsgi.input as it arrives
    response = client.post(f"{proc.url}/echo", content=body, headers={"x-test": "t-42"})
    assert response.status_code == 200
    assert response.content == body
    assert response.headers["x-echo"] == "t-42"


def test_wsgi_chunked_request_body(wsgi_server) -> None:
    proc, _ = wsgi_server
    parts = [b"a" * 3000, b"b" * 5000]  # no content-length: chunked on HTTP/1.1
    with httpx.Client(timeout=10) as c:
        response = c.post(f"{proc.url}/echo", content=iter(parts))
    assert response.status_code == 200
    assert response.content == b"".join(parts)


def test_wsgi_streamed_response(wsgi_server, client) -> None:
    proc, _ = wsgi_server
    with client.stream("GET", f"{proc.url}/stream") as response:
        assert response.status_code == 200
        # The app's iterable has no length: nothing was buffered into a content-length.
        assert "content-length" not in response.headers
        assert response.http_version == client.headers["x-expect-version"]
        if response.http_version == "HTTP/1.1":
            assert response.headers["transfer-encoding"] == "chunked"
        data = b"".join(response.iter_raw())
    assert data == b"x" * 5000


def test_wsgi_status_chosen_by_the_app(wsgi_server, client) -> None:
    proc, _ = wsgi_server
    response = client.get(f"{proc.url}/teapot")
    assert response.status_code == 418
    assert response.content == b"short and stout"


@pytest.mark.parametrize("interface", ["auto", "asgi2"])
def test_asgi2_class_app(pounce_server, interface) -> None:
    proc = pounce_server("interface_apps:ASGI2App", "--interface", interface, "--no-access-log")
    for h2 in (False, True):
        with httpx.Client(http1=not h2, http2=h2, timeout=10) as c:
            response = c.post(f"{proc.url}/two", content=b"12345")
        assert response.http_version == ("HTTP/2" if h2 else "HTTP/1.1")
        assert response.status_code == 200
        assert response.headers["x-app"] == "asgi2"
        # scope["asgi"]["version"] is "2.0" for an ASGI 2 app, as uvicorn sends.
        assert response.text == "asgi 2.0 /two 5"


def test_asgi3_plain_def_is_detected_by_its_three_arguments(pounce_server) -> None:
    proc = pounce_server("interface_apps:asgi3_plain_def", "--no-access-log")
    response = httpx.get(f"{proc.url}/three", timeout=10)
    assert response.status_code == 200
    assert response.text == "asgi 3.0 /three"


def test_wrong_interface_fails_the_request_not_the_server(pounce_server) -> None:
    # Named explicitly, the interface is not second-guessed: a WSGI app run as ASGI 3 fails.
    proc = pounce_server("interface_apps:wsgi_app", "--interface", "asgi3", "--no-access-log")
    assert httpx.get(f"{proc.url}/hello", timeout=10).status_code == 500


@pytest.fixture
def without_a2wsgi(tmp_path: Path) -> dict[str, str]:
    """A PYTHONPATH on which ``import a2wsgi`` fails, as where the extra is not installed."""
    blocker = tmp_path / "a2wsgi"
    blocker.mkdir()
    (blocker / "__init__.py").write_text('raise ImportError("a2wsgi is not installed here")\n')
    return {"PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}


def test_wsgi_without_a2wsgi_is_a_one_line_error(without_a2wsgi) -> None:
    result = run_pounce(
        "--app-dir", "tests/apps", "--interface", "wsgi", "interface_apps:wsgi_app",
        env=without_a2wsgi,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr == (
        "Error: --interface wsgi: a2wsgi is required (pip install pounce[wsgi])\n"
    )


def test_auto_detected_wsgi_without_a2wsgi_names_the_extra(without_a2wsgi) -> None:
    result = run_pounce(
        "--app-dir", "tests/apps", "--no-access-log", "--port", "0", "interface_apps:wsgi_app",
        env=without_a2wsgi,
    )  # fmt: skip
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert errors == [
        "Error: --interface wsgi (auto-detected: the app takes environ, start_response): "
        "a2wsgi is required (pip install pounce[wsgi])"
    ]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("preload", [False, True], ids=["import-in-workers", "preload"])
def test_wsgi_under_the_supervisor(pounce_server, preload) -> None:
    # a2wsgi's thread pool is made when the app is loaded: before the fork with --preload.
    args = ["--workers", "2", "--no-access-log", *(["--preload"] if preload else [])]
    proc = pounce_server("interface_apps:flask_app", *args)
    proc.wait_for_log("2 workers ready")
    with httpx.Client(timeout=10) as c:
        for i in range(20):
            body = os.urandom(50_000 + i)
            response = c.post(f"{proc.url}/echo", content=body, headers={"x-test": str(i)})
            assert (response.status_code, response.content) == (200, body)
            assert response.headers["x-echo"] == str(i)
    assert proc.stop() == 0


def test_wsgi_app_mounted_with_a2wsgi_in_an_asgi_app(pounce_server, client) -> None:
    # FastAPI's documented way to serve a Flask app next to its own routes. a2wsgi calls the
    # server's receive() from its worker thread: a body must not hang (tests/unit/
    # test_receive_timing.py has the sans-I/O cases).
    proc = pounce_server("mounted_wsgi_app:app", "--no-access-log")
    for i in range(20):
        body = os.urandom(200_000)
        response = client.post(f"{proc.url}/flask/echo", content=body, headers={"x-test": str(i)})
        assert response.http_version == client.headers["x-expect-version"]
        assert (response.status_code, response.content) == (200, body)
        assert response.headers["x-echo"] == str(i)


@pytest.mark.parametrize("interface", ["auto", "wsgi"])
def test_wsgi_app_answers_a_websocket_upgrade_as_plain_http(pounce_server, interface) -> None:
    """WSGI has no WebSocket: the handshake reaches the app as an HTTP request (uvicorn turns
    its WebSocket protocol off for WSGI the same way) instead of a 403 from the adapter."""
    proc = pounce_server("interface_apps:wsgi_app", "--interface", interface, "--no-access-log")
    handshake = (
        b"GET /hello HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", proc.port), timeout=10) as sock:
        sock.sendall(handshake)
        data = b""
        while not data.endswith(b"0\r\n\r\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), head
    assert b"x-app: wsgi" in head.lower()
    assert body == b"5\r\nhello\r\n0\r\n\r\n"
