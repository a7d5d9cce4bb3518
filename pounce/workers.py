"""gunicorn worker classes: ``gunicorn -k pounce.workers.PounceWorker module:app``.

gunicorn's arbiter binds the listening sockets, forks the workers, watches their heartbeats and
handles the master's signals; each worker process runs one pounce ``Server`` on the sockets it
inherited. This is the counterpart of ``uvicorn_worker.UvicornWorker`` (the ``uvicorn-worker``
package), and needs ``pip install 'pounce[gunicorn]'``.

What gunicorn's settings become (everything else is pounce's default):

- the sockets: ``--bind``, ``--backlog``, ``--reuse-port`` (the arbiter's, adopted as they are);
- ``--keep-alive`` -> ``timeout_keep_alive``; ``--graceful-timeout`` -> the drain limit;
- ``--limit-request-line/-fields/-field_size`` -> the same pounce limits (gunicorn's 0,
  "unlimited", becomes pounce's whole-head limit);
- ``--forwarded-allow-ips`` -> ``forwarded_allow_ips``;
- gunicorn 25+: ``--root-path``, ``--asgi-lifespan`` -> ``lifespan``,
  ``--websocket-max-message-size`` -> ``ws_max_size``;
- ``--certfile/--keyfile/--ca-certs/--cert-reqs/--ciphers/--ssl-version`` -> pounce's TLS;
- ``--max-requests`` (+ ``--max-requests-jitter``, drawn by gunicorn as ``self.max_requests``):
  the worker drains and exits after that many requests, and the arbiter starts another;
- ``--timeout``: the heartbeat. gunicorn gives the worker half of it as ``self.timeout``; the
  server's tick calls ``notify()`` that often (``timeout_notify``/``callback_notify``), so a
  worker whose event loop is blocked stops notifying and the arbiter replaces it;
- logging: pounce's ``pounce.error`` and ``pounce.access`` loggers write through gunicorn's
  error and access handlers (``--error-logfile``, ``--access-logfile``, ``--log-level``); without
  ``--access-logfile`` no access record is made at all.

Signals, as gunicorn's own workers read them: SIGTERM drains (the requests in flight are
answered, the next request on a keep-alive connection gets ``connection: close``), SIGINT and
SIGQUIT stop at once (after gunicorn's ``worker_int`` hook), SIGUSR1 reopens the log files,
SIGABRT (the arbiter's timeout kill) runs gunicorn's ``worker_abort`` hook and exits. SIGHUP is
the arbiter's: it starts new workers and sends SIGTERM to the old ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import ssl
import sys
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

from gunicorn.arbiter import Arbiter
from gunicorn.workers.base import Worker

from ._version import __version__
from .config import DEFAULT_MAX_HEAD_SIZE, Config, python_description
from .errors import AppLoadError, ConfigError
from .loops import new_event_loop
from .server import Server, _cancel_all_tasks, implementations
from .sockets import describe_socket

logger = logging.getLogger("pounce.error")

__all__ = ["PounceH11Worker", "PounceWorker"]


class GunicornServer(Server):
    """A ``Server`` inside a gunicorn worker: gunicorn's signals, ``--max-requests``."""

    def __init__(self, config: Config, worker: PounceWorker) -> None:
        super().__init__(config)
        self.worker = worker
        # gunicorn's base Worker sets max_requests to sys.maxsize when --max-requests is 0.
        self.max_requests: int | None = worker.max_requests if worker.cfg.max_requests > 0 else None
        self._recycling = False

    def announce_listening(self) -> None:
        # The arbiter already logged "Listening at: ..." once for all workers; each worker
        # says which implementations it runs (PounceWorker and PounceH11Worker differ).
        for sock in self.sockets:
            logger.debug("Worker [%d] serving %s", os.getpid(), describe_socket(sock, self.config))
        logger.info(
            "pounce %s on %s; %s", __version__, python_description(), implementations(self.config)
        )
        if self.max_requests is not None and self.state is not None:
            # Set only with --max-requests: the compiled HTTP/1.1 protocol counts requests only
            # when on_request is set, so the feature off costs nothing per request.
            self.state.on_request = self._count_request

    def _count_request(self, count: int) -> None:
        assert self.max_requests is not None
        if count >= self.max_requests and not self._recycling:
            self._recycling = True
            logger.info(
                "Worker [%d] served %d requests (--max-requests): restarting",
                os.getpid(),
                count,
            )
            # A drain: what is in flight is answered, and the next request on each keep-alive
            # connection too, with connection: close. The arbiter starts a replacement when we
            # exit; the listening socket is shared, so connections queued meanwhile wait in the
            # kernel for another worker.
            self.start_draining()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # Replaces Server's handlers, whose meaning (a second SIGINT forces, a received signal
        # is raised again after serve()) is not gunicorn's. The loop's handlers run in the
        # loop, so none interrupts the app in the middle of a request; init_signals() left the
        # others at their defaults (as uvicorn-worker does).
        loop = asyncio.get_running_loop()
        handlers: dict[int, Callable[[], None]] = {
            signal.SIGTERM: self._graceful_exit,
            signal.SIGINT: self._quick_exit,
            signal.SIGQUIT: self._quick_exit,
            signal.SIGUSR1: self.worker.log.reopen_files,
        }
        for sig, handler in handlers.items():
            loop.add_signal_handler(sig, handler)
        try:
            yield
        finally:
            for sig in handlers:
                loop.remove_signal_handler(sig)

    def _graceful_exit(self) -> None:
        """SIGTERM (the arbiter's graceful stop, the old workers of a SIGHUP): drain."""
        self.worker.alive = False
        self.start_draining()

    def _quick_exit(self) -> None:
        """SIGINT/SIGQUIT (the arbiter's quick stop): abort what is in flight and exit."""
        self.worker.alive = False
        self.worker.cfg.worker_int(self.worker)
        self.force_exit = True
        self.request_exit()


class PounceWorker(Worker):
    """A gunicorn worker running pounce: ``gunicorn -k pounce.workers.PounceWorker``."""

    # Implementation choices, as uvicorn-worker's CONFIG_KWARGS (``auto``: the compiled ones).
    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {"loop": "auto", "http": "auto"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # pounce logs through gunicorn's handlers (the same list objects, so that gunicorn's
        # reopen_files on SIGUSR1 reaches them), at gunicorn's levels.
        for name, source in (
            ("pounce.error", self.log.error_log),
            ("pounce.access", self.log.access_log),
        ):
            target = logging.getLogger(name)
            target.handlers = source.handlers
            target.setLevel(source.level)
            target.propagate = False
        self.pounce_config: Config | None = None

    def pounce_options(self) -> dict[str, Any]:
        """pounce's Config keywords for gunicorn's settings (see the module docstring)."""
        cfg = self.cfg
        options: dict[str, Any] = {
            "log_config": None,
            # No handler: no record either, so no per-request formatting for nothing.
            "access_log": bool(self.log.access_log.handlers),
            "timeout_keep_alive": cfg.keepalive,
            "timeout_notify": self.timeout,
            "callback_notify": self.notify,
            "forwarded_allow_ips": list(cfg.forwarded_allow_ips),
            "backlog": cfg.backlog,
            # gunicorn's 0 means "no limit of its own"; pounce still bounds the whole head.
            "limit_request_line": cfg.limit_request_line or DEFAULT_MAX_HEAD_SIZE,
            "limit_request_field_size": cfg.limit_request_field_size or DEFAULT_MAX_HEAD_SIZE,
            "limit_request_fields": cfg.limit_request_fields,
            # A second less than the arbiter's SIGKILL deadline, so that the worker itself
            # cancels what is left and runs lifespan shutdown.
            "timeout_graceful_shutdown": max(0.0, float(cfg.graceful_timeout) - 1.0),
            "app_dir": None,  # gunicorn's --chdir/--pythonpath already set sys.path
        }
        # Settings of gunicorn's own ASGI worker (gunicorn 25+; absent before).
        settings = cfg.settings
        if "root_path" in settings and cfg.root_path:
            options["root_path"] = cfg.root_path
        if "asgi_lifespan" in settings:
            options["lifespan"] = cfg.asgi_lifespan
        if "websocket_max_message_size" in settings:
            options["ws_max_size"] = cfg.websocket_max_message_size
        if cfg.is_ssl:
            ssl_options = cfg.ssl_options
            options.update(
                ssl_certfile=ssl_options.get("certfile"),
                ssl_keyfile=ssl_options.get("keyfile"),
                ssl_cert_reqs=int(ssl_options.get("cert_reqs") or ssl.CERT_NONE),
                ssl_ca_certs=ssl_options.get("ca_certs"),
            )
            version = ssl_options.get("ssl_version")
            # gunicorn's default, PROTOCOL_TLS, is the both-sides protocol (deprecated for a
            # server context since Python 3.10): pounce's own default is the server one.
            if version is not None and version != ssl.PROTOCOL_TLS:
                options["ssl_version"] = int(version)
            if ssl_options.get("ciphers"):
                options["ssl_ciphers"] = ssl_options["ciphers"]
        options.update(self.CONFIG_KWARGS)
        return options

    def init_process(self) -> None:
        # Validate before gunicorn marks the worker booted: a bad setting is a boot error
        # (exit code 3, the arbiter stops), not a worker the arbiter restarts forever.
        try:
            self.pounce_config = Config(app=_not_loaded_yet, **self.pounce_options())
            self.pounce_config.ssl_context()  # a certificate that cannot load: before lifespan
        except ConfigError as exc:
            self.log.error("Error: %s", gunicorn_option_names(str(exc)))
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
        super().init_process()

    def init_signals(self) -> None:
        # gunicorn's handlers (signal.signal) would run in the middle of the event loop's work
        # and its SIGTERM handler only sets ``alive``; the server installs loop handlers for
        # TERM/INT/QUIT/USR1 when it starts (GunicornServer._install_signal_handlers). Until
        # then the defaults apply, so a worker still importing the app stops at once.
        for sig in self.SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGUSR1, self.handle_usr1)
        signal.siginterrupt(signal.SIGUSR1, False)
        signal.signal(signal.SIGABRT, self.handle_abort)
        signal.signal(signal.SIGWINCH, self.handle_winch)

    def handle_abort(self, sig: int, frame: Any) -> None:
        """SIGABRT: the arbiter's kill of a worker whose heartbeat stopped (``--timeout``).

        The loop is blocked, so this runs inside whatever the app was doing. gunicorn's own
        handler raises SystemExit there, which the app or the event loop may catch (uvloop
        logs it as a fatal transport error and carries on, heartbeat and all): exit for sure.
        """
        self.alive = False
        try:
            self.cfg.worker_abort(self)
        finally:
            for handler in self.log.error_log.handlers:
                handler.flush()
            os._exit(1)

    def run(self) -> None:
        assert self.pounce_config is not None
        # self.wsgi is what gunicorn loaded: in this process, or in the arbiter with --preload.
        config = self.pounce_config.replace(app=self.wsgi)
        server = GunicornServer(config, self)
        loop = new_event_loop(config)
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.serve([s.sock for s in self.sockets]))
        except (AppLoadError, ConfigError) as exc:
            # An app that is not callable, a certificate that cannot be loaded: one line, and
            # the arbiter stops rather than restarting a worker that cannot work.
            self.log.error("Error: %s", gunicorn_option_names(str(exc)))
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
        finally:
            _cancel_all_tasks(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            asyncio.set_event_loop(None)
            loop.close()
        if not server.started:
            # Lifespan startup failed (already logged): gunicorn's "Worker failed to boot".
            sys.exit(Arbiter.WORKER_BOOT_ERROR)


# pounce's option names in a ConfigError -> the gunicorn settings they were made from.
_GUNICORN_OPTIONS = {
    "--ssl-certfile": "--certfile",
    "--ssl-keyfile": "--keyfile",
    "--ssl-ca-certs": "--ca-certs",
    "--ssl-cert-reqs": "--cert-reqs",
    "--ssl-ciphers": "--ciphers",
    "--timeout-keep-alive": "--keep-alive",
    "--limit-request-field-size": "--limit-request-field_size",
    "--timeout-graceful-shutdown": "--graceful-timeout",
    "--lifespan": "--asgi-lifespan",
    "--ws-max-size": "--websocket-max-message-size",
}


def gunicorn_option_names(message: str) -> str:
    """A ConfigError's message naming the gunicorn option the user actually set."""
    option, sep, rest = message.partition(":")
    return _GUNICORN_OPTIONS.get(option, option) + sep + rest


class PounceH11Worker(PounceWorker):
    """The pure-Python variant: h11 and asyncio's own loop (no httptools, no uvloop)."""

    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {"loop": "asyncio", "http": "h11"}


async def _not_loaded_yet(scope: Any, receive: Any, send: Any) -> None:  # pragma: no cover
    """A placeholder app while the settings are checked; run() replaces it with the real one."""
    raise RuntimeError("the gunicorn worker's app is not loaded yet")
