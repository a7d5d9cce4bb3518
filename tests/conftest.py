"""Fixtures: real pounce processes per HTTP/1.1 parser, and the choice of twin.

Choosing a twin, the one way every test does it:

- The whole suite runs twice (``ci/test``): as built, and with ``POUNCE_NO_EXTENSIONS=1``
  (``PURE_RUN``), where pounce's selectors pick the pure twins. A test of "whatever pounce
  runs" (``pounce.http1.protocol.H1Protocol``, a real server) follows that choice; a real
  server's HTTP/2 core is chosen per test with ``SERVER_H2_CORES`` and ``server_h2_env``.
- A test that runs against both twins side by side asks for a fixture below
  (``h1_protocol_class``, ``cycle_class``, ``h2_core``, ``ws_session_class``), or one of its
  own made with ``twin_params`` and ``pick_twin``. A test module of one extension alone gets it from
  ``compiled_module(name)``; a single test of one from ``compiled(name)``, marked
  ``needs_compiled(name)``. The compiled twin runs wherever its extension imports, in either
  run; where it does not, the test skips (with the reason) in a pure run and fails in a
  normal one, so a build that silently fell back to the pure twins fails (test_compat.py
  also says so). The shape is multidict's conftest: one fixture per part whose params are the
  implementations, the compiled one carrying the mark that may skip it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from functools import cache
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

from pounce._compat import import_compiled
from pounce.asgi import _cycle as pure_cycle
from pounce.asgi.cycle import RequestResponseCyclePy
from pounce.http1.protocol import H1ProtocolPy
from pounce.http2.connection import H2ConnectionPy
from pounce.websocket.session import WebSocketSessionPy
from tests.support import PounceProcess

if TYPE_CHECKING:
    from _pytest.mark import ParameterSet  # what pytest.param returns

PARSERS = ["httptools", "h11"]
PURE_RUN = os.environ.get("POUNCE_NO_EXTENSIONS", "") not in ("", "0")

# The HTTP/2 cores of a real pounce server: "default" (the compiled core when the speedups are
# built and enabled, else the h2-backed one) and "h2" (POUNCE_H2_CORE=h2: the h2-backed one).
# A pure run has only the h2-backed core, so only "default".
SERVER_H2_CORES: list[str] = ["default"] if PURE_RUN else ["default", "h2"]


def server_h2_env(core: str) -> dict[str, str] | None:
    """The environment a pounce process needs to run ``core`` (one of SERVER_H2_CORES)."""
    return {"POUNCE_H2_CORE": "h2"} if core == "h2" else None


@cache
def compiled(name: str) -> ModuleType | None:
    """``pounce._speedups.<name>``; None in a pure run where it is not built.

    In a normal run a missing extension raises the ImportError, which fails whatever asked for
    it: the compiled twins are the ones users run.
    """
    try:
        # import_compiled: a module compiled from a one-source .py (_cycle) also imports, from
        # that .py, when it was not built; only the extension counts as the compiled twin.
        return import_compiled(f"pounce._speedups.{name}")
    except ImportError:
        if PURE_RUN:
            return None
        raise


@pytest.fixture(autouse=True)
def _cycle_switches_as_at_start() -> Iterator[None]:
    """Each test starts with the cycles' per-process switches as a fresh process has them.

    A server started in the test process sets them (``cycle.time_requests``: one server per
    worker process), for the build it runs; a later test of either twin must not see them.
    """
    yield
    for module in (pure_cycle, compiled("_cycle")):
        if module is not None:
            module.time_requests(None, True)


def compiled_module(name: str) -> ModuleType:
    """``pounce._speedups.<name>`` for a test module of that extension alone: in a pure run
    where it is not built the whole module skips (in a normal run it fails, see ``compiled``)."""
    module = compiled(name)
    if module is None:
        pytest.skip(f"pure build: pounce._speedups.{name} is not built", allow_module_level=True)
    return module


def needs_compiled(name: str) -> pytest.MarkDecorator:
    """Skip a test of ``pounce._speedups.<name>`` in a pure run where it is not built; in a
    normal run never (the test then fails on the import, see ``compiled``)."""
    return pytest.mark.skipif(
        PURE_RUN and compiled(name) is None,
        reason=f"pure build: pounce._speedups.{name} is not built",
    )


def twin_params(name: str) -> list[ParameterSet]:
    """A twin fixture's params: ``pure``, and ``compiled`` marked ``needs_compiled(name)``."""
    return [
        pytest.param("pure", id="pure"),
        pytest.param("compiled", id="compiled", marks=needs_compiled(name)),
    ]


def pick_twin(
    request: pytest.FixtureRequest, pure: Any, name: str, attribute: str | None = None
) -> Any:
    """For a fixture with ``twin_params(name)``: ``pure``, or ``attribute`` of
    ``pounce._speedups.<name>`` (the module itself without one)."""
    if request.param == "pure":
        return pure
    module = compiled(name)
    return module if attribute is None else getattr(module, attribute)


@pytest.fixture(params=twin_params("_http1"))
def h1_protocol_class(request: pytest.FixtureRequest) -> type:
    """Each HTTP/1.1 protocol class (pounce/http1/protocol.py, _speedups/_http1.pyx)."""
    return pick_twin(request, H1ProtocolPy, "_http1", "H1Protocol")


@pytest.fixture(params=twin_params("_cycle"))
def cycle_class(request: pytest.FixtureRequest) -> type:
    """The request cycle (pounce/asgi/_cycle.py) run as Python, and compiled again as
    _speedups/_cycle."""
    return pick_twin(request, RequestResponseCyclePy, "_cycle", "RequestResponseCycle")


@pytest.fixture(params=twin_params("_h2"))
def h2_core(request: pytest.FixtureRequest) -> type:
    """Each sans-I/O HTTP/2 core: the h2-backed twin (pounce/http2/connection.py) and the
    compiled one (_speedups/_h2.pyx)."""
    return pick_twin(request, H2ConnectionPy, "_h2", "H2Connection")


@pytest.fixture(params=twin_params("_wssession"))
def ws_session_class(request: pytest.FixtureRequest) -> type:
    """The WebSocket session (pounce/websocket/_session.py) run as Python, and compiled again
    as _speedups/_wssession."""
    return pick_twin(request, WebSocketSessionPy, "_wssession", "WebSocketSession")


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
