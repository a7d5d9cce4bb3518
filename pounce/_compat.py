"""Which implementation of each hot module is active.

``POUNCE_NO_EXTENSIONS=1`` at run time forces the pure-Python twins even when the compiled
speedups are installed. Each hot module ends with a selector that imports its compiled twin
when ``USE_EXTENSIONS`` is true; a failed import is recorded here so that ``pounce --version``
and the test suite can tell a silent fallback from a deliberate one.
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
    """Each hot module and whether its compiled twin is the one in use."""
    from pounce.asgi import cycle
    from pounce.http1 import protocol as h1
    from pounce.websocket import mask as ws_mask

    from . import _headers

    return {
        "_headers": _headers.IMPLEMENTATION == "compiled",
        "cycle": cycle.RequestResponseCycle is not cycle.RequestResponseCyclePy,
        "h1": h1.H1Protocol is not h1.H1ProtocolPy,
        "ws_mask": ws_mask.XorMasker is not ws_mask.XorMaskerPy,
        "_hpack": _hpack_compiled(),
    }


def _hpack_compiled() -> bool:
    """The compiled HPACK codec has no pure twin of its own (the pure HTTP/2 core uses the
    ``hpack`` library): it is "in use" whenever extensions are, and must then import."""
    if not USE_EXTENSIONS:
        return False
    try:
        importlib.import_module("pounce._speedups._hpack")
    except ImportError as exc:
        EXTENSION_IMPORT_ERRORS["pounce._speedups._hpack"] = str(exc)
        return False
    return True


def speedups_status() -> str:
    """``compiled`` when every compiled twin is active, else ``pure`` (with the reason)."""
    if all(compiled_modules().values()):
        return "compiled"
    if not USE_EXTENSIONS:
        return "pure (POUNCE_NO_EXTENSIONS is set)"
    reasons = "; ".join(f"{k}: {v}" for k, v in EXTENSION_IMPORT_ERRORS.items())
    return f"pure ({reasons or 'speedups not built'})"
