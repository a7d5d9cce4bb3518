"""Run pounce as a ``Config`` says: the reloader, the prefork supervisor or one server.

The CLI and ``pounce.run()`` start here. It sits above the reloader (``pounce/reload.py``) and the
supervisor (``pounce/supervisor.py``): a reload child serves through the supervisor's
``serve_config``, so neither of those two imports the other.

This is also where the process systemd started reads what systemd passed it: the sockets of
socket activation (``$LISTEN_FDS``, pounce/socket_activation.py) and ``$NOTIFY_SOCKET``
(pounce/sd_notify.py). Both are removed from the environment here, so that no process started
later (a worker, a reload child, the app's subprocesses) takes them for its own.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence

from .config import Config
from .reload import Reloader
from .sd_notify import Notifier
from .socket_activation import activated_sockets, activation_note
from .supervisor import log_start_notes, serve_config


def run_config(
    config: Config, sockets: Sequence[socket.socket] | None = None, notes: Sequence[str] = ()
) -> int:
    """Run pounce as ``config`` says (reloader, supervisor or one server); the exit code.

    ``notes`` (the CLI's ``UVICORN_*`` variables that took effect) and the ``--ws`` alias note
    are logged first (``log_start_notes``). Without ``sockets``, those of systemd's socket
    activation are served when there are any."""
    notes = list(notes)
    if sockets is None:
        sockets = activated_sockets(config)
        if sockets is not None:
            notes.append(activation_note(sockets))
    notifier = Notifier.from_environment()
    if config.reload:
        if notifier is not None:
            # Readiness is known in the reload child, which systemd does not watch
            # (NotifyAccess=main): --reload is for development, not for a systemd service.
            notifier.close()
            notes.append("--reload: $NOTIFY_SOCKET is not used (no sd_notify messages are sent)")
        log_start_notes(config, notes)
        return Reloader(config, sockets).run()
    try:
        return serve_config(config, sockets, notes, notifier)
    finally:
        if notifier is not None:
            notifier.close()
