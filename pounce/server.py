"""One worker: bind or adopt the socket, run lifespan, serve, drain and shut down.

The public surface is ``Server(config).serve()`` / ``.run()`` plus the worker controls used by
the supervisor: ``start_draining``, ``is_idle``, ``shutdown`` and ``set_lifespan_state``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Sequence
from typing import Any

from ._compat import speedups_status
from ._version import __version__
from .config import Config, new_event_loop, python_description
from .importer import load_app
from .lifespan import Lifespan
from .logs import configure_logging
from .protocols.h1 import H1Protocol
from .protocols.negotiate import AlpnSelector
from .sockets import bind_socket, describe_socket
from .state import RECHECK_DELAY, ServerState

logger = logging.getLogger("pounce.error")

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# Exit code for an app that cannot start (import error, failed lifespan startup).
EXIT_STARTUP_FAILED = 3
# A draining worker (rolling restart, recycling) leaves an idle keep-alive connection open this
# long, so that a request already on its way is answered (with "connection: close") rather
# than met by a close. Another worker has taken over the listening socket meanwhile.
DRAIN_IDLE_GRACE = 1.0


def implementations(config: Config) -> str:
    """``speedups: compiled, http: httptools, loop: uvloop, ws: wsproto, h2: compiled`` for
    logs and ``--version``. ``h2`` names the HTTP/2 core: ``compiled`` or ``h2`` (the library)."""
    from .h2connection import IMPLEMENTATION as h2_core

    return (
        f"speedups: {speedups_status()}, http: {config.http_name}, loop: {config.loop_name}, "
        f"ws: {'none' if config.ws == 'none' else 'wsproto'}, h2: {h2_core}"
    )


class Server:
    """A single-process pounce server."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.state: ServerState | None = None
        self.lifespan: Lifespan | None = None
        self.servers: list[asyncio.AbstractServer] = []
        self.sockets: list[socket.socket] = []
        self.started = False
        self.should_exit = False
        self.force_exit = False
        self.exit_code = 0
        self._draining = False
        self._own_sockets = True
        self._loop: asyncio.AbstractEventLoop | None = None
        self._exit_event: asyncio.Event | None = None
        self._tick_handle: asyncio.TimerHandle | None = None
        self._recheck_handle: asyncio.TimerHandle | None = None
        self._lifespan_state: dict[str, Any] = {}
        self._last_notified = float("-inf")
        self._notify_task: asyncio.Future[Any] | None = None

    # Running ----------------------------------------------------------------------------

    def run(self, sockets: Sequence[socket.socket] | None = None) -> int:
        """Run until stopped, on the loop ``--loop`` selects. Returns the exit code."""
        configure_logging(self.config)
        loop = new_event_loop(self.config)
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self.serve(sockets))
        finally:
            _cancel_all_tasks(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            asyncio.set_event_loop(None)
            loop.close()
        return self.exit_code

    async def serve(self, sockets: Sequence[socket.socket] | None = None) -> None:
        """Serve on the current loop until a stop is requested."""
        config = self.config
        loop = self._loop = asyncio.get_running_loop()
        self._exit_event = asyncio.Event()
        if self.should_exit:
            self._exit_event.set()
        config.load_env_file()
        app = load_app(config)
        logger.info("Started server process [%d]", os.getpid())
        state = self.state = ServerState(config, app, loop)
        state.lifespan_state = self._lifespan_state
        self._install_signal_handlers()

        self.lifespan = Lifespan(app, config.lifespan, state.lifespan_state)
        await self.lifespan.startup()
        if self.lifespan.should_exit:
            self.exit_code = EXIT_STARTUP_FAILED
            return
        await self._start_listening(sockets)
        self.started = True
        self._schedule_tick()
        if not self.should_exit:
            await self._exit_event.wait()
        await self._shutdown()

    async def _start_listening(self, sockets: Sequence[socket.socket] | None) -> None:
        config = self.config
        state = self.state
        assert state is not None and self._loop is not None
        # A socket handed in (by the supervisor, or --fd) belongs to the caller: only a socket
        # bound here may have its --uds path removed on exit.
        self._own_sockets = sockets is None
        if sockets is None:
            sockets = [bind_socket(config)]
        self.sockets = list(sockets)
        parser = config.http_name

        ssl_context = config.ssl_context()
        alpn = ssl_context is not None and config.http2

        def factory() -> asyncio.Protocol:
            if alpn:
                return AlpnSelector(state, parser)  # hands over to h2 or http/1.1
            return H1Protocol(state, parser)

        # --timeout-tls-handshake: a client that connects and stalls in (or before) the
        # handshake is dropped by the loop's own TLS machinery after this long.
        tls: dict[str, Any] = {}
        if ssl_context is not None:
            tls = {"ssl": ssl_context, "ssl_handshake_timeout": config.timeout_tls_handshake}
        for sock in self.sockets:
            server = await self._loop.create_server(
                factory, sock=sock, backlog=config.backlog, **tls
            )
            self.servers.append(server)
        self.announce_listening()

    def announce_listening(self) -> None:
        """Log where this server listens. A supervised worker overrides it to report ready."""
        for sock in self.sockets:
            logger.info(
                "pounce running on %s (Press CTRL+C to quit)", describe_socket(sock, self.config)
            )
        logger.info(
            "pounce %s on %s; %s",
            __version__,
            python_description(),
            implementations(self.config),
        )

    def _schedule_tick(self) -> None:
        assert self._loop is not None and self.state is not None
        interval = self.state.sweep_interval
        if self.config.callback_notify is not None:
            # The heartbeat may lag timeout_notify by at most a quarter of it, whatever the
            # sweep interval (gunicorn kills a worker silent for twice its timeout_notify).
            interval = min(interval, self.config.timeout_notify / 4)
        self._tick_handle = self._loop.call_later(interval, self._tick)

    def _notify(self) -> None:
        """Call ``callback_notify`` when ``timeout_notify`` has passed since the last call."""
        assert self._loop is not None and self.config.callback_notify is not None
        now = self._loop.time()
        if now - self._last_notified < self.config.timeout_notify:
            return
        self._last_notified = now
        result = self.config.callback_notify()
        if inspect.isawaitable(result):  # uvicorn's callback_notify is a coroutine function
            self._notify_task = asyncio.ensure_future(result)

    def _tick(self) -> None:
        assert self._loop is not None and self.state is not None
        if self.config.callback_notify is not None:
            self._notify()
        if self.state.tick():
            # Connections marked idle get their second look one loop iteration later (see
            # pounce/state.py): one timer per sweep, never one per connection or request.
            self._recheck_handle = self._loop.call_later(RECHECK_DELAY, self.state.sweep)
        if not self.force_exit:
            self._schedule_tick()

    # Stopping ---------------------------------------------------------------------------

    async def _shutdown(self) -> None:
        state = self.state
        assert state is not None
        logger.info("Shutting down")
        self._stop_accepting()
        state.shutting_down = True
        for conn in list(state.connections):
            drain = getattr(conn, "drain", None) if self._draining else None
            if drain is not None:
                drain(DRAIN_IDLE_GRACE)
            else:
                conn.shutdown()
        timeout = self.config.timeout_graceful_shutdown
        try:
            await asyncio.wait_for(self._wait_until_idle(), timeout=timeout)
        except asyncio.TimeoutError:
            logger.error(
                "Cancel %d running task(s), timeout graceful shutdown exceeded",
                len(state.tasks),
            )
        self._abort_remaining()
        for handle in (self._tick_handle, self._recheck_handle):
            if handle is not None:
                handle.cancel()
        if not self.force_exit and self.lifespan is not None:
            await self.lifespan.shutdown()
        for server in self.servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1.0)
        logger.info("Finished server process [%d]", os.getpid())

    def _stop_accepting(self) -> None:
        for server in self.servers:
            server.close()
        if self.config.uds and self.config.fd is None and self._own_sockets:
            with contextlib.suppress(OSError):
                os.unlink(self.config.uds)

    async def _wait_until_idle(self) -> None:
        state = self.state
        assert state is not None
        if state.connections and not self.force_exit:
            logger.info("Waiting for connections to close. (CTRL+C to force quit)")
        while state.connections and not self.force_exit:
            await asyncio.sleep(0.05)
        if state.tasks and not self.force_exit:
            logger.info("Waiting for background tasks to complete. (CTRL+C to force quit)")
        while state.tasks and not self.force_exit:
            await asyncio.sleep(0.05)

    def _abort_remaining(self) -> None:
        state = self.state
        assert state is not None
        for task in list(state.tasks):
            task.cancel()
        for conn in list(state.connections):
            transport = getattr(conn, "transport", None)
            if transport is not None:
                transport.abort()

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signals can only be handled in the main thread
        assert self._loop is not None
        for sig in HANDLED_SIGNALS:
            try:
                self._loop.add_signal_handler(sig, self.handle_exit, sig)
            except (NotImplementedError, RuntimeError):  # pragma: no cover - non-Unix
                signal.signal(sig, lambda s, f: self.handle_exit(s))

    def handle_exit(self, sig: int) -> None:
        """First SIGINT/SIGTERM: graceful stop. A second SIGINT: stop now."""
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        self.request_exit()

    def request_exit(self) -> None:
        self.should_exit = True
        if self._exit_event is not None:
            self._exit_event.set()

    # Worker controls (used by the supervisor) -------------------------------------------

    def set_lifespan_state(self, state: dict[str, Any]) -> None:
        """Share a lifespan state dict with every request (before serving starts)."""
        self._lifespan_state = state
        if self.state is not None:
            self.state.lifespan_state = state

    def start_draining(self) -> None:
        """Stop accepting; finish the connections in progress, then exit.

        Unlike ``shutdown`` an idle keep-alive connection is not closed at once: it gets
        ``DRAIN_IDLE_GRACE`` for a next request, which is answered with ``connection: close``.
        That is what makes a rolling restart lose no request on a busy keep-alive connection.
        """
        self._draining = True
        self._call_in_loop(self.request_exit)

    def is_idle(self) -> bool:
        """True when no connection or app task is in progress."""
        state = self.state
        return state is None or (not state.connections and not state.tasks)

    def shutdown(self) -> None:
        """Ask the server to stop. Safe to call from any thread."""
        self._call_in_loop(self.request_exit)

    def _call_in_loop(self, fn: Callable[[], None]) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            self.should_exit = True
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            fn()
        else:
            loop.call_soon_threadsafe(fn)


def _cancel_all_tasks(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
