"""``--limit-max-rss``: notice that this process's resident memory stays above a limit.

A worker checks its own resident set size (RSS) on the server's periodic tick, at most once a
second, so nothing is added per request. "Stays above" means above the limit at
``CHECKS_ABOVE`` checks in a row (one second apart): a single large request whose memory is
freed again does not cost a worker, a leak does. Then the callback runs once: a supervised
worker asks for its replacement (the same path as ``--limit-max-requests``, so no request is
lost), a server run on its own stops gracefully.

The RSS is read from ``/proc/self/statm`` (proc(5): its second field is the resident pages),
one small ``read`` per check; ``resource.getrusage`` only has the peak, which never goes down.
"""

from __future__ import annotations

import os
from collections.abc import Callable

STATM_PATH = "/proc/self/statm"
MIB = 1024 * 1024
# Seconds between two checks, and how many checks in a row must find the RSS above the limit.
RSS_CHECK_INTERVAL = 1.0
CHECKS_ABOVE = 2


def rss_available() -> bool:
    return os.path.exists(STATM_PATH)


def resident_bytes() -> int:
    """This process's resident set size in bytes."""
    fd = os.open(STATM_PATH, os.O_RDONLY)
    try:
        fields = os.read(fd, 256).split()
    finally:
        os.close(fd)
    return int(fields[1]) * os.sysconf("SC_PAGE_SIZE")


class RssLimit:
    """Calls ``on_exceeded(rss_bytes)`` once, when the RSS was above ``limit_mib`` MiB at
    ``CHECKS_ABOVE`` checks in a row; ``check(now)`` is called on every tick."""

    def __init__(self, limit_mib: int, on_exceeded: Callable[[int], None]) -> None:
        self.limit_mib = limit_mib
        self.limit = limit_mib * MIB
        self.on_exceeded = on_exceeded
        self.above = 0
        self.fired = False
        self._next_check = 0.0

    def check(self, now: float) -> None:
        if self.fired or now < self._next_check:
            return
        self._next_check = now + RSS_CHECK_INTERVAL
        rss = resident_bytes()
        if rss <= self.limit:
            self.above = 0
            return
        self.above += 1
        if self.above >= CHECKS_ABOVE:
            self.fired = True
            self.on_exceeded(rss)
