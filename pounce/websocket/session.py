"""The WebSocket session both carriers use, and which build of it runs.

The session has one source, ``pounce/websocket/_session.py``: the pure build runs it as it is,
and the compiled build is the same file compiled by Cython as ``pounce._speedups._wssession``
(declared by ``_speedups/_wssession.pxd``). ``POUNCE_NO_EXTENSIONS=1`` picks the pure one at
run time even when the compiled one is installed. The constants and helpers below are the one
source's, the same in both builds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pounce._compat import USE_EXTENSIONS, import_compiled, record_selection
from pounce.websocket._session import (
    CLOSE_TIMEOUT,
    CLOSED,
    CLOSING,
    CONNECTING,
    FLUSH_BYTES,
    OPEN,
    RESPONDING,
    WRITEV_BYTES,
    Carrier,
    WebSocketSession,
    accept_token,
    valid_key,
)

__all__ = [
    "CLOSED",
    "CLOSE_TIMEOUT",
    "CLOSING",
    "CONNECTING",
    "FLUSH_BYTES",
    "IMPLEMENTATION",
    "OPEN",
    "RESPONDING",
    "WRITEV_BYTES",
    "Carrier",
    "WebSocketSession",
    "WebSocketSessionPy",
    "accept_token",
    "valid_key",
]

WebSocketSessionPy = WebSocketSession
# Which build of the session runs: "compiled" (_speedups/_wssession) whenever the speedups are,
# else "pure" (_session.py as it is); ``pounce --version`` names it ("ws session: ...").
IMPLEMENTATION = "pure"

_error: ImportError | None = None
if not TYPE_CHECKING and USE_EXTENSIONS:
    try:
        # The compiled session cimports the compiled cycle's awaitables; were that one missing,
        # Python would find its .py link instead and _wssession's import fail with a KeyError.
        import_compiled("pounce._speedups._cycle")
        WebSocketSession = import_compiled("pounce._speedups._wssession").WebSocketSession
        IMPLEMENTATION = "compiled"
    except ImportError as exc:
        _error = exc
record_selection("ws_session", __name__, _error)
