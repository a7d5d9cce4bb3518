"""pounce: a fast ASGI server. ``pounce.run(app, **options)`` takes the CLI's options."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .config import LOGGING_CONFIG, Config
from .launch import run_config
from .server import Server

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from .asgi.types import ASGIApp
    from .config import SSLContextFactory

__all__ = ["Config", "Server", "__version__", "run"]


def run(
    app: ASGIApp | str,
    *,
    host: str = Config.host,
    port: int = Config.port,
    uds: str | None = Config.uds,
    fd: int | None = Config.fd,
    backlog: int = Config.backlog,
    loop: str = Config.loop,
    http: str = Config.http,
    lifespan: str = Config.lifespan,
    env_file: str | None = Config.env_file,
    log_config: str | dict[str, Any] | None = LOGGING_CONFIG,
    log_level: str | int | None = Config.log_level,
    access_log: bool = Config.access_log,
    access_log_format: str | None = Config.access_log_format,
    access_log_json: bool = Config.access_log_json,
    use_colors: bool | None = Config.use_colors,
    proxy_headers: bool = Config.proxy_headers,
    proxy_headers_forwarded: bool = Config.proxy_headers_forwarded,
    proxy_protocol: bool = Config.proxy_protocol,
    forwarded_allow_ips: str | Sequence[str] | None = Config.forwarded_allow_ips,
    server_header: bool = Config.server_header,
    date_header: bool = Config.date_header,
    headers: Sequence[tuple[str, str]] = Config.headers,
    root_path: str = Config.root_path,
    limit_concurrency: int | None = Config.limit_concurrency,
    timeout_keep_alive: float = Config.timeout_keep_alive,
    timeout_request_header: float = Config.timeout_request_header,
    timeout_request_body: float = Config.timeout_request_body,
    timeout_send: float = Config.timeout_send,
    timeout_tls_handshake: float = Config.timeout_tls_handshake,
    limit_request_line: int = Config.limit_request_line,
    limit_request_field_size: int = Config.limit_request_field_size,
    limit_request_fields: int = Config.limit_request_fields,
    limit_request_body: int | None = Config.limit_request_body,
    limit_connections: int | None = Config.limit_connections,
    timeout_graceful_shutdown: float | None = Config.timeout_graceful_shutdown,
    workers: int | None = Config.workers,
    preload: bool = Config.preload,
    reuse_port: bool = Config.reuse_port,
    timeout_worker_healthcheck: float = Config.timeout_worker_healthcheck,
    limit_max_requests: int | None = Config.limit_max_requests,
    limit_max_requests_jitter: int = Config.limit_max_requests_jitter,
    limit_max_rss: int | None = Config.limit_max_rss,
    metrics_bind: str | None = Config.metrics_bind,
    shutdown_delay: float = Config.shutdown_delay,
    reload: bool = Config.reload,
    reload_dirs: Sequence[str] = Config.reload_dirs,
    reload_includes: Sequence[str] = Config.reload_includes,
    reload_excludes: Sequence[str] = Config.reload_excludes,
    reload_delay: float = Config.reload_delay,
    debug: bool | None = Config.debug,
    app_dir: str | None = Config.app_dir,
    factory: bool = Config.factory,
    interface: str = Config.interface,
    h11_max_incomplete_event_size: int | None = Config.h11_max_incomplete_event_size,
    ssl_keyfile: str | None = Config.ssl_keyfile,
    ssl_certfile: str | None = Config.ssl_certfile,
    ssl_keyfile_password: str | None = Config.ssl_keyfile_password,
    ssl_version: int = Config.ssl_version,
    ssl_cert_reqs: int = Config.ssl_cert_reqs,
    ssl_ca_certs: str | None = Config.ssl_ca_certs,
    ssl_ciphers: str | None = Config.ssl_ciphers,
    http2: bool = Config.http2,
    h2c_upgrade: bool = Config.h2c_upgrade,
    h2_max_concurrent_streams: int = Config.h2_max_concurrent_streams,
    h2_initial_window_size: int = Config.h2_initial_window_size,
    h2_initial_connection_window_size: int = Config.h2_initial_connection_window_size,
    h2_max_header_list_size: int = Config.h2_max_header_list_size,
    h2_write_timeout: float = Config.h2_write_timeout,
    ws: str = Config.ws,
    ws_max_size: int = Config.ws_max_size,
    ws_max_queue: int = Config.ws_max_queue,
    ws_ping_interval: float | None = Config.ws_ping_interval,
    ws_ping_timeout: float | None = Config.ws_ping_timeout,
    ws_per_message_deflate: bool = Config.ws_per_message_deflate,
    timeout_notify: float = Config.timeout_notify,
    callback_notify: Callable[[], Any] | None = Config.callback_notify,
    reset_contextvars: bool = Config.reset_contextvars,
    ssl_context_factory: SSLContextFactory | None = Config.ssl_context_factory,
) -> None:
    """Serve ``app`` (an ASGI callable or ``"module:attr"``) until stopped.

    Takes uvicorn's keywords and the CLI's options by their Python names
    (``timeout_keep_alive=5``). Each default is ``Config``'s own (defined once, there), and
    every ``Config`` field is a keyword here (tests/unit/test_server_api.py checks both).
    Exits the process with the server's exit code when it is not 0 (3: the app could not be
    imported or started, or the socket could not be bound).
    With ``workers=N`` (N > 1), ``limit_max_requests``, ``limit_max_rss`` or ``metrics_bind``
    the prefork supervisor runs them;
    with ``reload=True`` (app given as ``"module:attr"``) the reloader does.
    """
    options = dict(locals())
    config = Config(**options)
    code = run_config(config)
    if code:
        sys.exit(code)
