"""Starting the app's coroutine for a request.

On Python 3.12+ the task is started eagerly (``eager_start=True``): the app runs at once,
inside ``data_received``, as a real task (``current_task()`` and its own context are right, so
anyio, sniffio and ``asyncio.timeout`` work), and an app that finishes without suspending never
goes through the event loop's ready queue. Python 3.11 has no eager start with those
guarantees, so there the task is scheduled as usual.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any

EAGER_TASKS = sys.version_info >= (3, 12)


def start_task(
    loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, None]
) -> asyncio.Task[None]:
    """A task running ``coro``; started eagerly where the Python version allows it."""
    if EAGER_TASKS:
        return asyncio.Task(coro, loop=loop, eager_start=True)  # type: ignore[call-arg,unused-ignore]  # eager_start is 3.12+
    return loop.create_task(coro)
