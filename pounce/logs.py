"""Logging set-up: the ``pounce.error`` and ``pounce.access`` loggers, as uvicorn's."""

from __future__ import annotations

import json
import logging
import logging.config
import sys
from typing import Any

from .config import Config
from .errors import ConfigError

TRACE = 5
logging.addLevelName(TRACE, "TRACE")

logger = logging.getLogger("pounce.error")
access_logger = logging.getLogger("pounce.access")

_COLORS = {
    TRACE: "\x1b[34m",
    logging.DEBUG: "\x1b[36m",
    logging.INFO: "\x1b[32m",
    logging.WARNING: "\x1b[33m",
    logging.ERROR: "\x1b[31m",
    logging.CRITICAL: "\x1b[91m",
}


class LevelPrefixFormatter(logging.Formatter):
    """``INFO:     message``, with the level name coloured when ``use_colors``."""

    def __init__(self, fmt: str | None = None, use_colors: bool | None = None) -> None:
        super().__init__(fmt or "%(levelprefix)s %(message)s")
        self.use_colors = sys.stderr.isatty() if use_colors is None else use_colors

    def format(self, record: logging.LogRecord) -> str:
        name = record.levelname
        pad = " " * max(0, 8 - len(name))
        if self.use_colors:
            name = f"{_COLORS.get(record.levelno, '')}{name}\x1b[0m"
        record.levelprefix = f"{name}:{pad}"
        return super().format(record)


def log_access(cycle: Any) -> None:
    """One access-log line: client, request line, status, body bytes and duration."""
    scope = cycle.scope
    client = scope.get("client")
    client_str = f"{client[0]}:{client[1]}" if client else "-"
    path = scope.get("path", "")
    query = scope.get("query_string", b"")
    if query:
        path = f"{path}?{query.decode('latin-1')}"
    duration_ms = (cycle.loop.time() - cycle.start_time) * 1000
    access_logger.info(
        '%s - "%s %s HTTP/%s" %d %d %.1fms',
        client_str,
        scope.get("method", "-"),
        path,
        scope.get("http_version", "1.1"),
        cycle.status,
        cycle.bytes_sent,
        duration_ms,
    )


def configure_logging(config: Config) -> None:
    """Apply ``--log-config`` or the default handlers, then ``--log-level``/``--access-log``."""
    if config.log_config is not None:
        _apply_log_config(config.log_config)
    else:
        for name, stream in (("pounce", sys.stderr), ("pounce.access", sys.stdout)):
            log = logging.getLogger(name)
            log.handlers.clear()
            handler = logging.StreamHandler(stream)
            handler.setFormatter(LevelPrefixFormatter(use_colors=config.use_colors))
            log.addHandler(handler)
            log.propagate = False
    level = config.log_level_number
    logging.getLogger("pounce").setLevel(level)
    logging.getLogger("pounce.error").setLevel(level)
    logging.getLogger("pounce.access").setLevel(level)
    if not config.access_log:
        access_logger.handlers.clear()
        access_logger.propagate = False
        access_logger.disabled = True


def _apply_log_config(log_config: str | dict[str, Any]) -> None:
    if isinstance(log_config, dict):
        logging.config.dictConfig(log_config)
        return
    try:
        if log_config.endswith(".json"):
            with open(log_config) as f:
                logging.config.dictConfig(json.load(f))
        elif log_config.endswith((".yaml", ".yml")):
            try:
                import yaml
            except ImportError as exc:
                raise ConfigError("--log-config: a YAML file needs PyYAML installed") from exc
            with open(log_config) as f:
                logging.config.dictConfig(yaml.safe_load(f))
        else:
            logging.config.fileConfig(log_config, disable_existing_loggers=False)
    except ConfigError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"--log-config: cannot load {log_config}: {exc}") from exc
