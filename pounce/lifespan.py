"""The ASGI lifespan protocol (spec 2.0): startup and shutdown events for the app."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pounce.asgi.types import ASGIApp, Message

logger = logging.getLogger("pounce.error")


class Lifespan:
    """Runs the app's lifespan scope in a task and reports startup/shutdown outcomes.

    ``mode`` is ``--lifespan``: ``off`` skips it, ``on`` treats an app that raises as a
    failed startup, ``auto`` treats it as an app without lifespan support.
    """

    def __init__(self, app: ASGIApp, mode: str, state: dict[str, Any]) -> None:
        self.app = app
        self.mode = mode
        self.state = state
        self.startup_failed = False
        self.shutdown_failed = False
        self.error_occurred = False
        self.should_exit = False
        self._queue: asyncio.Queue[Message] = asyncio.Queue()
        self._startup_done = asyncio.Event()
        self._shutdown_done = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def startup(self) -> None:
        if self.mode == "off":
            return
        logger.info("Waiting for application startup.")
        self._task = asyncio.get_running_loop().create_task(self._main())
        await self._queue.put({"type": "lifespan.startup"})
        await self._startup_done.wait()
        if self.startup_failed or (self.error_occurred and self.mode == "on"):
            logger.error("Application startup failed. Exiting.")
            self.should_exit = True
        else:
            logger.info("Application startup complete.")

    async def shutdown(self) -> None:
        if self.mode == "off" or self.error_occurred or self._task is None:
            return
        logger.info("Waiting for application shutdown.")
        await self._queue.put({"type": "lifespan.shutdown"})
        await self._shutdown_done.wait()
        if self.shutdown_failed or (self.error_occurred and self.mode == "on"):
            logger.error("Application shutdown failed. Exiting.")
            self.should_exit = True
        else:
            logger.info("Application shutdown complete.")

    async def _main(self) -> None:
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.state,
        }
        try:
            await self.app(scope, self._receive, self._send)
        except BaseException as exc:
            self.error_occurred = True
            if self.startup_failed or self.shutdown_failed:
                return
            if self.mode == "auto":
                logger.info("ASGI 'lifespan' protocol appears unsupported.")
                logger.debug("Lifespan error:", exc_info=exc)
            else:
                logger.error("Exception in 'lifespan' protocol", exc_info=exc)
        finally:
            self._startup_done.set()
            self._shutdown_done.set()

    async def _receive(self) -> Message:
        return await self._queue.get()

    async def _send(self, message: Message) -> None:
        mtype = message["type"]
        if mtype == "lifespan.startup.complete":
            self._require(not self._startup_done.is_set(), mtype)
            self._startup_done.set()
        elif mtype == "lifespan.startup.failed":
            self._require(not self._startup_done.is_set(), mtype)
            self.startup_failed = True
            self._startup_done.set()
            if message.get("message"):
                logger.error(message["message"])
        elif mtype == "lifespan.shutdown.complete":
            self._require(self._startup_done.is_set() and not self._shutdown_done.is_set(), mtype)
            self._shutdown_done.set()
        elif mtype == "lifespan.shutdown.failed":
            self._require(self._startup_done.is_set() and not self._shutdown_done.is_set(), mtype)
            self.shutdown_failed = True
            self._shutdown_done.set()
            if message.get("message"):
                logger.error(message["message"])
        else:
            raise RuntimeError(f"Unexpected lifespan message type {mtype!r}")

    @staticmethod
    def _require(ok: bool, mtype: str) -> None:
        if not ok:
            raise RuntimeError(f"Unexpected lifespan message {mtype!r} at this point")
