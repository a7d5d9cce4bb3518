"""The clients of ``bench/callgrind.py`` against a real pounce, without valgrind: each
completes its requests on the hello app, on every HTTP/2 core, and stops on any other answer
(so a measurement never counts requests that were not served as the hello app serves them)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.callgrind import send_h2_requests, send_requests
from tests.conftest import SERVER_H2_CORES, server_h2_env
from tests.support import PounceProcess

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(params=SERVER_H2_CORES)
def hello(request: pytest.FixtureRequest) -> Iterator[PounceProcess]:
    proc = PounceProcess(
        "bench.apps.hello:app", "--no-access-log", env=server_h2_env(request.param)
    )
    try:
        yield proc.wait_ready()
    finally:
        proc.stop()


def test_http11_client_completes_its_requests(hello: PounceProcess) -> None:
    send_requests(hello.port, 50)


def test_http2_client_completes_its_requests_as_streams(hello: PounceProcess) -> None:
    send_h2_requests(hello.port, 50)  # streams 1 to 99 on one connection


def test_http2_client_stops_on_another_answer() -> None:
    proc = PounceProcess("scope_app:app", "--no-access-log").wait_ready()
    try:
        with pytest.raises(SystemExit, match="unexpected response"):
            send_h2_requests(proc.port, 1)
    finally:
        proc.stop()
