"""Server configuration: one frozen ``Config``, validated when it is made.

Option names and defaults follow uvicorn's, so that a uvicorn command line works unchanged.
Every error names the CLI option it comes from (``ConfigError("--port: ...")``).
The event loop each ``--loop`` choice makes is created in ``pounce/loops.py``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import ssl
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pounce.asgi.types import ASGIApp
from pounce.http2.constants import (
    DEFAULT_CONNECTION_WINDOW_SIZE,
    DEFAULT_INITIAL_WINDOW_SIZE,
    DEFAULT_MAX_CONCURRENT_STREAMS,
    DEFAULT_MAX_HEADER_LIST_SIZE,
)

from ._compat import HAS_HTTPTOOLS, HAS_UVLOOP
from .access_log import AccessFormat
from .errors import ConfigError
from .interfaces import A2WSGI_MISSING, INTERFACE_CHOICES, have_a2wsgi
from .proxy import DEFAULT_TRUSTED, ProxyTrust, parse_trusted
from .rss import STATM_PATH, rss_available

SSLContextFactory = Callable[["Config", Callable[[], ssl.SSLContext]], ssl.SSLContext]

# ``none``: no loop of pounce's choosing, asyncio's own (its event loop policy decides). Any
# other value with a colon is a ``module:attribute`` import string naming a loop factory, a
# callable that returns a new event loop (uvicorn's ``--loop`` takes the same).
LOOP_CHOICES = ("auto", "asyncio", "uvloop", "none")
HTTP_CHOICES = ("auto", "httptools", "h11")
LIFESPAN_CHOICES = ("auto", "on", "off")
# uvicorn's --ws names. pounce has one WebSocket implementation (wsproto-based, with its own
# per-message deflate and masking): "websockets" and "websockets-sansio" (uvicorn's default
# since 0.52) select it too, and the CLI says so at start; "none" refuses WebSocket requests.
WS_CHOICES = ("auto", "wsproto", "websockets", "websockets-sansio", "none")
WEBSOCKETS_ALIASES = ("websockets", "websockets-sansio")

# uvicorn's LOGGING_CONFIG (uvicorn/config.py) with pounce's names: the default ``log_config``,
# a dict to copy and extend as uvicorn users do (``log_config=None`` leaves logging alone).
LOGGING_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "default": {
            "()": "pounce.logging.DefaultFormatter",
            "fmt": "%(levelprefix)s %(message)s",
            "use_colors": None,
        },
        "access": {
            "()": "pounce.logging.AccessFormatter",
            "fmt": '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s',
        },
    },
    "handlers": {
        "default": {
            "formatter": "default",
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
        },
        "access": {
            "formatter": "access",
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
        },
    },
    "loggers": {
        "pounce": {"handlers": ["default"], "level": "INFO", "propagate": False},
        "pounce.error": {"level": "INFO"},
        "pounce.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
    },
}
LOG_LEVELS: dict[str, int] = {
    "critical": logging.CRITICAL,
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "trace": 5,
}

# Largest request head (request line plus header fields) accepted, as uvicorn's h11 default.
DEFAULT_MAX_HEAD_SIZE = 16 * 1024
# A whole request head must arrive within this many seconds of its first byte.
DEFAULT_TIMEOUT_REQUEST_HEADER = 10.0
# An announced request body that makes no progress this long is given up (408). Longer than
# the head timeout: a body may be large and come from a slow uplink, but a client that sends
# nothing for half a minute is stalled, not slow (nginx's client_body_timeout is 60 s).
DEFAULT_TIMEOUT_REQUEST_BODY = 30.0
# A client that reads none of the response for this long while writes are paused is closed;
# the same idea, and the same default, as --h2-write-timeout.
DEFAULT_TIMEOUT_SEND = 30.0
DEFAULT_TIMEOUT_TLS_HANDSHAKE = 10.0
# gunicorn's defaults: request line, one header field line, number of header fields.
DEFAULT_LIMIT_REQUEST_LINE = 8190
DEFAULT_LIMIT_REQUEST_FIELD_SIZE = 8190
DEFAULT_LIMIT_REQUEST_FIELDS = 100


def option_name(field_name: str) -> str:
    """``timeout_keep_alive`` -> ``--timeout-keep-alive``."""
    return "--" + field_name.replace("_", "-")


def _require(cond: bool, name: str, message: str) -> None:
    if not cond:
        raise ConfigError(f"{option_name(name)}: {message}")


@dataclass(frozen=True)
class Config:
    """Everything one pounce server needs to know. Immutable; ``replace()`` makes variants."""

    app: str | ASGIApp
    host: str = "127.0.0.1"
    port: int = 8000
    uds: str | None = None
    fd: int | None = None
    backlog: int = 2048
    loop: str = "auto"
    http: str = "auto"
    lifespan: str = "auto"
    env_file: str | None = None
    log_config: str | dict[str, Any] | None = field(
        default_factory=lambda: LOGGING_CONFIG, repr=False
    )
    log_level: str | int | None = None
    access_log: bool = True
    access_log_format: str | None = None
    access_log_json: bool = False
    use_colors: bool | None = None
    proxy_headers: bool = True
    forwarded_allow_ips: str | Sequence[str] | None = None
    # Read RFC 7239 Forwarded instead of X-Forwarded-For/-Proto (pounce/proxy.py).
    proxy_headers_forwarded: bool = False
    # Read a PROXY protocol header (v1 or v2) from --forwarded-allow-ips peers before HTTP or
    # TLS (pounce/proxy_protocol.py, pounce/proxy_listener.py).
    proxy_protocol: bool = False
    server_header: bool = True
    date_header: bool = True
    headers: Sequence[tuple[str, str]] = ()
    root_path: str = ""
    limit_concurrency: int | None = None
    timeout_keep_alive: float = 5.0
    # Slow clients and oversized requests (pounce/asgi/limits.py explains each rule).
    timeout_request_header: float = DEFAULT_TIMEOUT_REQUEST_HEADER
    timeout_request_body: float = DEFAULT_TIMEOUT_REQUEST_BODY
    timeout_send: float = DEFAULT_TIMEOUT_SEND
    timeout_tls_handshake: float = DEFAULT_TIMEOUT_TLS_HANDSHAKE
    limit_request_line: int = DEFAULT_LIMIT_REQUEST_LINE
    limit_request_field_size: int = DEFAULT_LIMIT_REQUEST_FIELD_SIZE
    limit_request_fields: int = DEFAULT_LIMIT_REQUEST_FIELDS
    limit_request_body: int | None = None
    limit_connections: int | None = None
    timeout_graceful_shutdown: float | None = None
    # Prefork supervisor (pounce/supervisor.py) and dev reload (pounce/reload.py).
    workers: int | None = None  # None: $WEB_CONCURRENCY, else 1
    preload: bool = False
    reuse_port: bool = False
    timeout_worker_healthcheck: float = 5.0
    limit_max_requests: int | None = None
    limit_max_requests_jitter: int = 0
    # MiB of resident memory a worker may stay above before it is recycled (pounce/rss.py).
    limit_max_rss: int | None = None
    # Prometheus metrics, /livez and /readyz on a listener of their own, served by the
    # supervisor (pounce/metrics_listener.py); ``None``: off, nothing is counted.
    metrics_bind: str | None = None
    # On SIGTERM, /readyz answers 503 at once while serving goes on this many seconds, so that
    # load balancers stop sending new connections before the drain (Kubernetes endpoints are
    # removed asynchronously); then the stop proceeds as without it.
    shutdown_delay: float = 0.0
    reload: bool = False
    reload_dirs: Sequence[str] = ()
    reload_includes: Sequence[str] = ()
    reload_excludes: Sequence[str] = ()
    reload_delay: float = 0.25
    # A 500 for an app's exception shows the traceback (pounce/debug_page.py). None: on with
    # --reload, else off (debug_enabled); never in production.
    debug: bool | None = None
    app_dir: str | None = "."
    factory: bool = False
    interface: str = "auto"
    h11_max_incomplete_event_size: int | None = None
    # TLS (uvicorn's names and defaults) and HTTP/2.
    ssl_keyfile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile_password: str | None = None
    ssl_version: int = int(ssl.PROTOCOL_TLS_SERVER)
    ssl_cert_reqs: int = int(ssl.CERT_NONE)
    ssl_ca_certs: str | None = None
    # None: the ssl module's default cipher list (uvicorn 0.55's default; see ssl_context()).
    ssl_ciphers: str | None = None
    http2: bool = True
    # HTTP/1.1 ``Upgrade: h2c`` (RFC 7540 §3.2, deprecated by RFC 9113 §3.1): off, because a
    # proxy that forwards the header can be tunnelled past (pounce/http2/negotiate.py).
    h2c_upgrade: bool = False
    h2_max_concurrent_streams: int = DEFAULT_MAX_CONCURRENT_STREAMS
    h2_initial_window_size: int = DEFAULT_INITIAL_WINDOW_SIZE
    h2_initial_connection_window_size: int = DEFAULT_CONNECTION_WINDOW_SIZE
    h2_max_header_list_size: int = DEFAULT_MAX_HEADER_LIST_SIZE
    h2_write_timeout: float = DEFAULT_TIMEOUT_SEND
    # WebSocket (pounce/websocket/_session.py), uvicorn's names and defaults.
    ws: str = "auto"
    ws_max_size: int = 16 * 1024 * 1024
    ws_max_queue: int = 32
    ws_ping_interval: float | None = 20.0
    ws_ping_timeout: float | None = 20.0
    ws_per_message_deflate: bool = True
    # A heartbeat for a process manager (uvicorn's names; gunicorn's worker, pounce/workers.py,
    # passes its ``notify``): the periodic tick calls ``callback_notify`` (and awaits it when it
    # returns an awaitable) every ``timeout_notify`` seconds while the event loop is alive.
    timeout_notify: float = 30.0
    callback_notify: Callable[[], Any] | None = field(default=None, compare=False, repr=False)
    # uvicorn's keywords for the Server API. ``reset_contextvars``: each request's task runs in
    # an empty ``contextvars.Context`` (a workaround for CPython gh-140947, where asyncio can
    # leak context between tasks; it also hides context set in the lifespan).
    reset_contextvars: bool = False
    # Called as ``factory(config, default_factory)``; returns the ``ssl.SSLContext`` to serve
    # with. ``default_factory()`` builds the context the ``--ssl-*`` options describe.
    ssl_context_factory: SSLContextFactory | None = None
    # Not options: filled in by the CLI / run() for the worker.
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        _require(
            self.loop in LOOP_CHOICES or is_import_string(self.loop),
            "loop",
            f"must be one of {', '.join(LOOP_CHOICES)}, or a loop factory as "
            f'"<module>:<attribute>" (got {self.loop!r})',
        )
        _require(self.http in HTTP_CHOICES, "http", f"must be one of {', '.join(HTTP_CHOICES)}")
        _require(
            self.lifespan in LIFESPAN_CHOICES,
            "lifespan",
            f"must be one of {', '.join(LIFESPAN_CHOICES)}",
        )
        _require(0 <= self.port <= 65535, "port", f"{self.port} is not in 0-65535")
        _require(self.backlog > 0, "backlog", "must be positive")
        _require(self.timeout_keep_alive > 0, "timeout_keep_alive", "must be positive")
        if self.timeout_graceful_shutdown is not None:
            _require(
                self.timeout_graceful_shutdown >= 0,
                "timeout_graceful_shutdown",
                "must not be negative",
            )
        if self.limit_concurrency is not None:
            _require(self.limit_concurrency > 0, "limit_concurrency", "must be positive")
        self._validate_limits()
        if self.h11_max_incomplete_event_size is not None:
            _require(
                self.h11_max_incomplete_event_size >= 64,
                "h11_max_incomplete_event_size",
                "must be at least 64 bytes",
            )
        self._validate_tls_and_h2()
        self._validate_ws()
        _require(self.timeout_notify > 0, "timeout_notify", "must be positive")
        if self.callback_notify is not None:
            _require(callable(self.callback_notify), "callback_notify", "must be callable")
        if isinstance(self.log_level, str):
            _require(
                self.log_level.lower() in LOG_LEVELS,
                "log_level",
                f"must be one of {', '.join(LOG_LEVELS)}",
            )
        if self.access_log_format is not None:
            try:
                AccessFormat(self.access_log_format)
            except ValueError as exc:
                _require(False, "access_log_format", str(exc))
        if self.fd is not None:
            _require(self.fd >= 0, "fd", "must not be negative")
        if self.root_path:
            _require(
                self.root_path.startswith("/") and not self.root_path.endswith("/"),
                "root_path",
                "must start with '/' and not end with '/'",
            )
        for name, value in self.headers:
            _require(bool(name), "header", "header name must not be empty")
            for ch in name + value:
                _require(ch not in "\r\n\0", "header", f"invalid character in {name!r}")
        if self.proxy_headers:
            ProxyTrust(self.trusted_proxies)  # raises ConfigError naming the bad entry
        self._validate_process_options()
        self._validate_interface()
        if self.loop == "uvloop" and not HAS_UVLOOP:
            raise ConfigError(
                "--loop uvloop: uvloop is not installed (pip install pounce[speedups])"
            )
        if self.http == "httptools" and not HAS_HTTPTOOLS:
            raise ConfigError(
                "--http httptools: httptools is not installed (pip install pounce[speedups])"
            )

    def _validate_tls_and_h2(self) -> None:
        if self.ssl_keyfile or self.ssl_ca_certs or self.ssl_keyfile_password:
            _require(bool(self.ssl_certfile), "ssl_certfile", "is required for TLS")
        _require(
            self.ssl_cert_reqs in (ssl.CERT_NONE, ssl.CERT_OPTIONAL, ssl.CERT_REQUIRED),
            "ssl_cert_reqs",
            "must be 0 (none), 1 (optional) or 2 (required)",
        )
        if self.ssl_ciphers:
            # Checked here so that a typo fails at start-up, before any worker or lifespan.
            try:
                ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).set_ciphers(self.ssl_ciphers)
            except ssl.SSLError as exc:
                raise ConfigError(
                    f"--ssl-ciphers: no cipher can be selected from {self.ssl_ciphers!r}"
                ) from exc
        # RFC 9113 §6.5.2 bounds for the advertised settings.
        _require(
            1 <= self.h2_max_concurrent_streams <= 2**31 - 1,
            "h2_max_concurrent_streams",
            "must be at least 1",
        )
        for name in ("h2_initial_window_size", "h2_initial_connection_window_size"):
            _require(65535 <= getattr(self, name) <= 2**31 - 1, name, "must be in 65535-2147483647")
        _require(
            1024 <= self.h2_max_header_list_size <= 2**31 - 1,
            "h2_max_header_list_size",
            "must be at least 1024",
        )
        _require(self.h2_write_timeout > 0, "h2_write_timeout", "must be positive")

    def _validate_limits(self) -> None:
        for name in (
            "timeout_request_header",
            "timeout_request_body",
            "timeout_send",
            "timeout_tls_handshake",
        ):
            _require(getattr(self, name) > 0, name, "must be positive")
        for name in ("limit_request_line", "limit_request_field_size"):
            _require(getattr(self, name) >= 16, name, "must be at least 16 bytes")
        _require(self.limit_request_fields >= 1, "limit_request_fields", "must be at least 1")
        for name in ("limit_request_body", "limit_connections"):
            value = getattr(self, name)
            if value is not None:
                _require(value > 0, name, "must be positive")

    def _validate_interface(self) -> None:
        _require(
            self.interface in INTERFACE_CHOICES,
            "interface",
            f"must be one of {', '.join(INTERFACE_CHOICES)}",
        )
        if self.interface == "wsgi":
            if not have_a2wsgi():
                raise ConfigError(f"--interface wsgi: {A2WSGI_MISSING}")

    def _validate_ws(self) -> None:
        _require(self.ws in WS_CHOICES, "ws", f"must be one of {', '.join(WS_CHOICES)}")
        _require(self.ws_max_size > 0, "ws_max_size", "must be positive")
        _require(self.ws_max_queue > 0, "ws_max_queue", "must be positive")
        for name in ("ws_ping_interval", "ws_ping_timeout"):
            value = getattr(self, name)
            if value is not None:
                _require(value >= 0, name, "must not be negative")

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)

    # Resolved choices -------------------------------------------------------------------------

    @property
    def loop_name(self) -> str:
        """The concrete event loop: ``uvloop``, ``asyncio``, ``none`` (asyncio's default) or
        the loop factory's import string."""
        if self.loop == "auto":
            return "uvloop" if HAS_UVLOOP else "asyncio"
        return self.loop

    @property
    def http_name(self) -> str:
        """The concrete HTTP/1.1 parser: ``httptools`` or ``h11``."""
        if self.http == "auto":
            return "httptools" if HAS_HTTPTOOLS else "h11"
        return self.http

    @property
    def log_level_number(self) -> int:
        if self.log_level is None:
            return logging.INFO
        if isinstance(self.log_level, int):
            return self.log_level
        return LOG_LEVELS[self.log_level.lower()]

    @property
    def debug_enabled(self) -> bool:
        """``--debug``, ``--no-debug``, or when neither is given: whether ``--reload`` is on."""
        return self.reload if self.debug is None else self.debug

    @property
    def max_head_size(self) -> int:
        return self.h11_max_incomplete_event_size or DEFAULT_MAX_HEAD_SIZE

    @property
    def trusted_proxies(self) -> list[str]:
        value = self.forwarded_allow_ips
        if value is None:
            value = os.environ.get("FORWARDED_ALLOW_IPS", DEFAULT_TRUSTED)
        return parse_trusted(value)

    @property
    def is_ssl(self) -> bool:
        return bool(self.ssl_certfile or self.ssl_context_factory)

    def ssl_context(self) -> ssl.SSLContext | None:
        """The server's TLS context: ``ssl_context_factory``'s, else the one the ``--ssl-*``
        options describe (``default_ssl_context``)."""
        if self.ssl_context_factory is not None:
            context = self.ssl_context_factory(self, self.default_ssl_context)
            if not isinstance(context, ssl.SSLContext):
                raise ConfigError(
                    "ssl_context_factory: must return an ssl.SSLContext, "
                    f"got {type(context).__name__}"
                )
            return context
        if not self.is_ssl:
            return None
        return self.default_ssl_context()

    def default_ssl_context(self) -> ssl.SSLContext:
        """The context of ``--ssl-certfile`` and the other ``--ssl-*`` options, offering ALPN
        ``h2, http/1.1`` (RFC 9113 §3.2)."""
        if not self.ssl_certfile:
            raise ConfigError(
                "--ssl-certfile: the default SSL context factory needs a certificate file; "
                "set ssl_certfile or build the context in ssl_context_factory"
            )
        try:
            ctx = ssl.SSLContext(self.ssl_version)
        except ValueError as exc:
            raise ConfigError(f"--ssl-version: {exc}") from exc
        try:
            ctx.load_cert_chain(self.ssl_certfile, self.ssl_keyfile, self.ssl_keyfile_password)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"--ssl-certfile: cannot load certificate: {exc}") from exc
        ctx.verify_mode = ssl.VerifyMode(self.ssl_cert_reqs)
        if self.ssl_ca_certs:
            try:
                ctx.load_verify_locations(self.ssl_ca_certs)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(f"--ssl-ca-certs: {exc}") from exc
        # Without --ssl-ciphers the context keeps the ssl module's default list (ECDHE with
        # AES-GCM or ChaCha20-Poly1305 first, no SHA-1 or RC4), as uvicorn 0.55 does. With the
        # server's order preferred, a TLS 1.2 client that offers an AEAD ECDHE suite gets one,
        # so h2 over TLS 1.2 uses a cipher RFC 9113 §9.2.2 allows (its Appendix A forbids the
        # CBC and non-ephemeral suites) even when the client lists a forbidden one first.
        ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
        if self.ssl_ciphers:
            try:
                ctx.set_ciphers(self.ssl_ciphers)
            except ssl.SSLError as exc:
                raise ConfigError(
                    f"--ssl-ciphers: no cipher can be selected from {self.ssl_ciphers!r}"
                ) from exc
        ctx.set_alpn_protocols(["h2", "http/1.1"] if self.http2 else ["http/1.1"])
        return ctx

    def bind_description(self) -> str:
        """Where this config listens, for the startup log line."""
        if self.fd is not None:
            return f"socket from fd {self.fd}"
        if self.uds:
            return f"unix socket {self.uds}"
        scheme = "https" if self.is_ssl else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    def load_env_file(self) -> None:
        """Load ``--env-file`` into os.environ (before the app is imported)."""
        if not self.env_file:
            return
        if not os.path.isfile(self.env_file):
            raise ConfigError(f"--env-file: {self.env_file} does not exist")
        try:
            from dotenv import load_dotenv  # noqa: PLC0415  # optional (python-dotenv): --env-file
        except ImportError as exc:
            raise ConfigError(
                "--env-file: python-dotenv is required (pip install pounce[dotenv])"
            ) from exc
        load_dotenv(self.env_file, override=True)

    # Processes (pounce/supervisor.py) ---------------------------------------------------

    def _validate_process_options(self) -> None:
        if self.workers is not None:
            _require(self.workers >= 1, "workers", "must be at least 1")
        else:
            self.worker_count  # noqa: B018 - raises ConfigError for a bad $WEB_CONCURRENCY
        _require(
            self.timeout_worker_healthcheck > 0, "timeout_worker_healthcheck", "must be positive"
        )
        if self.limit_max_requests is not None:
            _require(self.limit_max_requests > 0, "limit_max_requests", "must be positive")
        _require(
            self.limit_max_requests_jitter >= 0, "limit_max_requests_jitter", "must not be negative"
        )
        if self.limit_max_rss is not None:
            _require(self.limit_max_rss > 0, "limit_max_rss", "must be a positive number of MiB")
            _require(
                rss_available(),
                "limit_max_rss",
                f"needs {STATM_PATH} to read a worker's resident memory (Linux)",
            )
        _require(self.reload_delay >= 0, "reload_delay", "must not be negative")
        _require(
            math.isfinite(self.shutdown_delay) and self.shutdown_delay >= 0,
            "shutdown_delay",
            f"must be a number of seconds, not negative (got {self.shutdown_delay!r})",
        )
        if self.metrics_bind is not None:
            try:
                parse_host_port(self.metrics_bind)
            except ValueError as exc:
                _require(False, "metrics_bind", str(exc))
        if self.reuse_port:
            _require(
                self.uds is None and self.fd is None,
                "reuse_port",
                "works with --host/--port only, not with --uds or --fd",
            )
        if self.reload:
            _require(
                isinstance(self.app, str),
                "reload",
                'needs the app as an import string ("module:attribute") to re-import it',
            )

    @property
    def worker_count(self) -> int:
        """``--workers``, else ``$WEB_CONCURRENCY`` (as uvicorn and gunicorn), else 1."""
        if self.workers is not None:
            return self.workers
        env = os.environ.get("WEB_CONCURRENCY", "").strip()
        if not env:
            return 1
        if not env.isdigit() or int(env) < 1:
            raise ConfigError(f"--workers: $WEB_CONCURRENCY={env!r} is not a positive integer")
        return int(env)

    @property
    def use_supervisor(self) -> bool:
        """Several workers, recycling (which needs a parent to start the replacement),
        ``--metrics-bind`` (the supervisor serves the metrics listener) or ``--shutdown-delay``
        (the supervisor holds the stop back)."""
        return (
            self.worker_count > 1
            or self.limit_max_requests is not None
            or self.limit_max_rss is not None
            or self.metrics_bind is not None
            or self.shutdown_delay > 0
        )


def parse_host_port(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` for an IPv6 address) -> ``(host, port)``; ValueError with
    the reason otherwise. An empty host is refused: a metrics endpoint open on every interface
    should be asked for (``0.0.0.0:9100``), not the result of a typo."""
    host, sep, port = value.rpartition(":")
    if not sep or not host:
        raise ValueError(f"expected HOST:PORT, e.g. 127.0.0.1:9100 (got {value!r})")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"write an IPv6 address in brackets, e.g. [::1]:9100 (got {value!r})")
    if not host or any(c.isspace() for c in host):
        raise ValueError(f"expected HOST:PORT, e.g. 127.0.0.1:9100 (got {value!r})")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        # Not 0 either: a scraper has to know the port.
        raise ValueError(f"the port must be a number in 1-65535 (got {value!r})")
    return host, int(port)


def is_import_string(value: str) -> bool:
    """``module:attribute`` with both parts present (what ``--loop`` accepts as a factory)."""
    module, sep, attr = value.partition(":")
    return bool(sep and module and attr)


def python_description() -> str:
    impl = sys.implementation.name
    name = {"cpython": "CPython", "pypy": "PyPy"}.get(impl, impl)
    return f"{name} {'.'.join(map(str, sys.version_info[:3]))}"
