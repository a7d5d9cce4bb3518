"""``pounce [OPTIONS] APP``: uvicorn's options and defaults, read also from ``POUNCE_*``, and
for the options uvicorn has from ``UVICORN_*`` when the ``POUNCE_*`` variable is not set.

Errors are one line on stderr and an exit code, never a traceback: 2 for a bad option, 3 (as
uvicorn) for an app path that is malformed or fails to import, an app or loop factory that
fails to load, an app that fails to start, or a socket that cannot be bound.
``--log-level debug`` adds the traceback.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import traceback
from typing import Any

import click
from click.core import ParameterSource

from ._version import __version__
from .config import (
    HTTP_CHOICES,
    INTERFACE_CHOICES,
    LIFESPAN_CHOICES,
    LOG_LEVELS,
    LOOP_CHOICES,
    WS_CHOICES,
    Config,
    python_description,
)
from .errors import EXIT_APP, EXIT_USAGE, AppLoadError, BindError, ConfigError
from .importer import AppPathError
from .launch import run_config
from .server import implementations

# The options' defaults are Config's field defaults, defined there once (click shows them).
# --log-config is the exception: its None means "not given", and cli() then leaves Config's
# own default (LOGGING_CONFIG) in place.
DEFAULTS: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(Config)}


@click.command(context_settings={"auto_envvar_prefix": "POUNCE", "show_default": True})
@click.argument("app", required=False, envvar="POUNCE_APP")
@click.option("--host", default=DEFAULTS["host"], help="Bind socket to this host.")
@click.option(
    "--port",
    type=int,
    default=DEFAULTS["port"],
    help="Bind socket to this port (0: any free port).",
)
@click.option("--uds", default=None, help="Bind to a UNIX domain socket.")
@click.option("--fd", type=int, default=None, help="Bind to socket from this file descriptor.")
@click.option(
    "--backlog",
    type=int,
    default=DEFAULTS["backlog"],
    help="Maximum number of pending connections.",
)
@click.option(
    "--loop",
    default=DEFAULTS["loop"],
    metavar="[" + "|".join(LOOP_CHOICES) + "|MODULE:FACTORY]",
    help="Event loop (none: asyncio's default; MODULE:FACTORY: a callable returning a loop).",
)
@click.option(
    "--http", type=click.Choice(HTTP_CHOICES), default=DEFAULTS["http"], help="HTTP/1.1 parser."
)
@click.option(
    "--lifespan",
    type=click.Choice(LIFESPAN_CHOICES),
    default=DEFAULTS["lifespan"],
    help="Lifespan mode.",
)
@click.option("--env-file", type=click.Path(exists=True), default=None, help="Environment file.")
@click.option("--log-config", type=click.Path(exists=True), default=None, help="Logging config.")
@click.option(
    "--log-level", type=click.Choice(list(LOG_LEVELS)), default=None, help="Log level [info]."
)
@click.option(
    "--access-log/--no-access-log", default=DEFAULTS["access_log"], help="Log every response."
)
@click.option(
    "--access-log-format",
    default=None,
    help="Access line with gunicorn's atoms, e.g. '%(h)s \"%(r)s\" %(s)s %(b)s %(D)s'.",
)
@click.option(
    "--access-log-json/--no-access-log-json",
    default=DEFAULTS["access_log_json"],
    help="Access log as one JSON object per line.",
)
@click.option("--use-colors/--no-use-colors", default=None, help="Coloured log levels.")
@click.option(
    "--proxy-headers/--no-proxy-headers",
    default=DEFAULTS["proxy_headers"],
    help="Trust X-Forwarded-For/Proto from --forwarded-allow-ips.",
)
@click.option(
    "--forwarded-allow-ips",
    default=None,
    help="Trusted proxies: IPs, CIDRs, 'unix:[PATH]' or '*' "
    "[$FORWARDED_ALLOW_IPS or 127.0.0.1,::1].",
)
@click.option(
    "--proxy-headers-forwarded/--no-proxy-headers-forwarded",
    default=DEFAULTS["proxy_headers_forwarded"],
    help="Read RFC 7239 Forwarded (for, proto, host) instead of X-Forwarded-For/Proto.",
)
@click.option(
    "--proxy-protocol/--no-proxy-protocol",
    default=DEFAULTS["proxy_protocol"],
    help="Each connection starts with a PROXY protocol v1/v2 header from --forwarded-allow-ips "
    "(others are closed); its source address is the client.",
)
@click.option(
    "--server-header/--no-server-header",
    default=DEFAULTS["server_header"],
    help="Send 'server: pounce'.",
)
@click.option(
    "--date-header/--no-date-header", default=DEFAULTS["date_header"], help="Send a 'date' header."
)
@click.option("--header", "headers", multiple=True, help="Extra response header NAME:VALUE.")
@click.option(
    "--root-path",
    default=DEFAULTS["root_path"],
    help="ASGI root_path, for an app behind a path prefix.",
)
@click.option(
    "--limit-concurrency", type=int, default=None, help="Answer 503 beyond this many tasks."
)
@click.option(
    "--timeout-keep-alive",
    type=float,
    default=DEFAULTS["timeout_keep_alive"],
    help="Close idle keep-alive connections.",
)
@click.option(
    "--timeout-request-header",
    type=float,
    default=DEFAULTS["timeout_request_header"],
    help="A request head must arrive within this many seconds of its first byte (else 408).",
)
@click.option(
    "--timeout-request-body",
    type=float,
    default=DEFAULTS["timeout_request_body"],
    help="Give up (408) on a request body that makes no progress for this many seconds.",
)
@click.option(
    "--timeout-send",
    type=float,
    default=DEFAULTS["timeout_send"],
    help="Close an HTTP/1.1 connection whose client reads nothing for this many seconds.",
)
@click.option(
    "--timeout-tls-handshake",
    type=float,
    default=DEFAULTS["timeout_tls_handshake"],
    help="Close a TLS connection whose handshake takes longer than this.",
)
@click.option(
    "--limit-request-line",
    type=int,
    default=DEFAULTS["limit_request_line"],
    help="Longest request target in bytes (longer: 414).",
)
@click.option(
    "--limit-request-field-size",
    type=int,
    default=DEFAULTS["limit_request_field_size"],
    help="Longest request header field in bytes (longer: 431).",
)
@click.option(
    "--limit-request-fields",
    type=int,
    default=DEFAULTS["limit_request_fields"],
    help="Most request header fields (more: 431).",
)
@click.option(
    "--limit-request-body",
    type=int,
    default=None,
    help="Largest request body in bytes (larger: 413) [unlimited].",
)
@click.option(
    "--limit-connections",
    type=int,
    default=None,
    help="Most connections per worker (more: 503 and close) [unlimited].",
)
@click.option(
    "--timeout-graceful-shutdown",
    type=float,
    default=None,
    help="Cancel what is left this many seconds after a stop was requested.",
)
@click.option("--app-dir", default=DEFAULTS["app_dir"], help="Look for APP in this directory.")
@click.option(
    "--factory", is_flag=True, default=DEFAULTS["factory"], help="APP is a factory to call."
)
@click.option(
    "--interface",
    type=click.Choice(INTERFACE_CHOICES),
    default=DEFAULTS["interface"],
    help="How APP is called: ASGI 3, ASGI 2, or WSGI (needs pounce[wsgi]).",
)
@click.option(
    "--workers",
    type=int,
    default=None,
    help="Number of worker processes [$WEB_CONCURRENCY or 1].",
)
@click.option(
    "--preload",
    is_flag=True,
    default=DEFAULTS["preload"],
    help="Import the app once, before forking workers.",
)
@click.option(
    "--reuse-port",
    is_flag=True,
    default=DEFAULTS["reuse_port"],
    help="Each worker binds its own SO_REUSEPORT socket; the kernel balances between them.",
)
@click.option(
    "--timeout-worker-healthcheck",
    type=float,
    default=DEFAULTS["timeout_worker_healthcheck"],
    help="Replace a worker that does not answer a health ping for this many seconds.",
)
@click.option(
    "--limit-max-requests",
    type=int,
    default=None,
    help="Recycle a worker after this many requests.",
)
@click.option(
    "--limit-max-requests-jitter",
    type=int,
    default=DEFAULTS["limit_max_requests_jitter"],
    help="Add up to this many requests (random, per worker) to --limit-max-requests.",
)
@click.option(
    "--limit-max-rss",
    type=int,
    default=None,
    metavar="MIB",
    help="Recycle a worker whose resident memory stays above this many MiB [off].",
)
@click.option(
    "--metrics-bind",
    default=DEFAULTS["metrics_bind"],
    metavar="HOST:PORT",
    help="Serve Prometheus /metrics, /livez and /readyz here (runs the supervisor) [off].",
)
@click.option(
    "--shutdown-delay",
    type=float,
    default=DEFAULTS["shutdown_delay"],
    metavar="SECONDS",
    help="On SIGTERM, /readyz turns 503 and serving goes on this long before the drain.",
)
@click.option(
    "--reload", is_flag=True, default=DEFAULTS["reload"], help="Restart when files change (dev)."
)
@click.option(
    "--reload-dir",
    "reload_dirs",
    multiple=True,
    envvar="POUNCE_RELOAD_DIR",
    help="Directory to watch with --reload [current directory]. Repeatable.",
)
@click.option(
    "--reload-include",
    "reload_includes",
    multiple=True,
    envvar="POUNCE_RELOAD_INCLUDE",
    help="Glob of files to watch with --reload [*.py]. Repeatable.",
)
@click.option(
    "--reload-exclude",
    "reload_excludes",
    multiple=True,
    envvar="POUNCE_RELOAD_EXCLUDE",
    help="Glob of files or directories to ignore with --reload [.*, .py[cod], .sw.*, ~*].",
)
@click.option(
    "--reload-delay",
    type=float,
    default=DEFAULTS["reload_delay"],
    help="Seconds to wait after a change before restarting.",
)
@click.option(
    "--debug/--no-debug",
    default=DEFAULTS["debug"],
    help="A 500 for an app's exception shows the traceback (development only) "
    "[on with --reload, else off].",
)
@click.option(
    "--h11-max-incomplete-event-size",
    type=int,
    default=None,
    help="Largest request head in bytes [16384].",
)
@click.option("--ssl-keyfile", default=None, help="SSL key file.")
@click.option("--ssl-certfile", default=None, help="SSL certificate file.")
@click.option("--ssl-keyfile-password", default=None, help="SSL keyfile password.")
@click.option(
    "--ssl-version", type=int, default=DEFAULTS["ssl_version"], help="SSL version to use."
)
@click.option(
    "--ssl-cert-reqs",
    type=int,
    default=DEFAULTS["ssl_cert_reqs"],
    help="Client certificate (see ssl module).",
)
@click.option("--ssl-ca-certs", default=None, help="CA certificates file.")
@click.option(
    "--ssl-ciphers",
    default=None,
    help="OpenSSL cipher list for TLS 1.2 (see ssl module) [the ssl module's defaults].",
)
@click.option(
    "--http2/--no-http2",
    default=DEFAULTS["http2"],
    help="HTTP/2: ALPN on TLS, h2c prior knowledge (and --h2c-upgrade).",
)
@click.option(
    "--h2c-upgrade/--no-h2c-upgrade",
    default=DEFAULTS["h2c_upgrade"],
    help="Accept 'Upgrade: h2c' (a proxy that forwards it can be tunnelled past: h2c smuggling).",
)
@click.option(
    "--h2-max-concurrent-streams",
    type=int,
    default=DEFAULTS["h2_max_concurrent_streams"],
    help="Most HTTP/2 streams open at once per connection (more are refused).",
)
@click.option(
    "--h2-initial-window-size",
    type=int,
    default=DEFAULTS["h2_initial_window_size"],
    help="HTTP/2 per-stream request body window.",
)
@click.option(
    "--h2-initial-connection-window-size",
    type=int,
    default=DEFAULTS["h2_initial_connection_window_size"],
    help="HTTP/2 connection receive window.",
)
@click.option(
    "--h2-max-header-list-size",
    type=int,
    default=DEFAULTS["h2_max_header_list_size"],
    help="HTTP/2 largest decoded request header list.",
)
@click.option(
    "--h2-write-timeout",
    type=float,
    default=DEFAULTS["h2_write_timeout"],
    help="Reset an HTTP/2 response that cannot be written for this long.",
)
@click.option(
    "--ws", type=click.Choice(WS_CHOICES), default=DEFAULTS["ws"], help="WebSocket support."
)
@click.option(
    "--ws-max-size",
    type=int,
    default=DEFAULTS["ws_max_size"],
    help="WebSocket largest message in bytes (larger: close 1009).",
)
@click.option(
    "--ws-max-queue",
    type=int,
    default=DEFAULTS["ws_max_queue"],
    help="WebSocket messages queued for the app before reading pauses.",
)
@click.option(
    "--ws-ping-interval",
    type=float,
    default=DEFAULTS["ws_ping_interval"],
    help="WebSocket ping interval in seconds (0: no pings).",
)
@click.option(
    "--ws-ping-timeout",
    type=float,
    default=DEFAULTS["ws_ping_timeout"],
    help="WebSocket pong timeout in seconds (missing pong: close 1011; 0: wait forever).",
)
@click.option(
    "--ws-per-message-deflate",
    type=bool,
    default=DEFAULTS["ws_per_message_deflate"],
    help="WebSocket permessage-deflate (RFC 7692) when the client offers it.",
)
@click.option(
    "--reset-contextvars",
    is_flag=True,
    default=DEFAULTS["reset_contextvars"],
    help="Run each request in an empty contextvars.Context (hides context set in the lifespan).",
)
@click.option("--version", is_flag=True, default=False, help="Show versions and implementations.")
def cli(app: str | None, version: bool, headers: tuple[str, ...], **options: Any) -> int:
    """Run the ASGI application APP (``module:attribute``) with pounce."""
    options["headers"] = tuple(_parse_header(h) for h in headers)
    if options["log_config"] is None:
        del options["log_config"]  # Config's default: pounce.config.LOGGING_CONFIG
    if version:
        config = Config(app=app or "-", **options)
        click.echo(version_text(config))
        return 0
    if not app:
        raise click.UsageError("Missing argument 'APP' (for example: pounce main:app).")
    config = Config(app=app, **options)
    notes = _uvicorn_env_notes(click.get_current_context())
    return run_config(config, notes=notes)


# uvicorn 0.55's command reads every option from UVICORN_<NAME> (click's auto_envvar_prefix):
# the same names here are read from POUNCE_<NAME> first, then UVICORN_<NAME>, so that a
# deployment's environment keeps working. ``version`` is left out: UVICORN_VERSION is often a
# build argument holding a version number, not a request to print one.
UVICORN_ENV_OPTIONS = frozenset(
    {
        "access_log", "app_dir", "backlog", "date_header", "env_file", "factory", "fd",
        "forwarded_allow_ips", "h11_max_incomplete_event_size", "headers", "host", "http",
        "http2", "interface", "lifespan", "limit_concurrency", "limit_max_requests",
        "limit_max_requests_jitter", "log_config", "log_level", "loop", "port", "proxy_headers",
        "reload", "reload_delay", "reload_dirs", "reload_excludes", "reload_includes",
        "reset_contextvars", "root_path", "server_header", "ssl_ca_certs", "ssl_cert_reqs",
        "ssl_certfile", "ssl_ciphers", "ssl_keyfile", "ssl_keyfile_password", "ssl_version",
        "timeout_graceful_shutdown", "timeout_keep_alive", "timeout_worker_healthcheck", "uds",
        "use_colors", "workers", "ws", "ws_max_queue", "ws_max_size", "ws_per_message_deflate",
        "ws_ping_interval", "ws_ping_timeout",
    }
)  # fmt: skip


def _add_uvicorn_envvars(command: click.Command) -> None:
    """Give each option uvicorn also has the env var list ``[POUNCE_X, UVICORN_X]``: click
    takes the first one set and non-empty, and a command-line value wins over both."""
    for param in command.params:
        if param.name is None:
            continue
        if param.name == "app":
            param.envvar = ["POUNCE_APP", "UVICORN_APP"]
        elif param.name in UVICORN_ENV_OPTIONS:
            own = param.envvar if isinstance(param.envvar, str) else None
            param.envvar = [own or f"POUNCE_{param.name.upper()}", f"UVICORN_{param.name.upper()}"]


def _uvicorn_env_notes(ctx: click.Context) -> list[str]:
    """One line for each UVICORN_* variable whose value was used."""
    notes = []
    for param in ctx.command.params:
        envvars = param.envvar
        if param.name is None or not isinstance(envvars, list) or len(envvars) != 2:
            continue
        if ctx.get_parameter_source(param.name) is not ParameterSource.ENVIRONMENT:
            continue
        pounce_var, uvicorn_var = envvars
        if not os.environ.get(pounce_var) and os.environ.get(uvicorn_var):
            where = param.opts[0] if isinstance(param, click.Option) else param.name.upper()
            notes.append(f"Using ${uvicorn_var} for {where} (${pounce_var} is not set)")
    return notes


_add_uvicorn_envvars(cli)


def version_text(config: Config) -> str:
    return f"pounce {__version__} running on {python_description()}\n" + "\n".join(
        part.strip() for part in implementations(config).split(",")
    )


def _parse_header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise ConfigError(f"--header: {text!r} is not NAME:VALUE")
    return name.strip(), value.strip()


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the CLI and turn every error into one line and an exit code."""
    debug = _wants_debug(argv if argv is not None else sys.argv[1:])
    try:
        code = cli.main(args=argv, prog_name="pounce", standalone_mode=False)
    except click.exceptions.Exit as exc:  # --help
        code = exc.exit_code
    except click.exceptions.Abort:
        code = 1
    except click.ClickException as exc:
        _fail(exc.format_message(), exc.exit_code, debug)
    except AppPathError as exc:  # uvicorn's exit code for a malformed "module:attribute"
        _fail(str(exc), EXIT_APP, debug)
    except BindError as exc:  # uvicorn's exit code for a socket that cannot be bound
        _fail(str(exc), EXIT_APP, debug)
    except ConfigError as exc:
        _fail(str(exc), EXIT_USAGE, debug)
    except AppLoadError as exc:
        _fail(str(exc), EXIT_APP, debug)
    except KeyboardInterrupt:
        code = 1
    sys.exit(code or 0)


def _fail(message: str, code: int, debug: bool) -> None:
    if debug:
        traceback.print_exc()
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def _wants_debug(argv: list[str]) -> bool:
    level = os.environ.get("POUNCE_LOG_LEVEL") or os.environ.get("UVICORN_LOG_LEVEL", "")
    for i, arg in enumerate(argv):
        if arg == "--log-level" and i + 1 < len(argv):
            level = argv[i + 1]
        elif arg.startswith("--log-level="):
            level = arg.split("=", 1)[1]
    return level in ("debug", "trace")
