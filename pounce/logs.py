"""Logging set-up: the ``pounce.error`` and ``pounce.access`` loggers, as uvicorn's.

The formatters are in ``pounce/logging.py``, the access records in ``pounce/access_log.py``.
"""

from __future__ import annotations

import json
import logging
import logging.config
from typing import Any

from .access_log import access_logger, switches
from .config import Config
from .errors import ConfigError
from .logging import AccessLogFormatter

TRACE = 5
logging.addLevelName(TRACE, "TRACE")

logger = logging.getLogger("pounce.error")


def configure_logging(config: Config) -> None:
    """uvicorn's ``Config.configure_logging``: apply ``log_config`` (by default
    ``pounce.config.LOGGING_CONFIG``; ``None`` leaves logging alone), then ``--log-level``,
    the access format and ``--no-access-log``."""
    logging.addLevelName(TRACE, "TRACE")
    # Set again by an AccessLogFormatter whose format has a %({name}o)s atom.
    switches.response_headers = False
    log_config = config.log_config
    if log_config is not None:
        if isinstance(log_config, dict) and config.use_colors in (True, False):
            # --use-colors reaches uvicorn-style formatters; the caller's dict (or
            # LOGGING_CONFIG) is not changed: only the parts changed here are copies.
            formatters = dict(log_config.get("formatters", {}))
            for name in ("default", "access"):
                formatter = formatters.get(name)
                if isinstance(formatter, dict) and "()" in formatter:
                    formatters[name] = {**formatter, "use_colors": config.use_colors}
            log_config = {**log_config, "formatters": formatters}
        _apply_log_config(log_config)
    level = config.log_level_number
    logging.getLogger("pounce").setLevel(level)
    logging.getLogger("pounce.error").setLevel(level)
    logging.getLogger("pounce.access").setLevel(level)
    if config.access_log_format is not None or config.access_log_json:
        try:
            formatter = AccessLogFormatter(config.access_log_format, json=config.access_log_json)
        except ValueError as exc:  # Config validated it already; this is for a dict made later
            raise ConfigError(f"--access-log-format: {exc}") from exc
        for handler in access_logger.handlers:
            handler.setFormatter(formatter)
    if not config.access_log:
        access_logger.handlers.clear()
        access_logger.propagate = False
        access_logger.disabled = True
    else:
        access_logger.disabled = False


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
                import yaml  # noqa: PLC0415  # optional (PyYAML): a YAML --log-config
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
