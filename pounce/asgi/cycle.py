"""The ASGI request/response cycle both protocols use, and which build of it runs.

The cycle has one source, ``pounce/asgi/_cycle.py``: the pure build runs it as it is,
and the compiled build is the same file compiled by Cython as ``pounce._speedups._cycle``
(declared by ``_speedups/_cycle.pxd``). ``POUNCE_NO_EXTENSIONS=1`` picks the pure one at run
time even when the compiled one is installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pounce._compat import USE_EXTENSIONS, import_compiled, record_selection
from pounce.asgi._cycle import Headers, RequestResponseCycle, ResponseWriter, time_requests

__all__ = [
    "AppRunner",
    "Headers",
    "RequestResponseCycle",
    "RequestResponseCyclePy",
    "ResponseWriter",
    "time_requests",
]

RequestResponseCyclePy = RequestResponseCycle

# With the compiled build, a connection's apps can take their first step at once inside one
# long-lived runner task (_speedups/_runner.pyx, _Runner): an app that never waits costs no
# task. HTTP/2 uses it per connection; the pure build starts a task per request.
AppRunner: Any = None

_error: ImportError | None = None
if not TYPE_CHECKING and USE_EXTENSIONS:
    try:
        _compiled = import_compiled("pounce._speedups._cycle")
        RequestResponseCycle = _compiled.RequestResponseCycle
        time_requests = _compiled.time_requests  # sets the compiled cycle's C globals
        AppRunner = import_compiled("pounce._speedups._runner")._Runner
    except ImportError as exc:
        _error = exc
record_selection("cycle", __name__, _error)
