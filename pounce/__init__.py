"""pounce: a fast ASGI server. ``pounce.run(app, **options)`` takes the CLI's options."""

from __future__ import annotations

import sys
from typing import Any

from ._version import __version__
from .config import Config
from .server import Server
from .supervisor import run_config

__all__ = ["Config", "Server", "__version__", "run"]


def run(app: Any, **options: Any) -> None:
    """Serve ``app`` (an ASGI callable or ``"module:attr"``) until stopped.

    Takes the same options as the CLI, by their Python names (``timeout_keep_alive=5``).
    Exits the process with the server's exit code when it is not 0.
    With ``workers=N`` (N > 1) or ``limit_max_requests`` the prefork supervisor runs them;
    with ``reload=True`` (app given as ``"module:attr"``) the reloader does.
    """
    config = Config(app=app, **options)
    code = run_config(config)
    if code:
        sys.exit(code)
