"""The HTTP/1.1 connection, and which build of it runs.

The protocol has one source, ``pounce/http1/_protocol.py``: the pure build runs it as it is, and
the compiled build is the same file compiled by Cython as ``pounce._speedups._http1``
(declared by ``_speedups/_http1.pxd``, with the kernels it cimports). ``POUNCE_NO_EXTENSIONS=1``
picks the pure one at run time even when the compiled one is installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pounce._compat import USE_EXTENSIONS, import_compiled, record_selection
from pounce.http1._protocol import H1Protocol

__all__ = ["H1Protocol", "H1ProtocolPy"]

H1ProtocolPy = H1Protocol

_error: ImportError | None = None
if not TYPE_CHECKING and USE_EXTENSIONS:
    try:
        # The compiled H1Protocol cimports the compiled cycle; were that one missing, Python
        # would find its .py link instead and _http1's import fail with a KeyError.
        import_compiled("pounce._speedups._cycle")
        H1Protocol = import_compiled("pounce._speedups._http1").H1Protocol
    except ImportError as exc:
        _error = exc
record_selection("h1", __name__, _error)
