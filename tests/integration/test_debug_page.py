"""``--debug``: an app that raises before starting its response gets a 500 carrying the
traceback, HTML or text by the request's Accept, on HTTP/1.1 and HTTP/2; without it (the
default) the 500 is the plain one; an exception after the response started is handled as
before (HTTP/1.1: the body is cut and the connection closed; HTTP/2: the stream is reset).
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.h2support import H2Client
from tests.integration.conftest import Certs
from tests.support import PounceProcess, RawClient, get

APP = "debug_page_app:app"
QUIET = ("--no-access-log",)
MESSAGE = "<script>alert('pwned')</script> & \"quoted\""
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
PLAIN_500 = b"Internal Server Error\n"

pytestmark = pytest.mark.timeout(60)


def serve(*args: str) -> Iterator[PounceProcess]:
    proc = PounceProcess(APP, *args, *QUIET)
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def debug_server() -> Iterator[PounceProcess]:
    yield from serve("--debug")


@pytest.fixture(scope="module")
def plain_server() -> Iterator[PounceProcess]:
    yield from serve()


def client(http2: bool) -> httpx.Client:
    # http1=False: HTTP/2 by prior knowledge over cleartext (h2c).
    return httpx.Client(http1=not http2, http2=http2, timeout=10)


def assert_html_page(body: str) -> None:
    assert "DebugPageError" in body
    assert html.escape(MESSAGE) in body
    assert "<script>" not in body  # every piece of the traceback is escaped
    assert "Traceback (most recent call last)" in body
    assert "raise DebugPageError(MESSAGE)" in body  # the source line of the raising frame
    assert "debug_page_app.py" in body


@pytest.mark.parametrize("http2", [False, True], ids=["http1", "h2c"])
def test_html_when_accept_prefers_it(debug_server: PounceProcess, http2: bool) -> None:
    with client(http2) as c:
        r = c.get(f"{debug_server.url}/raise", headers={"accept": BROWSER_ACCEPT})
    assert r.http_version == ("HTTP/2" if http2 else "HTTP/1.1")
    assert r.status_code == 500
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert int(r.headers["content-length"]) == len(r.content)
    assert r.text.startswith("<!DOCTYPE html>")
    assert_html_page(r.text)


@pytest.mark.parametrize("http2", [False, True], ids=["http1", "h2c"])
@pytest.mark.parametrize("accept", [None, "*/*", "text/plain", "text/html;q=0.5, text/*"])
def test_text_otherwise(debug_server: PounceProcess, http2: bool, accept: str | None) -> None:
    headers = {"accept": accept} if accept else {}
    with client(http2) as c:
        if accept is None:
            c.headers.pop("accept")
        r = c.get(f"{debug_server.url}/raise", headers=headers)
    assert r.status_code == 500
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.text.startswith("500 Internal Server Error\n\nGET /raise\n\n")
    assert "Traceback (most recent call last)" in r.text
    assert f"debug_page_app.DebugPageError: {MESSAGE}" in r.text  # text: not escaped
    assert "raise DebugPageError(MESSAGE)" in r.text


def test_traceback_is_still_logged(debug_server: PounceProcess) -> None:
    with client(False) as c:
        assert c.get(f"{debug_server.url}/raise").status_code == 500
    deadline = time.monotonic() + 5
    while "Exception in ASGI application" not in debug_server.output():
        assert time.monotonic() < deadline, debug_server.output()
        time.sleep(0.05)
    assert "DebugPageError" in debug_server.output()


@pytest.mark.parametrize("http2", [False, True], ids=["http1", "h2c"])
def test_off_by_default_the_500_is_unchanged(plain_server: PounceProcess, http2: bool) -> None:
    with client(http2) as c:
        r = c.get(f"{plain_server.url}/raise", headers={"accept": BROWSER_ACCEPT})
    assert r.status_code == 500
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.content == PLAIN_500


def test_off_by_default_raw_http1_bytes(plain_server: PounceProcess) -> None:
    with RawClient(plain_server.port) as c:
        c.send(get("/raise"))
        resp = c.read_response()
        assert resp.status == 500
        assert resp.body == PLAIN_500
        assert c.is_closed()


@pytest.mark.parametrize("name", ["debug_server", "plain_server"])
def test_raise_after_start_http1_cuts_the_body(name: str, request: pytest.FixtureRequest) -> None:
    server: PounceProcess = request.getfixturevalue(name)
    with RawClient(server.port) as c:
        c.send(get("/raise-after"))
        data = c.read_all()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert body == b"7\r\npartial\r\n"  # no last chunk, no traceback: the connection closed


@pytest.mark.parametrize("name", ["debug_server", "plain_server"])
def test_raise_after_start_h2_resets_the_stream(name: str, request: pytest.FixtureRequest) -> None:
    server: PounceProcess = request.getfixturevalue(name)
    with H2Client(server.port) as c:
        broken = c.get("/raise-after")
        after = c.get("/")
    assert broken.status == 200
    assert bytes(broken.body) == b"partial"
    assert broken.reset == 2  # INTERNAL_ERROR, as without --debug
    assert after.status == 200 and bytes(after.body) == b"ok"


def test_tls_h2_html(pounce_server: Callable[..., PounceProcess], certs: Certs) -> None:
    tls = ("--ssl-certfile", str(certs.cert), "--ssl-keyfile", str(certs.key))
    server = pounce_server(APP, "--debug", *tls, *QUIET)
    with httpx.Client(http2=True, verify=certs.client_context(), timeout=10) as c:
        r = c.get(f"https://127.0.0.1:{server.port}/raise", headers={"accept": BROWSER_ACCEPT})
    assert r.http_version == "HTTP/2"
    assert r.status_code == 500
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert_html_page(r.text)


@pytest.mark.parametrize(
    ("args", "traceback"),
    [(("--reload",), True), (("--reload", "--no-debug"), False)],
    ids=["reload", "reload-no-debug"],
)
def test_reload_implies_debug_unless_no_debug(
    pounce_server: Callable[..., PounceProcess],
    tmp_path: Path,
    args: tuple[str, ...],
    traceback: bool,
) -> None:
    pytest.importorskip("watchfiles")
    # An empty directory to watch: nothing changes, no restart.
    server = pounce_server(APP, *args, "--reload-dir", str(tmp_path), *QUIET)
    with client(False) as c:
        r = c.get(f"{server.url}/raise")
    assert r.status_code == 500
    if traceback:
        assert "Traceback (most recent call last)" in r.text
    else:
        assert r.content == PLAIN_500
