"""Logging set-up: the ``pounce.error`` and ``pounce.access`` loggers, as uvicorn's.

The formatters are in ``pounce/logging.py``, the access records in ``pounce/access_log.py``.
"""

from __future__ import annotations

import copy
import json
import logging
import logging.config
from typing import Any

from .config import Config
from .errors import ConfigError

TRACE = 5
logging.addLevelName(TRACE, "TRACE")

logger = logging.getLogger("pounce.error")
access_logger = logging.getLogger("pounce.access")


def configure_logging(config: Config) -> None:
    """uvicorn's ``Config.configure_logging``: apply ``log_config`` (by default
    ``pounce.config.LOGGING_CONFIG``; ``None`` leaves logging alone), then ``--log-level``,
    the access format and ``--no-access-log``."""
    logging.addLevelName(TRACE, "TRACE")
    log_config = config.log_config
    if log_config is not None:
        if isinstance(log_config, dict):
            log_config = copy.deepcopy(log_config)  # never change the caller's (or our) dict
            if config.use_colors in (True, False):
                for name in ("default", "access"):
                    formatter = log_config.get("formatters", {}).get(name)
                    if isinstance(formatter, dict) and "()" in formatter:
                        formatter["use_colors"] = config.use_colors
        _apply_log_config(log_config)
    level = config.log_level_number
    logging.getLogger("pounce").setLevel(level)
    logging.getLogger("pounce.error").setLevel(level)
    logging.getLogger("pounce.access").setLevel(level)
    from .access_log import switches

    switches.response_headers = False
    if config.access_log_format is not None or config.access_log_json:
        from .logging import AccessLogFormatter

        try:
            formatter = AccessLogFormatter(config.access_log_format, json=config.access_log_json)
        except ValueError as exc:  # Config validated it already; this is for a dict made later
            raise ConfigError(f"--access-log-format: {exc}") from exc
        for handler in access_logger.handlers:
            handler.setFormatter(formatter)
        switches.response_headers = formatter.access_format.response_headers
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
