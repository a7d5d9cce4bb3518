"""systemd socket activation: serve the listening sockets systemd passed (sd_listen_fds(3)).

The protocol, from sd_listen_fds(3): the service manager passes the sockets as file
descriptors 3, 4, ... (``SD_LISTEN_FDS_START``), says how many in ``$LISTEN_FDS`` and which
process they are for in ``$LISTEN_PID``. A process whose pid is not ``$LISTEN_PID`` must
ignore them (they were meant for a parent that exec'd it, or for someone else). The variables
are then removed from the environment, as ``sd_listen_fds(unset_environment=1)`` does, so
that no child process (a reload child, a subprocess of the app) reads them again; pounce's
prefork workers get the sockets by ``fork()`` from the supervisor instead. ``$LISTEN_FDNAMES``
(``FileDescriptorName=``) is removed too and otherwise not used: every socket is served alike.

Each socket is then adopted as ``--fd`` adopts one (``pounce.sockets.adopt_socket``). They
replace ``--host``/``--port`` (as gunicorn's arbiter ignores ``--bind`` then); ``--uds``,
``--fd`` and ``--reuse-port`` name sockets of their own and are refused with them.
"""

from __future__ import annotations

import os
import socket

from .config import Config
from .errors import ConfigError
from .sockets import adopt_socket

# sd_listen_fds(3): the first passed file descriptor (0-2 are stdin, stdout, stderr).
SD_LISTEN_FDS_START = 3
ENV_VARIABLES = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")


def listen_fds() -> list[int]:
    """The file descriptors systemd passed to this process (none: ``[]``); the variables are
    removed from ``os.environ`` whatever they hold. A malformed value is a ``ConfigError``
    naming the variable (sd_listen_fds(3) returns ``-EINVAL`` for it)."""
    values = {name: os.environ.pop(name, None) for name in ENV_VARIABLES}
    pid_text, count_text = values["LISTEN_PID"], values["LISTEN_FDS"]
    if pid_text is None:
        return []
    if _parse_int("LISTEN_PID", pid_text) != os.getpid():
        # For another process: one that exec'd us without clearing them, typically.
        return []
    if count_text is None:
        return []
    count = _parse_int("LISTEN_FDS", count_text)
    return list(range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + count))


def _parse_int(name: str, text: str) -> int:
    if not text.strip().isdigit():
        raise ConfigError(f"${name}: {text!r} is not a non-negative integer (sd_listen_fds(3))")
    return int(text)


def activated_sockets(config: Config) -> list[socket.socket] | None:
    """The listening sockets systemd passed, ready to serve; ``None`` without socket
    activation (then ``config`` says what to bind, as usual)."""
    fds = listen_fds()
    if not fds:
        return None
    for name, given in (
        ("--uds", config.uds is not None),
        ("--fd", config.fd is not None),
        ("--reuse-port", config.reuse_port),
    ):
        if given:
            raise ConfigError(
                f"$LISTEN_FDS: systemd passed {len(fds)} socket(s); {name} cannot be used with "
                "socket activation (remove it, or start pounce without the .socket unit)"
            )
    return [adopt_socket(fd, config, "$LISTEN_FDS") for fd in fds]


def activation_note(sockets: list[socket.socket]) -> str:
    """The start-up log line saying that systemd's sockets are served instead of the bind
    options (logged with the other notes, once logging is configured)."""
    fds = ", ".join(str(sock.fileno()) for sock in sockets)
    plural = "" if len(sockets) == 1 else "s"
    return (
        f"Serving {len(sockets)} socket{plural} passed by systemd ($LISTEN_FDS: fd {fds}); "
        "--host/--port are not bound"
    )
