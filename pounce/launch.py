"""Run pounce as a ``Config`` says: the reloader, the prefork supervisor or one server.

The CLI and ``pounce.run()`` start here. It sits above the reloader (``pounce/reload.py``) and the
supervisor (``pounce/supervisor.py``): a reload child serves through the supervisor's
``serve_config``, so neither of those two imports the other.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence

from .config import Config
from .reload import Reloader
from .supervisor import log_start_notes, serve_config


def run_config(
    config: Config, sockets: Sequence[socket.socket] | None = None, notes: Sequence[str] = ()
) -> int:
    """Run pounce as ``config`` says (reloader, supervisor or one server); the exit code.

    ``notes`` (the CLI's ``UVICORN_*`` variables that took effect) and the ``--ws`` alias note
    are logged first (``log_start_notes``)."""
    if config.reload:
        log_start_notes(config, notes)
        return Reloader(config).run()
    return serve_config(config, sockets, notes)
