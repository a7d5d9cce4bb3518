"""The prefork supervisor: bind once, fork N workers on the shared socket, keep them healthy.

One synchronous loop does everything (no event loop lives in the supervisor, so a fork never
copies one). Signal handlers only append to a queue; ``signal.set_wakeup_fd`` wakes the loop's
``select``, which also watches every worker's control channel (see ``pounce/worker.py``).
Each turn of the loop: dispatch queued signals, reap dead children, check health and
deadlines, then start or drain workers until reality matches the plan.

- A worker that dies is replaced at once. One that dies before it was ready is a startup
  failure: at first boot with exit code 2/3 (the app cannot be imported or started) the
  supervisor stops with that code; otherwise it retries with a growing delay and gives up with
  exit code 3 after ``MAX_STARTUP_FAILURES`` in a row.
- Replacing a worker (SIGHUP, ``--limit-max-requests``, ``--limit-max-rss``) is "start the
  new one, wait until it is ready, then drain the old one", one worker at a time, so capacity
  never drops and the listening socket always has a worker accepting on it.
- SIGINT/SIGTERM: graceful stop. SIGQUIT (or a second SIGINT): immediate stop.
  SIGHUP: rolling restart. SIGTTIN/SIGTTOU: one worker more/fewer, never below one.
- Under systemd (``$NOTIFY_SOCKET``) the supervisor, never a worker, tells systemd READY once
  every worker serves, RELOADING and READY around a SIGHUP's rolling restart, STOPPING, and
  feeds the watchdog from this loop (pounce/sd_notify.py).
- ``--metrics-bind``: the supervisor serves /metrics, /livez and /readyz from this loop
  (pounce/metrics_listener.py), asks the workers for their counts over their channels, and
  keeps the last counts of every worker that exits (pounce/metrics_exposition.py).
- ``--shutdown-delay``: a SIGTERM first turns /readyz to 503 while everything keeps serving;
  the graceful stop starts when the delay is over.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import selectors
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ._version import __version__
from .config import WEBSOCKETS_ALIASES, Config, python_description
from .errors import EXIT_APP, ConfigError
from .importer import check_app_path, load_app
from .logs import configure_logging
from .metrics_exposition import Totals, render
from .metrics_listener import Marks, MetricsListener
from .sd_notify import Notifier
from .server import Server, implementations
from .sockets import bind_metrics_socket, bind_socket, describe_socket
from .worker import (
    MSG_OVER_RSS,
    MSG_PING,
    MSG_READY,
    MSG_RECYCLE,
    MSG_STATS,
    MSG_STATS_REQUEST,
    run_worker,
    take_messages,
)

logger = logging.getLogger("pounce.error")

# Consecutive workers that may die before they are ready before the supervisor gives up.
MAX_STARTUP_FAILURES = 5
# Delay before the n-th consecutive startup retry: BACKOFF_BASE * 2**(n-1), capped.
BACKOFF_BASE = 0.5
BACKOFF_MAX = 8.0
# A worker that is neither ready nor dead this long after its fork is killed (a hung import or
# lifespan startup would otherwise stall a rolling restart forever).
STARTUP_TIMEOUT = 60.0
# After --timeout-graceful-shutdown the worker itself cancels what is left and runs lifespan
# shutdown; the supervisor gives it this much longer before SIGKILL.
KILL_MARGIN = 3.0
# SIGQUIT: how long workers get to exit before SIGKILL.
QUIT_TIMEOUT = 1.0
# The loop wakes at least this often to send pings and check deadlines.
TICK = 0.2
# pounce_worker_restarts_total's cause label for a replacement asked for by ...
RESTART_CAUSES = {
    "SIGHUP": "sighup",
    "--limit-max-requests": "limit_max_requests",
    "--limit-max-rss": "limit_max_rss",
}

SIGNALS = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGQUIT,
    signal.SIGHUP,
    signal.SIGTTIN,
    signal.SIGTTOU,
    signal.SIGCHLD,
)


@dataclass(eq=False)
class Worker:
    """The supervisor's view of one worker process."""

    pid: int
    channel: socket.socket
    reason: str
    started: float
    max_requests: int | None
    ready_at: float | None = None
    last_seen: float = 0.0
    last_ping: float = 0.0
    draining_since: float | None = None
    killed: str = ""  # why the supervisor sent SIGKILL, if it did
    killed_cause: str = ""  # the same for pounce_worker_restarts_total's cause label
    # The channel's bytes not yet parsed (a stats frame can arrive in pieces).
    inbox: bytearray = field(default_factory=bytearray, repr=False)
    # --metrics-bind: the worker's latest snapshot, and the T requests sent / J answers read
    # (each T gets one J, in order: a probe is done once answers reach its mark).
    stats: dict[str, Any] | None = field(default=None, repr=False)
    probes_sent: int = 0
    answers: int = 0
    # The running worker this one takes over from once it is ready (rolling restart/recycle).
    replaces: Worker | None = field(default=None, repr=False)

    @property
    def ready(self) -> bool:
        return self.ready_at is not None

    @property
    def draining(self) -> bool:
        return self.draining_since is not None


def describe_exit(status: int) -> str:
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class Supervisor:
    """Runs ``config.worker_count`` workers on one listening socket until stopped."""

    def __init__(
        self,
        config: Config,
        sockets: Sequence[socket.socket] | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.config = config
        # systemd's sd_notify(3) (pounce/sd_notify.py): READY, RELOADING, STOPPING, WATCHDOG.
        self.notifier = notifier
        # A SIGHUP's rolling restart is in progress (systemd is told READY=1 when it ends).
        self.reloading = False
        self.worker_config = config
        self.target = config.worker_count
        self.sockets: list[socket.socket] = list(sockets) if sockets is not None else []
        self._own_sockets = sockets is None
        self.workers: dict[int, Worker] = {}
        self.exit_code = 0
        self.signals: deque[int] = deque()
        # Workers to replace one at a time, with the reason for the log.
        self.replace_queue: deque[tuple[Worker, str]] = deque()
        # Why the next workers are started (logged with their pid).
        self.spawn_reasons: deque[str] = deque()
        self.stopping = False
        self.quitting = False
        self.stop_deadline: float | None = None
        self.booted = False
        self.startup_failures = 0
        self.next_spawn_at = 0.0
        self.ping_interval = min(1.0, config.timeout_worker_healthcheck / 4)
        self.tick = TICK
        if notifier is not None and notifier.watchdog_interval:
            # WATCHDOG=1 at most a quarter of the systemd watchdog timeout late.
            self.tick = min(TICK, notifier.watchdog_interval / 2)
        self._selector: selectors.BaseSelector | None = None
        self._wakeup: tuple[int, int] | None = None
        self._old_handlers: dict[int, Any] = {}
        self._old_wakeup_fd = -1
        # --metrics-bind (pounce/metrics_listener.py): its socket is bound in _prepare, so
        # that a bad address fails before any worker starts.
        self._metrics_socket: socket.socket | None = None
        self.metrics_listener: MetricsListener | None = None
        self.retired = Totals()  # the counts of workers that exited
        self.restarts: dict[str, int] = {}  # pounce_worker_restarts_total, by cause
        # --shutdown-delay: when the graceful stop starts (not ready meanwhile); None: no
        # delayed stop pending.
        self.stop_at: float | None = None
        self.stop_reason = ""

    # Running ----------------------------------------------------------------------------

    def run(self) -> int:
        """Bind, start the workers, supervise until stopped. Returns the exit code."""
        configure_logging(self.config)
        config = self.config
        if isinstance(config.app, str):
            check_app_path(config.app)  # a usage error, not N workers failing to start
        logger.info("Started supervisor process [%d]", os.getpid())
        try:
            self._prepare()
            self._selector = selectors.DefaultSelector()
            if self._metrics_socket is not None:
                self.metrics_listener = MetricsListener(self._metrics_socket, self, self._selector)
                logger.info(
                    "Metrics on %s/metrics (also /livez, /readyz)",
                    self.metrics_listener.address(),
                )
            self._install_signal_handlers()
            try:
                self._loop()
            finally:
                self._restore_signal_handlers()
                self._kill_all()  # only if the loop itself failed: normally none is left
                if self.metrics_listener is not None:
                    self.metrics_listener.close()
                self._selector.close()
        finally:
            if self._metrics_socket is not None:
                self._metrics_socket.close()
            if self._own_sockets:
                for sock in self.sockets:
                    sock.close()
                if config.uds and config.fd is None:
                    with contextlib.suppress(OSError):
                        os.unlink(config.uds)
        logger.info("Stopped supervisor process [%d]", os.getpid())
        return self.exit_code

    def _prepare(self) -> None:
        """Bind (unless the reloader passed its socket), preload, log what will run."""
        config = self.config
        if not self.sockets:
            self.sockets = [bind_socket(config, listen=not config.reuse_port)]
        if config.metrics_bind is not None:
            self._metrics_socket = bind_metrics_socket(config.metrics_bind)
        config.load_env_file()
        if config.preload:
            # Imported once here; the forked workers share the module's memory pages.
            app = load_app(config)
            self.worker_config = config.replace(app=app, factory=False)
            logger.info("Preloaded the app %s in the supervisor", config.app)
        if config.reuse_port:
            how = "each worker binds its own SO_REUSEPORT socket"
        else:
            how = "shared by the workers"
        for sock in self.sockets:
            logger.info("Bound %s (%s)", describe_socket(sock, config), how)
        logger.info(
            "pounce %s on %s; %s", __version__, python_description(), implementations(config)
        )
        logger.info("Starting %d worker%s", self.target, "" if self.target == 1 else "s")

    def _loop(self) -> None:
        while True:
            self._dispatch_signals()
            self._reap()
            if self.stopping and not self.workers:
                return
            now = time.monotonic()
            if self.stop_at is not None and now >= self.stop_at:
                self.stop_at = None
                self.stop(f"{self.stop_reason} and --shutdown-delay is over")
            self._check_workers(now)
            if not self.stopping:
                self._manage(now)
            if self.notifier is not None:
                self._notify_systemd(now)
            if self.metrics_listener is not None:
                self.metrics_listener.poll(now)
            self._wait(self.tick)

    def _wait(self, timeout: float) -> None:
        """Sleep until a signal, a worker message, or ``timeout``."""
        assert self._selector is not None
        for key, _ in self._selector.select(timeout):
            if key.data is None:
                self._drain_wakeup()
            elif isinstance(key.data, Worker):
                self._on_channel(key.data)
            else:
                key.data()  # the metrics listener's socket or one of its connections

    def _drain_wakeup(self) -> None:
        assert self._wakeup is not None
        with contextlib.suppress(BlockingIOError, InterruptedError):
            while os.read(self._wakeup[0], 512):
                pass

    # Signals: the handlers only enqueue, the loop acts --------------------------------------

    def _install_signal_handlers(self) -> None:
        assert self._selector is not None
        rfd, wfd = os.pipe()
        os.set_blocking(rfd, False)
        os.set_blocking(wfd, False)
        self._wakeup = (rfd, wfd)
        self._selector.register(rfd, selectors.EVENT_READ, None)
        self._old_wakeup_fd = signal.set_wakeup_fd(wfd, warn_on_full_buffer=False)
        for sig in SIGNALS:
            self._old_handlers[sig] = signal.signal(sig, self._enqueue_signal)

    def _enqueue_signal(self, sig: int, frame: Any) -> None:
        self.signals.append(sig)

    def _restore_signal_handlers(self) -> None:
        for sig, handler in self._old_handlers.items():
            signal.signal(sig, handler)
        self._old_handlers.clear()
        signal.set_wakeup_fd(self._old_wakeup_fd)
        if self._wakeup is not None:
            for fd in self._wakeup:
                os.close(fd)
            self._wakeup = None

    def _dispatch_signals(self) -> None:
        while self.signals:
            sig = self.signals.popleft()
            if sig == signal.SIGCHLD:
                continue  # every turn reaps anyway; the signal only woke the loop
            name = signal.Signals(sig).name
            if sig == signal.SIGQUIT or (sig == signal.SIGINT and self.stopping):
                self.quit(f"Received {name}")
            elif sig in (signal.SIGINT, signal.SIGTERM):
                self.stop_after_delay(f"Received {name}")
            elif self.stopping or self.stop_at is not None:
                logger.info("Received %s while stopping: ignored", name)
            elif sig == signal.SIGHUP:
                self.restart_all(f"Received {name}")
            elif sig == signal.SIGTTIN:
                self.target += 1
                logger.info("Received SIGTTIN: scaling up to %d workers", self.target)
                self.spawn_reasons.append("SIGTTIN")
            elif sig == signal.SIGTTOU:
                if self.target <= 1:
                    logger.info("Received SIGTTOU: already at 1 worker, keeping it")
                else:
                    self.target -= 1
                    logger.info("Received SIGTTOU: scaling down to %d workers", self.target)

    # Commands ---------------------------------------------------------------------------

    def stop_after_delay(self, reason: str) -> None:
        """SIGTERM/SIGINT: with ``--shutdown-delay``, /readyz turns 503 now and the graceful
        stop starts after the delay (load balancers take a while to stop sending: the
        connections they still open meanwhile are served). A second one stops at once."""
        delay = self.config.shutdown_delay
        if self.stopping or self.stop_at is not None or not delay:
            self.stop_at = None
            self.stop(reason)
            return
        self.stop_at = time.monotonic() + delay
        self.stop_reason = reason
        logger.info(
            "%s: not ready from now on; serving %gs more (--shutdown-delay) before stopping",
            reason,
            delay,
        )

    def stop(self, reason: str) -> None:
        """Graceful stop: every worker finishes what is in flight, then exits."""
        if self.stopping:
            return
        self.stop_at = None
        self.stopping = True
        logger.info("%s: stopping %d workers gracefully", reason, len(self.workers))
        if self.notifier is not None:
            self.notifier.stopping(f"{reason}: stopping gracefully")
        timeout = self.config.timeout_graceful_shutdown
        if timeout is not None:
            self.stop_deadline = time.monotonic() + timeout + KILL_MARGIN
        for worker in self.workers.values():
            self._signal(worker, signal.SIGTERM)

    def quit(self, reason: str) -> None:
        """Immediate stop: workers abort their connections and exit; SIGKILL after 1 s."""
        if self.notifier is not None and not self.stopping:
            self.notifier.stopping(f"{reason}: stopping now")
        self.stopping = self.quitting = True
        logger.info("%s: stopping %d workers now", reason, len(self.workers))
        self.stop_deadline = time.monotonic() + QUIT_TIMEOUT
        for worker in self.workers.values():
            # A worker still starting has not installed its SIGQUIT handler: the default
            # action would dump core, so it is simply killed.
            self._signal(worker, signal.SIGQUIT if worker.ready else signal.SIGKILL)

    def restart_all(self, reason: str) -> None:
        """Rolling restart: replace every current worker, one at a time."""
        queued = {id(w) for w, _ in self.replace_queue}
        old = [
            w
            for w in self.workers.values()
            if not w.draining and w.replaces is None and id(w) not in queued
        ]
        if self.config.preload:
            note = " (--preload: the app is not re-imported)"
        elif not isinstance(self.config.app, str):
            note = " (the app was given as an object: it is not re-imported)"
        else:
            note = ""
        logger.info("%s: rolling restart of %d workers%s", reason, len(old), note)
        if self.notifier is not None and old:
            self.reloading = True
            self.notifier.reloading(f"{reason}: rolling restart of {len(old)} workers")
        for worker in old:
            self.replace_queue.append((worker, reason.replace("Received ", "")))

    # Watching workers ---------------------------------------------------------------------

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            worker = self.workers.pop(pid, None)
            if worker is not None:
                self._worker_exited(worker, status)

    def _worker_exited(self, worker: Worker, status: int) -> None:
        assert self._selector is not None
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(worker.channel)
        self._read_rest(worker)  # its final counts (F) may still be unread
        worker.channel.close()
        if worker.stats:
            self.retired.retire(worker.stats)
            worker.stats = None
        how = describe_exit(status)
        if worker.killed:
            how = f"{how}: {worker.killed}"
        # Whoever was waiting to take over from it now simply takes its place.
        for other in self.workers.values():
            if other.replaces is worker:
                other.replaces = None
        self.replace_queue = deque((w, r) for w, r in self.replace_queue if w is not worker)
        if self.stopping or worker.draining:
            logger.info("Worker [%d] exited (%s)", worker.pid, how)
        elif not worker.ready:
            self._startup_failed(worker, status, how)
        else:
            logger.error("Worker [%d] died (%s); starting a replacement", worker.pid, how)
            self.spawn_reasons.append(f"replaces worker [{worker.pid}], {how}")
            self._count_restart(worker.killed_cause or "died")

    def _startup_failed(self, worker: Worker, status: int, how: str) -> None:
        code = os.waitstatus_to_exitcode(status)
        logger.error("Worker [%d] failed to start (%s)", worker.pid, how)
        if worker.replaces is not None or self.replace_queue:
            # A rolling restart (or recycling) with an app that no longer starts: the workers
            # that run the old code keep serving rather than being replaced by nothing.
            self.replace_queue.clear()
            logger.error(
                "Rolling restart abandoned: the new worker could not start; "
                "the running workers keep serving"
            )
            return
        if not self.booted and code in (2, 3):
            # The app cannot be imported or fails its startup: every retry would do the same.
            self.fatal(code, f"the app failed to start in worker [{worker.pid}] (see above)")
            return
        self.startup_failures += 1
        if self.startup_failures >= MAX_STARTUP_FAILURES:
            self.fatal(
                EXIT_APP,
                f"{self.startup_failures} workers in a row died before they were ready; "
                "stopping instead of restarting them in a loop",
            )
            return
        delay = min(BACKOFF_MAX, BACKOFF_BASE * 2 ** (self.startup_failures - 1))
        self.next_spawn_at = time.monotonic() + delay
        logger.warning(
            "Starting another worker in %.1fs (startup failure %d of %d allowed)",
            delay,
            self.startup_failures,
            MAX_STARTUP_FAILURES - 1,
        )
        self.spawn_reasons.append(f"retry after worker [{worker.pid}] failed to start")
        self._count_restart("startup_failure")

    def fatal(self, code: int, message: str) -> None:
        logger.critical("Error: %s. Exiting with code %d.", message, code)
        self.exit_code = code
        self.stop("Giving up")

    def _on_channel(self, worker: Worker) -> None:
        try:
            data = worker.channel.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the worker is exiting; _reap will see it
            assert self._selector is not None
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(worker.channel)
            return
        worker.last_seen = time.monotonic()
        worker.inbox += data
        data = self._take_messages(worker)
        if MSG_READY in data:
            self._worker_ready(worker)
        if MSG_RECYCLE in data:
            self._recycle(worker, "--limit-max-requests", str(worker.max_requests))
        if MSG_OVER_RSS in data:
            self._recycle(worker, "--limit-max-rss", f"{self.config.limit_max_rss} MiB")

    def _take_messages(self, worker: Worker) -> bytes:
        """Parse the worker's channel bytes: keep its stats frames, return the one-byte
        messages."""
        singles, frames = take_messages(worker.inbox)
        for kind, snapshot in frames:
            if kind == MSG_STATS[0]:
                worker.answers += 1
            if snapshot:
                worker.stats = snapshot
        return singles

    def _read_rest(self, worker: Worker) -> None:
        """An exited worker's last bytes (its ``F`` frame), for its final counts."""
        with contextlib.suppress(OSError):
            worker.channel.setblocking(False)
            while True:
                data = worker.channel.recv(65536)
                if not data:
                    break
                worker.inbox += data
        self._take_messages(worker)

    def _count_restart(self, cause: str) -> None:
        self.restarts[cause] = self.restarts.get(cause, 0) + 1

    def _worker_ready(self, worker: Worker) -> None:
        worker.ready_at = worker.last_seen
        self.startup_failures = 0
        logger.info(
            "Worker [%d] ready in %.2fs (%s)",
            worker.pid,
            worker.ready_at - worker.started,
            worker.reason,
        )
        old = worker.replaces
        worker.replaces = None
        if old is not None and old.pid in self.workers and not old.draining:
            self._drain(old, f"replaced by worker [{worker.pid}]")
        if not self.booted:
            ready = [w for w in self.workers.values() if w.ready and not w.draining]
            if len(ready) >= self.target:
                self.booted = True
                for sock in self.sockets:
                    logger.info(
                        "pounce running on %s (Press CTRL+C to quit)",
                        describe_socket(sock, self.config),
                    )
                pids = ", ".join(str(w.pid) for w in ready)
                noun = "worker" if len(ready) == 1 else "workers"
                logger.info("%d %s ready (pids %s)", len(ready), noun, pids)
                if self.notifier is not None:
                    self.notifier.ready(self._status())

    def _recycle(self, worker: Worker, option: str, limit: str) -> None:
        """The worker reached ``option`` (its value: ``limit``): replace it, no request lost."""
        if worker.draining or any(w is worker for w, _ in self.replace_queue):
            return
        logger.info("Worker [%d] reached %s (%s): recycling it", worker.pid, option, limit)
        self.replace_queue.append((worker, option))

    def _notify_systemd(self, now: float) -> None:
        """WATCHDOG=1 when due; READY=1 again once a SIGHUP's rolling restart is over."""
        assert self.notifier is not None
        self.notifier.watchdog(now)
        if self.reloading and not self.replace_queue and not self.stopping:
            if not any(w.replaces is not None for w in self.workers.values()):
                self.reloading = False
                self.notifier.ready(self._status())

    def _status(self) -> str:
        """STATUS= for systemd: how many workers serve where."""
        serving = sum(1 for w in self.workers.values() if w.ready and not w.draining)
        where = ", ".join(describe_socket(sock, self.config) for sock in self.sockets)
        return f"{serving} worker{'' if serving == 1 else 's'} serving on {where}"

    def _check_workers(self, now: float) -> None:
        """Health pings and every deadline."""
        timeout = self.config.timeout_worker_healthcheck
        graceful = self.config.timeout_graceful_shutdown
        for worker in list(self.workers.values()):
            if worker.killed:
                continue
            if self.stop_deadline is not None and now > self.stop_deadline:
                self._kill(worker, "still running at the stop deadline")
            elif not worker.ready:
                if now - worker.started > STARTUP_TIMEOUT:
                    self._kill(worker, f"not ready after {STARTUP_TIMEOUT:.0f}s")
            elif now - worker.last_seen > timeout:
                self._kill(
                    worker,
                    f"no answer to the health check for {now - worker.last_seen:.1f}s "
                    f"(--timeout-worker-healthcheck {timeout:g})",
                    "healthcheck",
                )
            elif (
                worker.draining_since is not None
                and graceful is not None
                and now - worker.draining_since > graceful + KILL_MARGIN
            ):
                self._kill(worker, "still draining after --timeout-graceful-shutdown")
            elif now - worker.last_ping >= self.ping_interval:
                worker.last_ping = now
                if self.metrics_listener is None:
                    self._send(worker, bytes([MSG_PING]))
                elif self._send(worker, bytes([MSG_PING, MSG_STATS_REQUEST])):
                    # Fresh counts every ping: what a kill -9 loses is at most this old.
                    worker.probes_sent += 1

    def _kill(self, worker: Worker, reason: str, cause: str = "killed") -> None:
        logger.error("Killing worker [%d]: %s", worker.pid, reason)
        worker.killed = reason
        worker.killed_cause = cause
        self._signal(worker, signal.SIGKILL)

    # Planning: start and drain workers until the plan holds ---------------------------------

    def _manage(self, now: float) -> None:
        active = [w for w in self.workers.values() if not w.draining]
        in_flight = [w for w in active if w.replaces is not None]
        if now < self.next_spawn_at:
            return
        # One replacement at a time: the next one starts when the last one is ready.
        while not in_flight and self.replace_queue:
            old, reason = self.replace_queue.popleft()
            if old.pid in self.workers and not old.draining:
                new = self._spawn(f"{reason}: replaces worker [{old.pid}]", replaces=old)
                self._count_restart(RESTART_CAUSES.get(reason, reason))
                active.append(new)
                in_flight.append(new)
        wanted = self.target + len(in_flight)
        while len(active) < wanted:
            reason = self.spawn_reasons.popleft() if self.spawn_reasons else "boot"
            active.append(self._spawn(reason))
        if len(active) == wanted:
            self.spawn_reasons.clear()
        surplus = len(active) - wanted
        if surplus > 0:
            # Scale down: drain the oldest workers that no replacement is about to take over.
            taken = {id(w.replaces) for w in in_flight}
            victims = [w for w in active if w.replaces is None and id(w) not in taken]
            victims.sort(key=lambda w: (w.ready, w.started))  # unready first, then oldest
            for worker in victims[:surplus]:
                self._drain(worker, f"scaling down to {self.target} workers")

    def _drain(self, worker: Worker, reason: str) -> None:
        logger.info("Draining worker [%d]: %s", worker.pid, reason)
        worker.draining_since = time.monotonic()
        self.replace_queue = deque((w, r) for w, r in self.replace_queue if w is not worker)
        if not worker.ready:
            self._signal(worker, signal.SIGTERM)  # not serving yet: nothing to drain
        elif not self._send(worker, b"D"):
            self._signal(worker, signal.SIGTERM)

    # --metrics-bind: what pounce/metrics_listener.py asks ----------------------------------

    def probe_workers(self) -> Marks:
        """Send ``T`` to every ready worker; the answer count each must reach."""
        marks: Marks = {}
        for worker in self.workers.values():
            if worker.ready and not worker.killed:
                if self._send(worker, bytes([MSG_STATS_REQUEST])):
                    worker.probes_sent += 1
                    marks[worker.pid] = worker.probes_sent
        return marks

    def probe_answered(self, marks: Marks) -> bool:
        for pid, mark in marks.items():
            worker = self.workers.get(pid)
            if worker is not None and worker.answers < mark:
                return False
        return True

    def metrics_text(self) -> str:
        # A worker that just drained may have sent its final counts in the same loop turn as
        # this request arrived: read what the channels hold before summing.
        for worker in list(self.workers.values()):
            self._on_channel(worker)
        totals = self.retired.plus(w.stats for w in self.workers.values() if w.stats)
        states = {"ready": 0, "starting": 0, "draining": 0}
        for worker in self.workers.values():
            states[_worker_state(worker)] += 1
        ready, _ = self.readiness()
        return render(totals, self.restarts, states, ready)

    def liveness(self, marks: Marks) -> tuple[bool, dict[str, Any]]:
        """Live: this loop answers (it is answering), and so did every worker probed."""
        now = time.monotonic()
        live = True
        workers = []
        for worker in self.workers.values():
            mark = marks.get(worker.pid)
            answered = None if mark is None else worker.answers >= mark
            live = live and answered is not False
            workers.append(
                {
                    "pid": worker.pid,
                    "state": _worker_state(worker),
                    "answered": answered,  # null: not asked (starting, or being killed)
                    "seconds_since_heard": round(now - worker.last_seen, 3),
                }
            )
        detail = {
            "status": "live" if live else "not live",
            "supervisor": {"pid": os.getpid()},
            "workers": workers,
        }
        return live, detail

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Ready: every worker started and serving, and no stop (or --shutdown-delay) begun."""
        serving = sum(1 for w in self.workers.values() if w.ready and not w.draining)
        reason = ""
        if self.stopping:
            reason = "stopping"
        elif self.stop_at is not None:
            reason = "shutting down (--shutdown-delay)"
        elif not self.booted:
            reason = "starting"
        elif serving < self.target:
            reason = f"{serving} of {self.target} workers serving"
        detail: dict[str, Any] = {
            "status": "not ready" if reason else "ready",
            "workers_wanted": self.target,
            "workers_serving": serving,
            "workers": [{"pid": w.pid, "state": _worker_state(w)} for w in self.workers.values()],
        }
        if reason:
            detail["reason"] = reason
        return not reason, detail

    # Processes ----------------------------------------------------------------------------

    def _spawn(self, reason: str, replaces: Worker | None = None) -> Worker:
        config = self.config
        max_requests = config.limit_max_requests
        if max_requests is not None and config.limit_max_requests_jitter:
            # Jitter keeps workers started together from all recycling at the same moment.
            max_requests += random.randint(0, config.limit_max_requests_jitter)
        ours, theirs = socket.socketpair()
        # Buffered log output would otherwise be written twice, once by each process.
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, which never returns from here
            ours.close()
            self._child(theirs, max_requests)
        theirs.close()
        ours.setblocking(False)
        now = time.monotonic()
        worker = Worker(pid, ours, reason, now, max_requests, last_seen=now, replaces=replaces)
        self.workers[pid] = worker
        assert self._selector is not None
        self._selector.register(ours, selectors.EVENT_READ, worker)
        logger.info("Started worker [%d] (%s)", pid, reason)
        return worker

    def _child(self, channel: socket.socket, max_requests: int | None) -> None:
        """In the forked child: shed the supervisor's state, then serve. Never returns."""
        code = 1
        try:
            # The supervisor's signal handling, selector and ends of the other workers'
            # channels must not live on here (a worker must see EOF when the supervisor dies).
            signal.set_wakeup_fd(-1)
            for sig in SIGNALS:
                signal.signal(sig, signal.SIG_DFL)
            for sig in (signal.SIGHUP, signal.SIGTTIN, signal.SIGTTOU):
                # Sent to the whole process group by a terminal; they are the supervisor's.
                signal.signal(sig, signal.SIG_IGN)
            if self._selector is not None:
                self._selector.close()
            if self.notifier is not None:
                self.notifier.close()  # the supervisor's alone: workers never notify
            if self._wakeup is not None:
                for fd in self._wakeup:
                    os.close(fd)
            if self.metrics_listener is not None:
                self.metrics_listener.close_in_child()
            elif self._metrics_socket is not None:
                self._metrics_socket.close()
            for other in self.workers.values():
                other.channel.close()
            sockets = self.sockets
            if self.config.reuse_port:
                port = self.sockets[0].getsockname()[1]
                for sock in self.sockets:
                    sock.close()
                sockets = [bind_socket(self.config.replace(port=port))]
            code = run_worker(self.worker_config, sockets, channel, max_requests)
        except ConfigError as exc:  # --reuse-port: this worker's own bind failed
            logger.error("Error: %s", exc)
            code = 2
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            logger.exception("Worker [%d] crashed", os.getpid())
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)

    def _send(self, worker: Worker, message: bytes) -> bool:
        try:
            worker.channel.send(message)
        except (BlockingIOError, InterruptedError):
            return True  # the worker is not reading its channel: the health check will tell
        except OSError:
            return False
        return True

    def _signal(self, worker: Worker, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker.pid, sig)

    def _kill_all(self) -> None:
        for worker in list(self.workers.values()):
            self._signal(worker, signal.SIGKILL)
        for pid in list(self.workers):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            self.workers.pop(pid).channel.close()


def _worker_state(worker: Worker) -> str:
    """A worker's state in /livez, /readyz and pounce_workers."""
    if worker.draining:
        return "draining"
    return "ready" if worker.ready else "starting"


def log_start_notes(config: Config, notes: Sequence[str] = ()) -> None:
    """Log ``notes`` (the CLI's ``UVICORN_*`` variables that took effect) and the ``--ws``
    alias note, before pounce starts serving (``pounce.launch.run_config``, and each reload
    child)."""
    notes = list(notes)
    if config.ws in WEBSOCKETS_ALIASES:
        notes.append(
            f"--ws {config.ws}: pounce runs its own WebSocket implementation (wsproto-based) "
            "for uvicorn's websockets choices"
        )
    if notes:
        # The server, supervisor or reloader configures logging the same way again.
        configure_logging(config)
        for note in notes:
            logger.info("%s", note)


def serve_config(
    config: Config,
    sockets: Sequence[socket.socket] | None = None,
    notes: Sequence[str] = (),
    notifier: Notifier | None = None,
) -> int:
    """Serve as ``config`` says without the reloader (the supervisor or one server), after
    ``log_start_notes``; the exit code. ``pounce.launch.run_config`` and the reload child
    (``pounce/reload.py``, which the launcher imports) call it. ``notifier``: systemd's
    ``$NOTIFY_SOCKET``, for the process systemd started."""
    log_start_notes(config, notes)
    if config.use_supervisor:
        return Supervisor(config, sockets, notifier).run()
    server = Server(config)
    server.notifier = notifier
    # The CLI and pounce.run() exit with the server's code after a graceful stop (0), where
    # an embedded Server.serve() re-raises the signal as uvicorn's does.
    server.reraise_signals = False
    return server.run(sockets)
