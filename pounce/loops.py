"""The event loop a worker runs: ``--loop`` (``auto``, ``asyncio``, ``uvloop``, ``none``, or a
``module:attribute`` loop factory, as uvicorn's)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from .config import Config
from .errors import AppLoadError
from .importer import import_from_string


def new_event_loop(config: Config) -> asyncio.AbstractEventLoop:
    """Create the event loop ``--loop`` asks for.

    A loop factory given as ``module:attribute`` is imported and called with no argument, as
    uvicorn does; an import failure is an ``AppLoadError`` (exit code 3, as for the app)."""
    name = config.loop_name
    factory = LOOP_FACTORIES.get(name)
    if factory is None:
        factory = _import_loop_factory(name)
    try:
        loop = factory()
    except Exception as exc:
        raise AppLoadError(
            f"--loop: the loop factory {name!r} raised {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(loop, asyncio.AbstractEventLoop):
        raise AppLoadError(
            f"--loop: the loop factory {name!r} returned {type(loop).__name__}, not an event loop"
        )
    return loop


def _import_loop_factory(import_str: str) -> Callable[[], asyncio.AbstractEventLoop]:
    try:
        factory = import_from_string(import_str)
    except AppLoadError as exc:
        raise AppLoadError(f"--loop: {exc}") from exc
    if not callable(factory):
        raise AppLoadError(f"--loop: {import_str!r} is not callable")
    return factory


def _uvloop_factory() -> asyncio.AbstractEventLoop:
    import uvloop  # noqa: PLC0415  # optional (pounce[standard]): --loop uvloop

    return uvloop.new_event_loop()


LOOP_FACTORIES: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    # As uvicorn's: the selector loop itself, whatever event loop policy is set.
    "asyncio": asyncio.SelectorEventLoop,
    "uvloop": _uvloop_factory,
    # The event loop policy's loop: asyncio's own, or the one a policy set by the app gives.
    "none": asyncio.new_event_loop,
}
