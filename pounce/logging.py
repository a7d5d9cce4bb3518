"""Log formatters, named and shaped as uvicorn's ``uvicorn.logging`` so its log configs port.

``DefaultFormatter`` and ``AccessFormatter`` take uvicorn's arguments (``fmt``, ``datefmt``,
``style``, ``use_colors``) and give format strings the same fields: ``%(levelprefix)s``
everywhere, and ``%(client_addr)s``, ``%(request_line)s``, ``%(status_code)s`` on access
records (built from the record's five args, so subclasses that unpack ``record.args`` work).
A uvicorn log config works after ``sed 's/uvicorn/pounce/g'`` (README, "Moving from uvicorn").

``AccessLogFormatter`` is pounce's: ``--access-log-format`` (gunicorn's atoms) and
``--access-log-json``; it can be named in a log config like the others.
"""

from __future__ import annotations

import http
import json
import logging
import sys
from typing import Any, Literal

import click

from .access_log import DEFAULT_JSON_FORMAT, AccessFormat, access_args, switches

TRACE_LOG_LEVEL = 5

_LEVEL_COLOURS = {
    TRACE_LOG_LEVEL: "blue",
    logging.DEBUG: "cyan",
    logging.INFO: "green",
    logging.WARNING: "yellow",
    logging.ERROR: "red",
    logging.CRITICAL: "bright_red",
}
_STATUS_COLOURS = {1: "bright_white", 2: "green", 3: "yellow", 4: "red", 5: "bright_red"}
_PHRASES = {status.value: status.phrase for status in http.HTTPStatus}


class _View:
    """What a format style reads (``__dict__``): a copy of a record's attributes plus ours."""

    __slots__ = ("__dict__",)

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__ = values


class ColourizedFormatter(logging.Formatter):
    """``%(levelprefix)s``: the level name and colon padded to 9 columns, coloured when
    ``use_colors`` (default: when stdout is a terminal, as uvicorn). A record with an
    ``extra={"color_message": ...}`` uses it instead of its message when colouring."""

    def __init__(
        self,
        fmt: str | None = None,
        datefmt: str | None = None,
        style: Literal["%", "{", "$"] = "%",
        use_colors: bool | None = None,
    ) -> None:
        self.use_colors = use_colors if use_colors in (True, False) else sys.stdout.isatty()
        super().__init__(fmt=fmt, datefmt=datefmt, style=style)
        self._prefixes: dict[int, tuple[str, str]] = {}

    def color_level_name(self, level_name: str, level_no: int) -> str:
        colour = _LEVEL_COLOURS.get(level_no)
        return click.style(level_name, fg=colour) if colour else level_name

    def should_use_colors(self) -> bool:
        return True

    def _levelprefix(self, record: logging.LogRecord) -> str:
        name = record.levelname
        cached = self._prefixes.get(record.levelno)
        if cached is not None and cached[0] == name:
            return cached[1]
        separator = " " * (8 - len(name))
        if self.use_colors:
            name = self.color_level_name(name, record.levelno)
        prefix = f"{name}:{separator}"
        self._prefixes[record.levelno] = (record.levelname, prefix)
        return prefix

    def _add_fields(self, record: logging.LogRecord, values: dict[str, Any]) -> None:
        values["levelprefix"] = self._levelprefix(record)

    def formatMessage(self, record: logging.LogRecord) -> str:
        if self.use_colors and "color_message" in record.__dict__:
            # The coloured message is for this formatter only: format a copy of the fields.
            values = dict(record.__dict__)
            message = str(values["color_message"])
            values["message"] = message % record.args if record.args else message
            self._add_fields(record, values)
            return self._style.format(_View(values))
        # Our fields go on the record itself, as logging.Formatter does with message and
        # asctime (uvicorn formats two copies of the record; each costs more than the line).
        self._add_fields(record, record.__dict__)
        return self._style.format(record)


class DefaultFormatter(ColourizedFormatter):
    def should_use_colors(self) -> bool:
        return sys.stderr.isatty()


class AccessFormatter(ColourizedFormatter):
    """uvicorn's access line fields from the record's five args."""

    def __init__(
        self,
        fmt: str | None = None,
        datefmt: str | None = None,
        style: Literal["%", "{", "$"] = "%",
        use_colors: bool | None = None,
    ) -> None:
        super().__init__(fmt=fmt, datefmt=datefmt, style=style, use_colors=use_colors)
        self._statuses: dict[int, str] = {}

    def get_status_code(self, status_code: int) -> str:
        text = self._statuses.get(status_code)
        if text is None:
            text = f"{status_code} {_PHRASES.get(status_code, '')}"
            if self.use_colors:
                colour = _STATUS_COLOURS.get(status_code // 100)
                if colour:
                    text = click.style(text, fg=colour)
            if len(self._statuses) < 1000:
                self._statuses[status_code] = text
        return text

    def _add_fields(self, record: logging.LogRecord, values: dict[str, Any]) -> None:
        values["levelprefix"] = self._levelprefix(record)
        client_addr, method, full_path, http_version, status_code = access_args(record)
        request_line = f"{method} {full_path} HTTP/{http_version}"
        if self.use_colors:
            request_line = click.style(request_line, bold=True)
        values["client_addr"] = client_addr
        values["request_line"] = request_line
        values["status_code"] = self.get_status_code(int(status_code))


class AccessLogFormatter(logging.Formatter):
    """``--access-log-format`` and ``--access-log-json``: the line is the format with
    gunicorn's atoms filled in (no level prefix, as gunicorn), or one JSON object with a key
    per atom of the format (``DEFAULT_JSON_FORMAT`` when none is given)."""

    def __init__(self, fmt: str | None = None, json: bool = False) -> None:
        super().__init__()
        if not json and fmt is None:
            raise ValueError("AccessLogFormatter needs a format unless json is true")
        self.access_format = AccessFormat(fmt or DEFAULT_JSON_FORMAT)
        self.json = json
        if self.access_format.response_headers:
            switches.response_headers = True  # the cycles keep the app's response headers

    def format(self, record: logging.LogRecord) -> str:
        args = record.args
        if not isinstance(args, tuple) or len(args) != 5:
            # Not an access record (someone else's message on pounce.access): as is.
            return record.getMessage()
        if self.json:
            return json.dumps(self.access_format.fields(record), ensure_ascii=False)
        return self.access_format.text(record)
