"""``--reload``: restart the server when watched files change (development only).

The reloader binds the socket once and runs the server in a child process made with the
``spawn`` start method: a fresh interpreter that imports the app and every module anew, which a
``fork`` of this process could not guarantee (and this process runs watchfiles' threads, which
must not be forked). The child is an ordinary pounce (one server, or the prefork supervisor
with ``--workers``) on the inherited socket, so no connection is refused during a restart: they
wait in the listen queue for the new child.

watchfiles is an optional dependency: ``pip install pounce[reload]``.
"""

from __future__ import annotations

import contextlib
import fnmatch
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .config import Config
from .errors import AppLoadError, ConfigError
from .importer import AppPathError, check_app_path
from .logs import configure_logging
from .sockets import bind_socket, describe_socket
from .supervisor import serve_config

logger = logging.getLogger("pounce.error")

DEFAULT_INCLUDES = ("*.py",)
# As uvicorn's defaults: hidden files, compiled Python, editor swap and backup files.
DEFAULT_EXCLUDES = (".*", ".py[cod]", ".sw.*", "~*")
# How long a child gets to stop gracefully before it is killed, when no
# --timeout-graceful-shutdown says otherwise.
CHILD_STOP_TIMEOUT = 10.0
# How often (ms) the watcher returns to check for a stop or a child that died.
WATCH_TIMEOUT_MS = 500


class ReloadFilter:
    """Which changed paths trigger a restart: ``--reload-include`` / ``--reload-exclude``.

    A pattern matches a file name (``*.py``) or a path suffix (``templates/*.html``); an
    exclude pattern also matches a directory name below a watched directory (``.venv``,
    ``node_modules``) or names an existing directory (``--reload-exclude build``).
    """

    def __init__(
        self, dirs: Sequence[Path], includes: Sequence[str], excludes: Sequence[str]
    ) -> None:
        self.dirs = [d.resolve() for d in dirs]
        self.includes = list(includes) or list(DEFAULT_INCLUDES)
        excludes = list(excludes) or list(DEFAULT_EXCLUDES)
        self.exclude_dirs = [Path(p).resolve() for p in excludes if Path(p).is_dir()]
        self.excludes = [p for p in excludes if not Path(p).is_dir()]
        self._default: Callable[[Any, str], bool] | None = None
        with contextlib.suppress(ImportError):
            from watchfiles import DefaultFilter  # noqa: PLC0415  # optional (watchfiles)

            # Still skip .git, __pycache__, .venv and the like, whatever the patterns say.
            self._default = DefaultFilter()

    def __call__(self, change: Any, path: str) -> bool:
        if self._default is not None and not self._default(change, path):
            return False
        return self.matches(Path(path))

    def matches(self, path: Path) -> bool:
        path = path.resolve()
        if any(path.is_relative_to(d) for d in self.exclude_dirs):
            return False
        name = path.name
        if any(_match(path, name, pattern) for pattern in self.excludes):
            return False
        for base in self.dirs:
            if path.is_relative_to(base):
                parents = path.relative_to(base).parts[:-1]
                if any(fnmatch.fnmatch(part, p) for part in parents for p in self.excludes):
                    return False
        return any(_match(path, name, pattern) for pattern in self.includes)


def _as_list(value: str | Sequence[str]) -> list[str]:
    """``pounce.run(reload_dirs="src")`` means one directory, not three letters."""
    return [value] if isinstance(value, str) else list(value)


def _match(path: Path, name: str, pattern: str) -> bool:
    return fnmatch.fnmatch(name, pattern) or ("/" in pattern and path.match(pattern))


class Reloader:
    """Runs the server in a child process and restarts it when watched files change."""

    def __init__(self, config: Config, sockets: Sequence[socket.socket] | None = None) -> None:
        self.config = config
        # Sockets handed in (systemd's socket activation) are served instead of binding one.
        self.given_sockets = list(sockets) if sockets is not None else None
        # The reloader binds the one socket and keeps it across restarts, so the child serves
        # that socket: --reuse-port (a socket per worker) does not apply under --reload.
        # debug resolved here: the child's reload=False would turn --reload's debug page off.
        self.child_config = config.replace(
            reload=False, reuse_port=False, debug=config.debug_enabled
        )
        dirs = [Path(d) for d in _as_list(config.reload_dirs)] or [Path.cwd()]
        for d in dirs:
            if not d.is_dir():
                raise ConfigError(f"--reload-dir: {d} is not a directory")
        self.dirs = dirs
        self.filter = ReloadFilter(
            dirs, _as_list(config.reload_includes), _as_list(config.reload_excludes)
        )
        self.should_exit = threading.Event()
        self.signals: list[int] = []
        self.sockets: list[socket.socket] = []
        self.process: multiprocessing.process.BaseProcess | None = None

    def run(self) -> int:
        configure_logging(self.config)
        try:
            import watchfiles  # noqa: PLC0415  # optional (watchfiles): --reload
        except ImportError as exc:
            raise ConfigError(
                "--reload: watchfiles is not installed (pip install pounce[reload])"
            ) from exc
        config = self.config
        assert isinstance(config.app, str)  # Config refuses --reload with an app object
        check_app_path(config.app)
        if self.given_sockets is not None:
            self.sockets = self.given_sockets
        else:
            self.sockets = [bind_socket(config.replace(reuse_port=False))]
        logger.info(
            "Will watch for changes in these directories: %s",
            ", ".join(str(d.resolve()) for d in self.dirs),
        )
        logger.info("Started reloader process [%d] using WatchFiles", os.getpid())
        old = {
            sig: signal.signal(sig, self._enqueue_signal) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            self._start()
            watcher = watchfiles.watch(
                *self.dirs,
                watch_filter=self.filter,
                stop_event=self.should_exit,
                yield_on_timeout=True,
                rust_timeout=WATCH_TIMEOUT_MS,
                raise_interrupt=False,
            )
            for changes in watcher:
                if self.should_exit.is_set():
                    break
                if not changes:
                    continue
                # Edits often touch several files: wait, then fold in what changed meanwhile.
                if self.should_exit.wait(config.reload_delay):
                    break
                paths = sorted({self._display(p) for _, p in changes})
                logger.warning("WatchFiles detected changes in %s. Reloading...", ", ".join(paths))
                self._stop_child()
                self._start()
        finally:
            self._stop_child()
            for sig, handler in old.items():
                signal.signal(sig, handler)
            for sock in self.sockets:
                sock.close()
            if config.uds and config.fd is None and self.given_sockets is None:
                with contextlib.suppress(OSError):
                    os.unlink(config.uds)
        logger.info("Stopping reloader process [%d]", os.getpid())
        return 0

    def _display(self, path: str) -> str:
        """A changed path relative to the watched directory it is in (else absolute)."""
        resolved = Path(path).resolve()
        for base in self.filter.dirs:
            if resolved.is_relative_to(base):
                return str(resolved.relative_to(base))
        return str(resolved)

    def _enqueue_signal(self, sig: int, frame: Any) -> None:
        # Only records and wakes the watcher (which checks should_exit every few ms).
        self.signals.append(sig)
        self.should_exit.set()

    def _start(self) -> None:
        assert self.sockets
        context = multiprocessing.get_context("spawn")
        self.process = context.Process(
            target=_child_main, args=(self.child_config, self.sockets), name="pounce-reload-child"
        )
        self.process.start()
        logger.info(
            "Started child process [%s] on %s",
            self.process.pid,
            ", ".join(describe_socket(sock, self.config) for sock in self.sockets),
        )

    def _stop_child(self) -> None:
        process = self.process
        if process is None:
            return
        self.process = None
        if process.is_alive():
            process.terminate()  # SIGTERM: a graceful stop
            timeout = self.config.timeout_graceful_shutdown
            process.join(CHILD_STOP_TIMEOUT if timeout is None else timeout + 5)
            if process.is_alive():
                logger.error("Server process [%s] did not stop; killing it", process.pid)
                process.kill()
                process.join()
        elif process.exitcode:
            logger.info("Server process [%s] had exited with %s", process.pid, process.exitcode)


def _child_main(config: Config, sockets: list[socket.socket]) -> None:
    """The spawned child: run pounce on the reloader's sockets; exit with its exit code."""
    try:
        # The child's config has reload=False: the supervisor or one server serves it.
        code = serve_config(config, sockets)
    except AppPathError as exc:
        logging.getLogger("pounce.error").error("Error: %s", exc)
        code = 2
    except (AppLoadError, ConfigError) as exc:
        # The app is broken until the next edit: say so once and wait for that edit.
        logging.getLogger("pounce.error").error("Error: %s. Waiting for a change to reload.", exc)
        code = 3 if isinstance(exc, AppLoadError) else 2
    sys.stdout.flush()
    sys.exit(code)
