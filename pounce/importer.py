"""Load the ASGI application named by ``module:attribute``."""

from __future__ import annotations

import importlib
import sys
from typing import Any

from pounce.asgi.types import ASGIApp

from .config import Config
from .errors import AppLoadError
from .interfaces import wrap_app


class AppPathError(AppLoadError):
    """The app path itself is malformed (exit code 3, as uvicorn's)."""


def check_app_path(import_str: str) -> None:
    """Refuse a malformed ``module:attribute`` before any process is started for it."""
    module_str, _, attrs_str = import_str.partition(":")
    if not module_str or not attrs_str:
        raise AppPathError(f'app path "{import_str}" must be in the form "<module>:<attribute>"')


def import_from_string(import_str: str) -> Any:
    """Import ``module.sub:attr.attr`` and return the attribute."""
    module_str, _, attrs_str = import_str.partition(":")
    if not module_str or not attrs_str:
        raise AppPathError(f'app path "{import_str}" must be in the form "<module>:<attribute>"')
    try:
        module = importlib.import_module(module_str)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_str.startswith(exc.name):
            raise AppLoadError(f'could not import module "{module_str}"') from exc
        raise AppLoadError(
            f'app module "{module_str}" failed to import: {type(exc).__name__}: {exc}'
        ) from exc
    except Exception as exc:
        raise AppLoadError(
            f'app module "{module_str}" failed to import: {type(exc).__name__}: {exc}'
        ) from exc
    instance: Any = module
    for attr in attrs_str.split("."):
        try:
            instance = getattr(instance, attr)
        except AttributeError as exc:
            raise AppLoadError(
                f'attribute "{attrs_str}" not found in module "{module_str}"'
            ) from exc
    return instance


def load_app(config: Config) -> ASGIApp:
    """Import (or take) the app, call it when ``--factory`` is set, check it is callable and
    adapt it to ASGI 3 as ``--interface`` says (pounce/interfaces.py)."""
    if config.app_dir is not None and config.app_dir not in sys.path:
        sys.path.insert(0, config.app_dir)
    target = config.app
    # Any: whatever the user named; checked (callable, interface) below.
    app: Any = import_from_string(target) if isinstance(target, str) else target
    if config.factory:
        try:
            app = app()
        except TypeError as exc:
            raise AppLoadError(f"--factory: calling the app factory failed: {exc}") from exc
        except Exception as exc:
            raise AppLoadError(
                f"--factory: the app factory raised {type(exc).__name__}: {exc}"
            ) from exc
    if not callable(app):
        raise AppLoadError(f"the app {target!r} is not callable")
    # --interface: ASGI 2 and WSGI apps get an adapter; an ASGI 3 app is returned as it is.
    return wrap_app(app, config.interface)
