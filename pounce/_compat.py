"""Which implementation of each hot module is active.

``POUNCE_NO_EXTENSIONS=1`` at run time forces the pure-Python twins even when the compiled
speedups are installed. Each hot module ends with a selector that imports its compiled twin
when ``USE_EXTENSIONS`` is true and records here what it loaded (``record_selection``), with
the import error when the compiled twin failed, so that ``pounce --version`` and the test suite
can tell a silent fallback from a deliberate one. This module imports nothing of pounce (every
selector imports it); whoever reports the status imports the selectors first.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
from types import ModuleType

USE_EXTENSIONS: bool = os.environ.get("POUNCE_NO_EXTENSIONS", "") in ("", "0")

# module name -> reason the compiled twin could not be imported (empty when all loaded)
EXTENSION_IMPORT_ERRORS: dict[str, str] = {}

# The hot modules whose build is reported, each named after its selector's module:
# pounce._headers, pounce.asgi.cycle, pounce.asgi.scope, pounce.http1.protocol,
# pounce.websocket.mask, pounce.websocket.core (the frame core), pounce.websocket.session (the
# session), and pounce.http2.connection's check of the compiled HPACK codec.
HOT_MODULES = ("_headers", "cycle", "scope", "h1", "ws_mask", "ws", "ws_session", "_hpack")
# hot module -> whether its selector loaded the compiled twin; filled in by the selectors.
_SELECTED: dict[str, bool] = {}


def record_selection(part: str, module: str, error: ImportError | None = None) -> None:
    """Record that the selector of ``part`` (in ``module``) loaded the compiled twin, or the
    pure one (``error``: why the compiled one failed to import; None when it was not asked
    for)."""
    _SELECTED[part] = error is None and USE_EXTENSIONS
    if error is not None:
        EXTENSION_IMPORT_ERRORS[module] = str(error)


def has_module(name: str) -> bool:
    """True when ``name`` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def import_compiled(name: str) -> ModuleType:
    """Import the compiled module ``name``; ImportError unless it is a built extension.

    A module compiled from a one-source ``.py`` (``pounce/_speedups/_cycle.py`` links to
    ``pounce/asgi/_cycle.py``) also imports from that ``.py`` when it was not built; that
    is the pure build, and it must count as a failed import, not as the compiled one.
    """
    module = importlib.import_module(name)
    if not isinstance(getattr(module, "__loader__", None), importlib.machinery.ExtensionFileLoader):
        raise ImportError(f"{name} is not compiled (no extension module built)")
    return module


HAS_UVLOOP: bool = has_module("uvloop")
HAS_HTTPTOOLS: bool = has_module("httptools")


def compiled_modules() -> dict[str, bool]:
    """Each hot module and whether its compiled twin is in use.

    RuntimeError when a selector has not been imported yet: the caller must import it (at the
    top of its module) before reporting, or the report would leave that module out.
    """
    missing = [part for part in HOT_MODULES if part not in _SELECTED]
    if missing:
        raise RuntimeError(f"selectors not imported yet: {', '.join(missing)}")
    return {part: _SELECTED[part] for part in HOT_MODULES}


def speedups_status() -> str:
    """``compiled`` when every compiled twin is active, else ``pure`` (with the reason)."""
    if all(compiled_modules().values()):
        return "compiled"
    if not USE_EXTENSIONS:
        return "pure (POUNCE_NO_EXTENSIONS is set)"
    reasons = "; ".join(f"{k}: {v}" for k, v in EXTENSION_IMPORT_ERRORS.items())
    return f"pure ({reasons or 'speedups not built'})"
