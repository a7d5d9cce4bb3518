"""Fixtures: real pounce processes per HTTP/1.1 parser, and the pure/compiled twin selector."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from tests.support import PounceProcess

PARSERS = ["httptools", "h11"]
PURE_RUN = os.environ.get("POUNCE_NO_EXTENSIONS", "") not in ("", "0")


@pytest.fixture(scope="session", params=PARSERS)
def parser(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def h1(parser: str) -> Iterator[PounceProcess]:
    """The test app on a shared server, once per parser."""
    proc = PounceProcess(
        "testapp:app", "--http", parser, "--no-access-log", "--timeout-keep-alive", "5"
    )
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def pounce_server() -> Iterator[Callable[..., PounceProcess]]:
    """Start a pounce process with custom options; every one is stopped after the test."""
    started: list[PounceProcess] = []

    def start(
        app: str = "testapp:app", *args: str, ready: bool = True, **kw: object
    ) -> PounceProcess:
        proc = PounceProcess(app, *args, **kw)  # type: ignore[arg-type]
        started.append(proc)
        if ready:
            proc.wait_ready()
        return proc

    yield start
    for proc in started:
        proc.stop()
