"""State one worker's connections share: config-derived constants, registries, cached headers.

Built once per server; the protocols read plain attributes from it on the hot path. A single
periodic tick (not a timer per request) refreshes the ``date`` header once a second and sweeps
connections whose keep-alive or other deadline has passed.

Idle closes never lose a request already sent. RFC 9112 §9.6 lets a server close an idle
connection at any time, but a client whose request is already waiting in our socket must get
its answer. The tick runs before the loop polls the sockets in an iteration, and a deadline set
from the loop's cached clock after a long iteration can pass before the connection's first
read, so a sweep that finds an idle connection past its deadline only marks it (its
``check_deadline`` re-arms ``deadline`` to the sweep's ``now`` and returns True). A second
sweep, one loop iteration later (``RECHECK_DELAY``, after a socket poll has read whatever was
waiting), closes it only if it is still idle with the same mark; a request that started in
between re-armed its deadline. So the keep-alive timeout holds to within one sweep interval
(plus that iteration), and no timer or syscall is added per request.
"""

from __future__ import annotations

import asyncio
import time
from email.utils import formatdate
from typing import TYPE_CHECKING, Any, Protocol

from pounce.asgi.limits import service_unavailable
from pounce.asgi.types import ASGIApp

from .access_log import access_logger
from .config import Config
from .header_flags import RESP_HAS_DATE, RESP_HAS_SERVER
from .metrics import WorkerMetrics
from .proxy import ProxyTrust

if TYPE_CHECKING:
    from collections.abc import Callable


# The second look at connections a sweep marked idle: long enough to be a later loop
# iteration (timers run before the socket poll in each one), short next to any timeout.
RECHECK_DELAY = 0.001
# WebSocket keep-alive pings and pong deadlines ride the same tick (pounce/websocket/_session.py),
# so with WebSockets on, the tick runs at least every eighth of the shortest of
# --ws-ping-interval / --ws-ping-timeout: a ping or a missed pong is acted on at most that
# late (12.5 ms at 0.1 s; within 50 ms for timings up to 0.4 s). The floor keeps an absurdly
# small setting from turning the tick into a busy loop.
WS_TIMING_DIVISOR = 8
MIN_WS_SWEEP_INTERVAL = 0.01


class Connection(Protocol):
    """What the server needs from every connection protocol (HTTP/1.1, HTTP/2, WebSocket)."""

    deadline: float

    def check_deadline(self, now: float) -> bool | None:
        """Act on a passed deadline; True: look again after the next socket poll."""

    def shutdown(self) -> None: ...

    def is_idle(self) -> bool: ...


class ServerState:
    """Shared by every connection of one server (one worker process)."""

    def __init__(self, config: Config, app: ASGIApp, loop: asyncio.AbstractEventLoop) -> None:
        self.config = config
        self.app = app
        self.loop = loop
        self.connections: set[Connection] = set()
        self.tasks: set[asyncio.Task[Any]] = set()
        self.total_requests = 0
        self.lifespan_state: dict[str, Any] = {}
        self.shutting_down = False
        self.root_path = config.root_path
        self.root_path_bytes = config.root_path.encode("utf-8")
        self.max_head_size = config.max_head_size
        self.keep_alive_timeout = float(config.timeout_keep_alive)
        self.limit_concurrency = config.limit_concurrency or 0
        # Slow clients and request size limits (0: no limit); see pounce/asgi/limits.py.
        self.header_timeout = float(config.timeout_request_header)
        self.body_timeout = float(config.timeout_request_body)
        self.send_timeout = float(config.timeout_send)
        self.limit_request_line = config.limit_request_line
        self.limit_field_size = config.limit_request_field_size
        self.limit_fields = config.limit_request_fields
        self.limit_body = config.limit_request_body or 0
        self.limit_connections = config.limit_connections or 0
        self.access_log = config.access_log and not access_logger.disabled
        # --debug: an app's exception before its response is answered with the traceback
        # (read on that error path only; pounce/debug_page.py).
        self.debug = config.debug_enabled
        # --metrics-bind: this worker's counters (pounce/metrics.py); None: nothing is counted.
        self.metrics: WorkerMetrics | None = WorkerMetrics() if config.metrics_bind else None
        # Whether each request's start time is taken: for the access record's duration or the
        # metrics' histogram. Off (neither on), the cycle's _finish does nothing more.
        self.time_requests = self.access_log or self.metrics is not None
        self.proxy: ProxyTrust | None = (
            ProxyTrust(config.trusted_proxies, forwarded=config.proxy_headers_forwarded)
            if config.proxy_headers
            else None
        )
        # --proxy-protocol: connections closed for a bad or missing header, by kind (metrics).
        self.proxy_protocol_rejected: dict[str, int] = {}
        # Whether an HTTP/1.1 request may switch to HTTP/2 by ``Upgrade: h2c`` (both twins
        # test this before negotiate.try_h2c_upgrade looks at any header).
        self.h2c_upgrade: bool = config.http2 and config.h2c_upgrade
        # The shortest WebSocket keep-alive timing (0: WebSockets off or no pings); see
        # sweep_interval.
        self.ws_shortest_timing = 0.0
        if config.ws != "none" and config.ws_ping_interval:
            timings = (config.ws_ping_interval, config.ws_ping_timeout or config.ws_ping_interval)
            self.ws_shortest_timing = float(min(timings))
        # Called with the request count whenever a request starts (for --limit-max-requests).
        self.on_request: Callable[[int], None] | None = None

        extra = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in config.headers]
        has_server = any(k == b"server" for k, _ in extra)
        self._server_line = (
            b"server: pounce\r\n" if config.server_header and not has_server else b""
        )
        self._extra_lines = b"".join(b"%s: %s\r\n" % (k, v) for k, v in extra)
        self._date_second = -1
        # Indexed by (flags & (RESP_HAS_DATE | RESP_HAS_SERVER)) >> 2: what to add after the
        # app's own headers so that neither date nor server is ever sent twice.
        self.default_headers: tuple[bytes, bytes, bytes, bytes] = (b"", b"", b"", b"")
        assert RESP_HAS_DATE == 4 and RESP_HAS_SERVER == 8
        self.update_date()

    def update_date(self) -> None:
        """Rebuild the cached default headers when the second changes."""
        now = int(time.time())
        if now == self._date_second:
            return
        self._date_second = now
        date = b"date: %s\r\n" % formatdate(now, usegmt=True).encode("ascii")
        if not self.config.date_header:
            date = b""
        server, extra = self._server_line, self._extra_lines
        self.default_headers = (
            date + server + extra,  # app set neither
            server + extra,  # app set date
            date + extra,  # app set server
            extra,  # app set both
        )

    def tick(self) -> bool:
        """Once per sweep interval: refresh the date, expire connections past a deadline.

        True when a connection asked for another look (see ``sweep``)."""
        self.update_date()
        return self.sweep()

    def sweep(self) -> bool:
        """Call ``check_deadline`` on every connection past its deadline. True when one of
        them marked itself idle: the caller sweeps again after ``RECHECK_DELAY`` (one loop
        iteration, so a socket poll happens in between) to close it."""
        now = self.loop.time()
        again = False
        for conn in list(self.connections):
            if conn.deadline and conn.deadline <= now and conn.check_deadline(now):
                again = True
        return again

    @property
    def sweep_interval(self) -> float:
        """How often tick() runs: often enough for the shortest timeout to be accurate.

        One periodic timer per worker, whatever the number of connections: the HTTP timeouts
        hold to a quarter of the shortest one (at least 50 ms, at most 1 s); WebSocket pings
        to an eighth of the shortest ping timing, when that is shorter (WS_TIMING_DIVISOR)."""
        shortest = min(
            self.keep_alive_timeout, self.header_timeout, self.body_timeout, self.send_timeout
        )
        interval = max(0.05, min(1.0, shortest / 4))
        if self.ws_shortest_timing:
            ws_interval = self.ws_shortest_timing / WS_TIMING_DIVISOR
            interval = min(interval, max(MIN_WS_SWEEP_INTERVAL, ws_interval))
        return interval

    def count_request(self) -> None:
        """Count a request (any protocol) and tell ``--limit-max-requests`` about it.

        The compiled HTTP/1.1 protocol calls this only when ``on_request`` is set or
        ``--limit-concurrency`` is on: ``total_requests`` is for ``on_request``, not a statistic.
        """
        self.total_requests += 1
        if self.on_request is not None:
            self.on_request(self.total_requests)

    def app_for_request(self) -> ASGIApp:
        """Count a request and pick what answers it: the app, or a 503 beyond
        ``--limit-concurrency``."""
        self.count_request()
        if self.limit_concurrency and self.over_concurrency_limit():
            return service_unavailable
        return self.app

    def track(self, task: asyncio.Task[Any]) -> None:
        """Keep an app's task in ``tasks`` until it ends (shutdown waits for them)."""
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def over_concurrency_limit(self) -> bool:
        limit = self.limit_concurrency
        return bool(limit) and (len(self.connections) > limit or len(self.tasks) >= limit)
