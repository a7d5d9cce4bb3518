"""``--limit-max-rss``'s RSS reading and "stays above" rule, without processes
(tests/integration/test_limit_max_rss.py runs it for real)."""

from __future__ import annotations

import mmap

import pytest

from pounce import rss
from pounce.config import Config
from pounce.errors import ConfigError
from pounce.rss import MIB, RssLimit, resident_bytes

pytestmark = pytest.mark.timeout(10)


def test_resident_bytes_is_this_process():
    # A fresh anonymous mapping, every page written: resident pages new to the process. (A
    # bytes object may come from heap pages freed earlier in the test run and still resident,
    # so the reading need not move: glibc raises its mmap threshold after large frees.)
    size = 32 * MIB
    with mmap.mmap(-1, size) as block:
        before = resident_bytes()
        for offset in range(0, size, mmap.PAGESIZE):
            block[offset] = 1
        assert resident_bytes() - before >= 24 * MIB


def test_rss_limit_fires_once_after_two_checks_in_a_row(monkeypatch):
    readings = iter([200, 90, 200, 200, 200, 200])
    monkeypatch.setattr(rss, "resident_bytes", lambda: next(readings) * MIB)
    fired: list[int] = []
    limit = RssLimit(100, fired.append)
    limit.check(0.0)  # 200: above once
    limit.check(0.5)  # before the next check is due: not read
    limit.check(1.0)  # 90: back below, the count starts again
    limit.check(2.0)  # 200
    assert fired == []
    limit.check(3.0)  # 200: the second check in a row above the limit
    assert fired == [200 * MIB]
    limit.check(4.0)
    limit.check(5.0)
    assert fired == [200 * MIB]  # once


def test_limit_max_rss_config():
    assert Config(app="x:y").limit_max_rss is None
    config = Config(app="x:y", limit_max_rss=512)
    assert config.use_supervisor  # recycling needs the supervisor, as --limit-max-requests
    for bad in (0, -1):
        with pytest.raises(ConfigError, match="--limit-max-rss: must be a positive number"):
            Config(app="x:y", limit_max_rss=bad)
