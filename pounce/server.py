"""One worker: bind or adopt the socket, run lifespan, serve, drain and shut down.

The public surface is uvicorn's ``Server``: ``run()``, ``serve()``, which is ``startup()`` +
``main_loop()`` + ``shutdown()``, and the ``started``, ``should_exit`` and ``force_exit``
attributes, which may be set from another thread or from the app. The supervisor's worker
(pounce/worker.py) also uses ``start_draining``, ``is_idle``, ``stop`` and
``set_lifespan_state``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import logging
import os
import random
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from types import FrameType
from typing import Any, cast

# Each selector records in _compat which build it loaded, and speedups_status() reads that
# record: implementations() reports it, so every selector is imported here, at the top.
from pounce import _headers  # noqa: F401  # selector of the header codec
from pounce.asgi import cycle  # the selector of the request/response cycle
from pounce.asgi.scope import Address
from pounce.asgi.types import ASGIApp, Receive, Scope, Send
from pounce.http1.protocol import H1Protocol
from pounce.http2.connection import IMPLEMENTATION as h2_core
from pounce.websocket import mask  # noqa: F401  # selector of the WebSocket unmasking
from pounce.websocket.core import IMPLEMENTATION as ws_core
from pounce.websocket.session import IMPLEMENTATION as ws_session

from ._compat import speedups_status
from ._version import __version__
from .alpn import AlpnSelector
from .config import Config, python_description
from .errors import EXIT_APP, EXIT_USAGE, BindError, ConfigError
from .importer import load_app
from .interfaces import is_wsgi_adapter
from .lifespan import Lifespan
from .logs import configure_logging
from .loops import new_event_loop
from .proxy import ProxyTrust
from .proxy_listener import ProxyHeaderReader
from .rss import MIB, RssLimit
from .sd_notify import Notifier
from .sockets import bind_socket, describe_socket
from .state import RECHECK_DELAY, ServerState

logger = logging.getLogger("pounce.error")

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# A draining worker (rolling restart, recycling) leaves an idle keep-alive connection open this
# long, so that a request already on its way is answered (with "connection: close") rather
# than met by a close. Another worker has taken over the listening socket meanwhile.
DRAIN_IDLE_GRACE = 1.0


def implementations(config: Config) -> str:
    """``speedups: compiled, http: httptools, loop: uvloop, ws: compiled, ws session: compiled,
    h2: compiled`` for logs and ``--version``. ``ws`` names the WebSocket frame core:
    ``compiled`` or ``wsproto`` (``none`` with ``--ws none``, and then no ``ws session``);
    ``ws session`` the session's build: ``compiled`` or ``pure``; ``h2`` the HTTP/2 core:
    ``compiled`` or ``h2`` (the library)."""
    ws = "ws: none" if config.ws == "none" else f"ws: {ws_core}, ws session: {ws_session}"
    return (
        f"speedups: {speedups_status()}, http: {config.http_name}, loop: {config.loop_name}, "
        f"{ws}, h2: {h2_core}"
    )


class Server:
    """A single-process pounce server, with uvicorn's ``Server`` API.

    ``should_exit = True`` (from any thread, or from the app) makes ``main_loop()`` return
    within one tick (``ServerState.sweep_interval``, at most 1 s); ``force_exit = True`` during
    ``shutdown()`` stops waiting for connections and tasks and skips lifespan shutdown.
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self.state: ServerState | None = None
        self.lifespan: Lifespan | None = None
        self.servers: list[asyncio.AbstractServer] = []
        self.sockets: list[socket.socket] = []
        self.loaded_app: ASGIApp | None = None
        self.started = False
        self.should_exit = False
        self.force_exit = False
        self.exit_code = 0
        # serve() re-raises a SIGINT/SIGTERM it handled once the previous handlers are back,
        # as uvicorn's capture_signals: a program that embeds the server still gets stopped.
        # The CLI and the supervisor's workers turn this off and exit with exit_code instead.
        self.reraise_signals = True
        self._captured_signals: list[int] = []
        self._draining = False
        self._own_sockets = True
        self._limit_reached = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._exit_event: asyncio.Event | None = None
        self._tick_handle: asyncio.TimerHandle | None = None
        self._recheck_handle: asyncio.TimerHandle | None = None
        self._lifespan_state: dict[str, Any] = {}
        self._last_notified = float("-inf")
        self._notify_task: asyncio.Future[Any] | None = None
        # systemd's sd_notify(3), given by pounce.supervisor.serve_config to the process systemd
        # started when it runs as one server (never to a supervised worker).
        self.notifier: Notifier | None = None
        self._rss_limit: RssLimit | None = None

    # Running ----------------------------------------------------------------------------

    def run(self, sockets: Sequence[socket.socket] | None = None) -> int:
        """Run until stopped, on the loop ``--loop`` selects. Returns the exit code.

        The app is imported before the loop exists, so that an app module may itself call
        ``asyncio.run()`` at import time (it cannot once a loop is running in this thread)."""
        configure_logging(self.config)
        self.load()
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

    def load(self) -> ASGIApp:
        """Load ``--env-file`` and import the app (once). ``run()`` does it before the loop
        starts; ``serve()`` does it if nobody did."""
        if self.loaded_app is None:
            self.config.load_env_file()
            self.loaded_app = load_app(self.config)
            if self.config.ws != "none" and is_wsgi_adapter(self.loaded_app):
                # A WSGI app cannot take a WebSocket: an upgrade is an HTTP request to it.
                self.config = self.config.replace(ws="none")
        return self.loaded_app

    async def serve(self, sockets: Sequence[socket.socket] | None = None) -> None:
        """``startup()``, ``main_loop()`` until a stop is requested, then ``shutdown()``.

        SIGINT and SIGTERM are handled while it runs (in the main thread); the previous
        handlers are restored afterwards and a signal received meanwhile is raised again."""
        with self.capture_signals():
            await self._serve(sockets)

    async def _serve(self, sockets: Sequence[socket.socket] | None) -> None:
        self.load()
        logger.info("Started server process [%d]", os.getpid())
        await self.startup(sockets)
        if not self.started:
            return
        if not self.should_exit:
            await self.main_loop()
        await self.shutdown(sockets)
        logger.info("Finished server process [%d]", os.getpid())

    async def startup(self, sockets: Sequence[socket.socket] | None = None) -> None:
        """Run lifespan startup, then listen on ``sockets`` (or bind per the config).

        On failure ``started`` stays False, ``exit_code`` is 3 and ``should_exit`` is set;
        a socket that cannot be bound is logged in one line and lifespan shutdown runs."""
        config = self.config
        loop = self._loop = asyncio.get_running_loop()
        self._exit_event = asyncio.Event()
        app = self.load()
        # Built before lifespan startup: a bad certificate is a config error (exit 2) that
        # should not run the app's startup first.
        ssl_context = config.ssl_context()
        state = self.state = ServerState(config, app, loop)
        # What the timed cycles do at their end: count into the worker's metrics, log.
        cycle.time_requests(state.metrics, state.access_log)
        state.lifespan_state = self._lifespan_state
        if config.reset_contextvars:
            state.app = _in_fresh_context(app)
        self._count_requests()
        if config.limit_max_rss is not None:
            self._rss_limit = RssLimit(config.limit_max_rss, self._rss_exceeded)
        self.lifespan = Lifespan(app, config.lifespan, state.lifespan_state)
        await self.lifespan.startup()
        if self.lifespan.should_exit:
            self._startup_failed()
            return
        try:
            await self._start_listening(sockets, ssl_context)
        except (ConfigError, OSError) as exc:
            # uvicorn: log the bind error, run lifespan shutdown, exit 3 (a misused --fd is
            # still a usage error, 2).
            logger.error("Error: %s", exc)
            self._stop_accepting()
            await self.lifespan.shutdown()
            self._startup_failed()
            if isinstance(exc, ConfigError) and not isinstance(exc, BindError):
                self.exit_code = EXIT_USAGE
            return
        self.started = True
        self._schedule_tick()

    def _startup_failed(self) -> None:
        self.exit_code = EXIT_APP
        self.should_exit = True

    async def main_loop(self) -> None:
        """Serve until ``should_exit``: a signal, ``stop()`` or ``start_draining()`` ends it
        at once, ``should_exit = True`` set directly at the next tick, and
        ``limit_max_requests`` after that many requests."""
        assert self._exit_event is not None, "main_loop() runs after startup()"
        if self._tick_handle is None:
            self._schedule_tick()
        while not self.should_exit:
            await self._exit_event.wait()
            self._exit_event.clear()

    def _count_requests(self) -> None:
        """``limit_max_requests`` for a server run on its own (the supervisor's workers ask
        to be recycled instead). Only then is ``on_request`` set: no cost per request without."""
        limit = self.config.limit_max_requests
        if limit is None or self.state is None:
            return
        # As uvicorn: each server picks its own jitter, so that servers do not stop together.
        limit += random.randint(0, self.config.limit_max_requests_jitter)

        def on_request(count: int) -> None:
            if count >= limit and not self._limit_reached:
                self._limit_reached = True
                logger.info("Maximum request limit of %d exceeded. Terminating process.", limit)
                self.request_exit()

        self.state.on_request = on_request

    def _rss_exceeded(self, rss: int) -> None:
        """``limit_max_rss`` for a server run on its own: stop gracefully, as at
        ``limit_max_requests`` (the supervisor's workers ask to be replaced instead)."""
        logger.info(
            "Resident memory %d MiB stayed above the limit of %d MiB (--limit-max-rss). "
            "Terminating process.",
            rss // MIB,
            self.config.limit_max_rss,
        )
        self.request_exit()

    async def _start_listening(
        self, sockets: Sequence[socket.socket] | None, ssl_context: Any = None
    ) -> None:
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

        alpn = ssl_context is not None and config.http2

        def factory(client: Address = None) -> asyncio.Protocol:
            # ``client``: a PROXY header's source (pounce/proxy_listener.py); None for the peer.
            if alpn:
                return AlpnSelector(state, parser, client)  # hands over to h2 or http/1.1
            # An asyncio.Protocol by its methods (its base is the cycle's CompiledWriter).
            return cast(asyncio.Protocol, H1Protocol(state, parser, client))

        # --timeout-tls-handshake: a client that connects and stalls in (or before) the
        # handshake is dropped by the loop's own TLS machinery after this long.
        tls: dict[str, Any] = {}
        first: Callable[[], asyncio.Protocol] = factory
        if config.proxy_protocol:
            # The PROXY header comes before HTTP and before TLS: the reader starts each
            # connection and starts TLS itself once the header is read (pounce/proxy_listener.py).
            trust = ProxyTrust(config.trusted_proxies)

            def first() -> asyncio.Protocol:
                return ProxyHeaderReader(state, trust, factory, ssl_context)

        elif ssl_context is not None:
            tls = {"ssl": ssl_context, "ssl_handshake_timeout": config.timeout_tls_handshake}
        for sock in self.sockets:
            accept = first
            if state.metrics is not None:
                # Counted by the factory the listener calls: the protocols count nothing.
                kind = "tls" if ssl_context is not None else _transport_of(sock)
                accept = state.metrics.counting(first, kind)
            server = await self._loop.create_server(
                accept, sock=sock, backlog=config.backlog, **tls
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
        if self.notifier is not None:
            where = ", ".join(describe_socket(sock, self.config) for sock in self.sockets)
            self.notifier.ready(f"Serving on {where}")

    def _schedule_tick(self) -> None:
        assert self._loop is not None and self.state is not None
        interval = self.state.sweep_interval
        if self.config.callback_notify is not None:
            # The heartbeat may lag timeout_notify by at most a quarter of it, whatever the
            # sweep interval (gunicorn kills a worker silent for twice its timeout_notify).
            interval = min(interval, self.config.timeout_notify / 4)
        if self.notifier is not None and self.notifier.watchdog_interval:
            # WATCHDOG=1 at most a quarter of the systemd watchdog timeout late.
            interval = min(interval, self.notifier.watchdog_interval / 2)
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
        if (self.should_exit or self.force_exit) and self._exit_event is not None:
            # Set from another thread or by the app: seen here, on the tick, as uvicorn's
            # main_loop polls them on its own. force_exit alone stops too (then skipping the
            # graceful part of shutdown).
            self.should_exit = True
            self._exit_event.set()
        if self.config.callback_notify is not None:
            self._notify()
        if self.notifier is not None:
            self.notifier.watchdog(self._loop.time())
        if self._rss_limit is not None:
            self._rss_limit.check(self._loop.time())
        if self.state.tick():
            # Connections marked idle get their second look one loop iteration later (see
            # pounce/state.py): one timer per sweep, never one per connection or request.
            self._recheck_handle = self._loop.call_later(RECHECK_DELAY, self.state.sweep)
        # Until shutdown() cancels it: connections still draining need their deadlines.
        self._schedule_tick()

    # Stopping ---------------------------------------------------------------------------

    async def shutdown(self, sockets: Sequence[socket.socket] | None = None) -> None:
        """Stop accepting, finish (or, past ``--timeout-graceful-shutdown``, cancel) what is in
        flight, then run lifespan shutdown unless ``force_exit``. ``sockets`` are closed."""
        state = self.state
        assert state is not None, "shutdown() runs after startup()"
        self.should_exit = True
        logger.info("Shutting down")
        if self.notifier is not None:
            self.notifier.stopping("Shutting down")
        self._stop_accepting()
        for sock in sockets or ():
            sock.close()
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
        self._tick_handle = self._recheck_handle = None
        if not self.force_exit and self.lifespan is not None:
            await self.lifespan.shutdown()
        for server in self.servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1.0)

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

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Handle SIGINT/SIGTERM while serving, then put the previous handlers back.

        ``signal.signal`` rather than ``loop.add_signal_handler``: the latter cannot give the
        previous handler back. A signal received while serving is raised again afterwards
        (last first), so that e.g. a SIGTERM still ends a program that embeds the server."""
        if threading.current_thread() is not threading.main_thread():
            yield  # signals can only be handled in the main thread
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in HANDLED_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if self.reraise_signals:
            for captured in reversed(self._captured_signals):
                signal.raise_signal(captured)

    def handle_exit(self, sig: int, frame: FrameType | None = None) -> None:
        """First SIGINT/SIGTERM: graceful stop. A second SIGINT: stop now."""
        self._captured_signals.append(sig)
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        # Runs in the main thread between two bytecodes, possibly inside the loop's own code:
        # wake the loop through its thread-safe queue instead of touching the event directly.
        self._call_in_loop(self.request_exit, threadsafe=True)

    def request_exit(self) -> None:
        """In the loop's thread: stop serving now."""
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

    def stop(self) -> None:
        """Ask the server to stop, at once rather than at the next tick. Any thread."""
        self._call_in_loop(self.request_exit)

    def _call_in_loop(self, fn: Callable[[], None], threadsafe: bool = False) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            self.should_exit = True
            return
        if threadsafe:
            self.should_exit = True
            loop.call_soon_threadsafe(fn)
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            fn()
        else:
            loop.call_soon_threadsafe(fn)


def _transport_of(sock: socket.socket) -> str:
    """The metrics' label of a plain listening socket: ``unix`` or ``tcp``."""
    return "unix" if sock.family == getattr(socket, "AF_UNIX", None) else "tcp"


def _cancel_all_tasks(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))


def _in_fresh_context(app: ASGIApp) -> ASGIApp:
    """``reset_contextvars``: run each request in an empty ``contextvars.Context``.

    The protocols start the request's task with the current context, so the app runs in a
    task of its own created with an empty one. Only installed when the option is on: without
    it nothing is added to a request."""

    async def app_in_fresh_context(scope: Scope, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        coro = app(scope, receive, send)
        if sys.version_info >= (3, 11):
            await loop.create_task(coro, context=contextvars.Context())  # type: ignore[arg-type]  # an app returns a coroutine
        else:
            # 3.10's create_task has no context= (added in 3.11): a task copies the context it
            # is created in, so create it inside an empty one.
            await contextvars.Context().run(loop.create_task, coro)  # type: ignore[arg-type]  # an app returns a coroutine

    return app_in_fresh_context
