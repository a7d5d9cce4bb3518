"""One supervised worker: the ``Server`` that runs in a child after the supervisor's ``fork()``.

The worker talks to its supervisor over one end of a socketpair, one byte per message:

=====  ==================  ===============================================================
byte   direction           meaning
=====  ==================  ===============================================================
``R``  worker→supervisor   ready: lifespan startup done, serving the listening socket
``p``  worker→supervisor   pong, the answer to a ping
``M``  worker→supervisor   reached ``--limit-max-requests``: please start my replacement
``S``  worker→supervisor   stayed above ``--limit-max-rss``: please start my replacement
``P``  supervisor→worker   ping (health check)
``D``  supervisor→worker   drain: a replacement is ready; finish what is in flight and exit
``T``  supervisor→worker   ``--metrics-bind``: send your counters (each ``T`` gets one ``J``)
``J``  worker→supervisor   the answer to ``T``: 4 bytes of length (big-endian), then the
                           snapshot as JSON (pounce/metrics.py)
``F``  worker→supervisor   the same, sent unasked once the worker has stopped serving: its
                           final counts, which the supervisor keeps after it exits
=====  ==================  ===============================================================

Pongs are written by the worker's event loop itself, so a loop blocked by the app (a
synchronous call that never returns) stops answering and the supervisor replaces the worker.
End of file on the channel means the supervisor is gone: the worker then stops gracefully
instead of living on as an orphan. With metrics on, the supervisor sends ``T`` with every
ping too, so the counts it holds for a worker are at most a ping interval old when the worker
is killed (``kill -9`` leaves no final ``F``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
from collections.abc import Sequence
from typing import Any

from .config import Config
from .errors import EXIT_APP, EXIT_USAGE, AppLoadError, ConfigError
from .importer import AppPathError
from .rss import CHECKS_ABOVE, MIB, RSS_CHECK_INTERVAL, resident_bytes
from .server import Server
from .sockets import describe_socket

logger = logging.getLogger("pounce.error")

MSG_READY = b"R"
MSG_PONG = b"p"
MSG_RECYCLE = b"M"
MSG_OVER_RSS = b"S"
MSG_PING = ord("P")
MSG_DRAIN = ord("D")
MSG_STATS_REQUEST = ord("T")
MSG_STATS = b"J"
MSG_FINAL_STATS = b"F"
_STATS_KINDS = (MSG_STATS[0], MSG_FINAL_STATS[0])
STATS_LENGTH_BYTES = 4
# A stats frame is written whole, with a blocking send bounded by this (a few KiB into a
# socketpair buffer the supervisor keeps reading: it does not wait in practice). A
# non-blocking partial write would cut the frame and break the channel's framing.
STATS_SEND_TIMEOUT = 1.0


def stats_frame(kind: bytes, snapshot: dict[str, Any]) -> bytes:
    """``J`` or ``F``, the payload's length, the snapshot as JSON."""
    payload = json.dumps(snapshot, separators=(",", ":")).encode("utf-8")
    return kind + len(payload).to_bytes(STATS_LENGTH_BYTES, "big") + payload


def take_messages(buffer: bytearray) -> tuple[bytes, list[tuple[int, dict[str, Any]]]]:
    """The complete messages at the start of ``buffer``, removed from it: the one-byte ones
    (in order) and the stats frames as ``(kind, snapshot)``. An incomplete frame stays."""
    singles = bytearray()
    frames: list[tuple[int, dict[str, Any]]] = []
    i = 0
    while i < len(buffer):
        byte = buffer[i]
        if byte not in _STATS_KINDS:
            singles.append(byte)
            i += 1
            continue
        start = i + 1 + STATS_LENGTH_BYTES
        if start > len(buffer):
            break
        size = int.from_bytes(buffer[i + 1 : start], "big")
        if start + size > len(buffer):
            break
        try:
            frames.append((byte, json.loads(buffer[start : start + size])))
        except ValueError:
            frames.append((byte, {}))  # counted as an answer; its counts are not usable
        i = start + size
    del buffer[:i]
    return bytes(singles), frames


class WorkerServer(Server):
    """A ``Server`` that reports to a supervisor and obeys its drain requests."""

    def __init__(
        self, config: Config, channel: socket.socket, max_requests: int | None = None
    ) -> None:
        super().__init__(config)
        self.channel = channel
        self.max_requests = max_requests
        self._recycle_asked = False
        # A worker ends with its exit code; the supervisor reads a re-raised signal as a crash.
        self.reraise_signals = False

    async def serve(self, sockets: Sequence[socket.socket] | None = None) -> None:
        loop = asyncio.get_running_loop()
        self.channel.setblocking(False)
        loop.add_reader(self.channel.fileno(), self._on_channel)
        # SIGQUIT (the supervisor's immediate stop) is the worker's own: the default action
        # would dump core, and no previous handler needs to be given back in a forked child.
        with contextlib.suppress(NotImplementedError, RuntimeError):  # pragma: no cover
            loop.add_signal_handler(signal.SIGQUIT, self._quit)
        try:
            await super().serve(sockets)
            if self.state is not None and self.state.metrics is not None:
                # Served its last request: the counts the supervisor keeps after it exits.
                self._send_stats(MSG_FINAL_STATS)
        finally:
            loop.remove_reader(self.channel.fileno())
            with contextlib.suppress(NotImplementedError, RuntimeError):  # pragma: no cover
                loop.remove_signal_handler(signal.SIGQUIT)

    def announce_listening(self) -> None:
        # The supervisor logs the address once for all workers; each worker only says ready.
        for sock in self.sockets:
            logger.debug("Worker [%d] serving %s", os.getpid(), describe_socket(sock, self.config))
        limit = self.config.limit_max_rss
        if limit is not None and resident_bytes() > limit * MIB:
            # Every worker would be replaced a couple of seconds after it starts, forever.
            logger.warning(
                "Worker [%d] resident memory is %d MiB just after start, above --limit-max-rss "
                "%d MiB: every worker will be recycled within seconds; raise the limit",
                os.getpid(),
                resident_bytes() // MIB,
                limit,
            )
        self._send(MSG_READY)

    def _count_requests(self) -> None:
        # --limit-max-requests: ask the supervisor for a replacement rather than stop (the
        # limit, with its jitter, was picked by the supervisor).
        if self.max_requests is not None and self.state is not None:
            self.state.on_request = self._count_request

    def _quit(self) -> None:
        """SIGQUIT from the supervisor: stop now, abort what is in flight."""
        self.force_exit = True
        self.request_exit()

    def _count_request(self, count: int) -> None:
        assert self.max_requests is not None
        if count >= self.max_requests and not self._recycle_asked:
            # The worker keeps serving until the supervisor has a replacement ready and sends
            # "drain"; exiting here would leave the socket without a worker for a moment.
            self._recycle_asked = True
            logger.info(
                "Worker [%d] served %d requests (--limit-max-requests): asking to be replaced",
                os.getpid(),
                count,
            )
            self._send(MSG_RECYCLE)

    def _rss_exceeded(self, rss: int) -> None:
        # As at --limit-max-requests: keep serving until the replacement is ready.
        logger.info(
            "Worker [%d] resident memory %d MiB stayed above --limit-max-rss %d MiB "
            "(%d checks %gs apart): asking to be replaced",
            os.getpid(),
            rss // MIB,
            self.config.limit_max_rss,
            CHECKS_ABOVE,
            RSS_CHECK_INTERVAL,
        )
        self._send(MSG_OVER_RSS)

    def _on_channel(self) -> None:
        try:
            data = self.channel.recv(256)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            assert self._loop is not None
            self._loop.remove_reader(self.channel.fileno())
            if not self.should_exit:
                logger.warning("Worker [%d]: the supervisor is gone; stopping", os.getpid())
                self.request_exit()
            return
        for byte in data:
            if byte == MSG_PING:
                self._send(MSG_PONG)
            elif byte == MSG_DRAIN and not self._draining:
                logger.debug("Worker [%d] draining", os.getpid())
                self.start_draining()
            elif byte == MSG_STATS_REQUEST:
                self._send_stats(MSG_STATS)

    def _send_stats(self, kind: bytes) -> None:
        """Answer ``T`` (or say goodbye with ``F``): this worker's metrics snapshot. Before
        the server state exists (still starting), an empty one: an answer all the same."""
        state = self.state
        snapshot: dict[str, Any] = {}
        if state is not None and state.metrics is not None:
            snapshot = state.metrics.snapshot(state.connections, state.proxy_protocol_rejected)
        channel = self.channel
        try:
            channel.settimeout(STATS_SEND_TIMEOUT)
            channel.sendall(stats_frame(kind, snapshot))
        except OSError:
            pass  # the supervisor is gone (or stuck): _on_channel sees the end of file
        finally:
            with contextlib.suppress(OSError):
                channel.setblocking(False)

    def _send(self, message: bytes) -> None:
        try:
            self.channel.send(message)
        except (BlockingIOError, InterruptedError):
            pass  # the supervisor is not reading: a lost pong is what the health check is for
        except OSError:
            pass  # the supervisor is gone; _on_channel sees the end of file and stops us


def run_worker(
    config: Config,
    sockets: Sequence[socket.socket],
    channel: socket.socket,
    max_requests: int | None,
) -> int:
    """Serve ``sockets`` until told to stop. Returns the process exit code.

    The error of an app that cannot be loaded is logged here (the worker's stderr is the
    supervisor's), and the exit code tells the supervisor whether restarting can help:
    2 and 3 say the app itself is broken, as for the single-process CLI.
    """
    server = WorkerServer(config, channel, max_requests)
    try:
        return server.run(sockets)
    except AppPathError as exc:
        logger.error("Error: %s", exc)
        return EXIT_APP
    except AppLoadError as exc:
        logger.error("Error: %s", exc, exc_info=config.log_level_number <= logging.DEBUG)
        return EXIT_APP
    except ConfigError as exc:
        logger.error("Error: %s", exc)
        return EXIT_USAGE
