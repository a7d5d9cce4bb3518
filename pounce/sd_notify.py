"""Telling systemd how the service is doing: the sd_notify(3) protocol, without libsystemd.

With ``Type=notify`` systemd sets ``$NOTIFY_SOCKET`` to a UNIX datagram socket (a path, or an
abstract name written with a leading ``@``) and waits for ``READY=1`` before it calls the
service started. Each message is one datagram of newline-separated ``VARIABLE=value``
assignments (sd_notify(3), "Description"). pounce sends, from the process systemd started
(the supervisor, or the single server; never a worker):

- ``READY=1``, with ``STATUS=`` (what is served) and ``MAINPID=`` (this process), once every
  worker is serving;
- ``RELOADING=1`` with ``MONOTONIC_USEC=`` (required with ``Type=notify-reload``) when a
  SIGHUP starts a rolling restart, and ``READY=1`` again once it is done;
- ``STOPPING=1`` when a graceful or immediate stop starts;
- ``WATCHDOG=1`` every half of ``$WATCHDOG_USEC`` when that is set for this process
  (sd_watchdog_enabled(3): ``$WATCHDOG_PID``, when set, must be our pid), from the loop that
  would stop turning if the process hung (the supervisor's, or the server's tick).

The variables are removed from the environment once read (``unset_environment``), so that
neither the workers nor the app's subprocesses act on them. A datagram that cannot be sent
(systemd gone, a full queue) is logged once and never stops the server.
"""

from __future__ import annotations

import logging
import os
import socket
import time

from .errors import ConfigError

logger = logging.getLogger("pounce.error")

ENV_VARIABLES = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


class Notifier:
    """Sends sd_notify(3) messages to ``address`` (a path, or ``\\0``-prefixed: abstract)."""

    def __init__(self, address: str | bytes, watchdog_usec: int = 0) -> None:
        self.address = address
        # Seconds between two WATCHDOG=1: half the timeout, as sd_watchdog_enabled(3) advises
        # (0: no watchdog).
        self.watchdog_interval = watchdog_usec / 2_000_000
        self._next_watchdog = 0.0
        self._failed = False
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        # Never wait on systemd: a message that does not fit in the queue is dropped (logged).
        self._sock.setblocking(False)
        self._sock.set_inheritable(False)

    @classmethod
    def from_environment(cls) -> Notifier | None:
        """A notifier for ``$NOTIFY_SOCKET``, or None when it is unset (not run by systemd
        with ``Type=notify``). Removes the variables; a malformed one is a ``ConfigError``."""
        values = {name: os.environ.pop(name, None) for name in ENV_VARIABLES}
        path = values["NOTIFY_SOCKET"]
        if not path:
            return None
        if path.startswith("@"):
            # sd_notify(3): "@" stands for the abstract namespace's leading NUL byte.
            address: str | bytes = b"\0" + path[1:].encode()
        elif path.startswith("/"):
            address = path
        else:
            raise ConfigError(
                f"$NOTIFY_SOCKET: {path!r} is not an absolute path or an abstract socket name "
                "starting with @ (pounce supports the AF_UNIX forms of sd_notify(3))"
            )
        watchdog_usec = 0
        usec_text, pid_text = values["WATCHDOG_USEC"], values["WATCHDOG_PID"]
        if usec_text is not None and _watchdog_is_ours(pid_text):
            if not usec_text.strip().isdigit():
                raise ConfigError(
                    f"$WATCHDOG_USEC: {usec_text!r} is not a number of microseconds "
                    "(sd_watchdog_enabled(3))"
                )
            watchdog_usec = int(usec_text)
        return cls(address, watchdog_usec)

    def send(self, *assignments: str) -> None:
        """One datagram of ``VARIABLE=value`` lines."""
        message = "\n".join(assignments).encode()
        try:
            self._sock.sendto(message, self.address)
        except OSError as exc:
            if not self._failed:
                self._failed = True
                logger.warning("Cannot notify systemd at $NOTIFY_SOCKET: %s", exc.strerror)
            return
        self._failed = False

    def ready(self, status: str) -> None:
        self.send("READY=1", f"STATUS={status}", f"MAINPID={os.getpid()}")

    def reloading(self, status: str) -> None:
        # MONOTONIC_USEC: CLOCK_MONOTONIC when the reload started; systemd 253+ needs it with
        # Type=notify-reload to tell this reload from an earlier one (sd_notify(3)).
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.send("RELOADING=1", f"STATUS={status}", f"MONOTONIC_USEC={usec}")

    def stopping(self, status: str) -> None:
        self.send("STOPPING=1", f"STATUS={status}")

    def status(self, status: str) -> None:
        self.send(f"STATUS={status}")

    def watchdog(self, now: float) -> None:
        """``WATCHDOG=1`` when half the watchdog timeout has passed since the last one
        (``now``: ``time.monotonic()``, or any clock that only goes forward)."""
        if self.watchdog_interval and now >= self._next_watchdog:
            self._next_watchdog = now + self.watchdog_interval
            self.send("WATCHDOG=1")

    def close(self) -> None:
        self._sock.close()


def _watchdog_is_ours(pid_text: str | None) -> bool:
    """sd_watchdog_enabled(3): with ``$WATCHDOG_PID`` set, the watchdog is that process's."""
    if pid_text is None:
        return True
    return pid_text.strip().isdigit() and int(pid_text) == os.getpid()
