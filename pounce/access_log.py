"""Access records and the ``--access-log-format`` atoms.

Every response makes one record on ``pounce.access`` with uvicorn's message and five args,
``'%s - "%s %s HTTP/%s" %d'`` with ``(client_addr, method, full_path, http_version,
status_code)``, so that formatters and filters written for uvicorn read it unchanged. What
pounce knows besides is on the record as attributes: ``bytes_sent`` (body bytes), ``duration``
(seconds), ``request_headers`` (the scope's list of ``(name, value)`` bytes) and
``response_headers`` (the app's list, recorded only when the format asks for a ``%({name}o)s``
atom, else ``None``). Both HTTP/1.1 twins, HTTP/2 and WebSocket handshakes call ``log_access``,
so their records are the same.

The atoms are gunicorn's (``gunicorn/glogging.py``, also used by hypercorn); see ``ATOMS``.
"""

from __future__ import annotations

import base64
import datetime
import logging
import os
import re
import time
from collections.abc import Callable
from logging import INFO, LogRecord
from time import perf_counter
from typing import Any, cast

# The access log's logger (uvicorn's "uvicorn.access"); pounce/logs.py configures it.
access_logger = logging.getLogger("pounce.access")

ACCESS_MESSAGE = '%s - "%s %s HTTP/%s" %d'


class _Switches:
    """Per-process switches the request path reads only while the access log is on."""

    __slots__ = ("response_headers",)

    def __init__(self) -> None:
        # True when the access format has a %({name}o)s atom: the cycle then keeps the app's
        # response headers for the record (no cost otherwise).
        self.response_headers = False


switches = _Switches()


def full_path(scope: Any) -> str:
    """uvicorn's ``get_path_with_query_string``: raw path, ``?query``, ``"`` escaped."""
    raw_path = scope.get("raw_path")
    path = raw_path.decode("latin-1") if raw_path is not None else scope.get("path", "")
    query = scope.get("query_string", b"")
    if query:
        path = f"{path}?{query.decode('latin-1')}"
    if '"' in path:
        path = path.replace('"', "%22")
    return path


def client_addr(scope: Any) -> str:
    """uvicorn's ``get_client_addr``: ``host:port``, or an empty string without a client."""
    client = scope.get("client")
    if not client:
        return ""
    return f"{client[0]}:{client[1]:d}"


def _emit(
    scope: Any, method: str, status: int, *, nbytes: int, duration: float, response_headers: Any
) -> None:
    # What access_logger.info(ACCESS_MESSAGE, *args, extra=...) does, less its stack walk
    # (findCaller) and extra-dict checks: a tenth of the cost of a logged hello request
    # (bench/RESULTS.md, "Access log"). Filters and handlers run as for .info().
    record = access_logger.makeRecord(
        _NAME,
        INFO,
        __file__,
        _LINE,
        ACCESS_MESSAGE,
        (client_addr(scope), method, full_path(scope), scope.get("http_version", "1.1"), status),
        None,
        "log_access",
    )
    record.bytes_sent = nbytes
    record.duration = duration
    record.request_headers = scope.get("headers", ())
    record.response_headers = response_headers
    access_logger.handle(record)


_NAME = access_logger.name
_LINE = _emit.__code__.co_firstlineno


def log_access(cycle: Any) -> None:
    """The access record for one finished response (see the module docstring)."""
    scope = cycle.scope
    _emit(
        scope,
        scope.get("method", "GET"),
        cycle.status,
        nbytes=cycle.bytes_sent,
        duration=perf_counter() - cycle.start_time,
        # Unset (pure cycle) or None (compiled) unless a %({name}o)s atom asked for them.
        response_headers=getattr(cycle, "response_headers", None),
    )


def log_websocket(
    scope: Any, method: str, status: int, duration: float, response_headers: Any
) -> None:
    """The access record for a WebSocket handshake: accepted (101, or 200 over HTTP/2 by
    RFC 8441 §5) or denied with the app's or the server's status."""
    if access_logger.isEnabledFor(INFO):
        headers = response_headers if switches.response_headers else None
        _emit(scope, method, status, nbytes=0, duration=duration, response_headers=headers)


# The atoms -------------------------------------------------------------------------------------
#
# Each atom reads an access record. A getter returns the value (None: absent, written "-" in
# text and null in JSON), typed as JSON shows it; text formatting turns it into a string.


def _header(headers: Any, name: bytes) -> str | None:
    if not headers:
        return None
    values = [v for k, v in headers if bytes(k).lower() == name]
    if not values:
        return None
    # RFC 9110 §5.3: several field lines with one name are one comma-separated list.
    return b", ".join(bytes(v) for v in values).decode("latin-1")


def _user(record: LogRecord) -> str | None:
    """The user of ``Authorization: Basic`` (RFC 7617 §2), as gunicorn's ``u``."""
    auth = _header(getattr(record, "request_headers", None), b"authorization")
    if not auth:
        return None
    scheme, _, credentials = auth.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    user, sep, _ = decoded.partition(":")
    return user if sep else None


def _start(record: LogRecord) -> float:
    return record.created - getattr(record, "duration", 0.0)


def _clf_time(record: LogRecord) -> str:
    """Common Log Format time of the request's start, ``[10/Oct/2000:13:55:36 -0700]``."""
    return time.strftime("[%d/%b/%Y:%H:%M:%S %z]", time.localtime(_start(record)))


def _iso_time(record: LogRecord) -> str:
    return datetime.datetime.fromtimestamp(_start(record)).astimezone().isoformat()


def access_args(record: LogRecord) -> tuple[Any, ...]:
    """An access record's args, uvicorn's five: (client_addr, method, full_path, http_version,
    status_code). logging types ``args`` as a tuple or a mapping; here it is always the tuple."""
    return cast("tuple[Any, ...]", record.args)


def _path(record: LogRecord) -> str:
    return str(access_args(record)[2]).partition("?")[0]


def _query(record: LogRecord) -> str:
    return str(access_args(record)[2]).partition("?")[2]


def _request_line(record: LogRecord) -> str:
    _, method, path, version, _ = access_args(record)
    return f"{method} {path} HTTP/{version}"


def _duration(record: LogRecord) -> float:
    return float(getattr(record, "duration", 0.0))


def _micros(record: LogRecord) -> int:
    """Whole microseconds, the one value T, D, M and L's text are cut from (as gunicorn's)."""
    return int(_duration(record) * 1_000_000)


def _decimal_seconds(record: LogRecord) -> str:
    micros = _micros(record)
    return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"


Getter = Callable[[LogRecord], Any]

# atom: (JSON key, getter for JSON, getter for text or None when the JSON value prints as is).
ATOMS: dict[str, tuple[str, Getter, Getter | None]] = {
    "h": ("remote_addr", lambda r: str(access_args(r)[0]).rpartition(":")[0] or None, None),
    "l": ("ident", lambda r: None, None),
    "u": ("user", _user, None),
    "t": ("time", _iso_time, _clf_time),
    "r": ("request_line", _request_line, None),
    "m": ("method", lambda r: access_args(r)[1], None),
    "U": ("path", _path, None),
    "q": ("query", _query, None),
    "H": ("protocol", lambda r: f"HTTP/{access_args(r)[3]}", None),
    "s": ("status", lambda r: int(access_args(r)[4]), None),
    # b is the Common Log Format size: "-" for no body bytes.
    "b": ("bytes_clf", lambda r: getattr(r, "bytes_sent", 0) or None, None),
    "B": ("bytes", lambda r: getattr(r, "bytes_sent", 0), None),
    "f": ("referer", lambda r: _header(getattr(r, "request_headers", None), b"referer"), None),
    "a": (
        "user_agent",
        lambda r: _header(getattr(r, "request_headers", None), b"user-agent"),
        None,
    ),
    "T": ("duration_s", lambda r: _micros(r) // 1_000_000, None),
    "D": ("duration_us", _micros, None),
    "M": ("duration_ms", lambda r: _micros(r) // 1000, None),
    "L": ("duration", _duration, _decimal_seconds),
    "p": ("pid", lambda r: r.process, lambda r: f"<{r.process}>"),
}

# %({name}i)s request header, %({name}o)s response header, %({name}e)s environment variable.
_BRACED = re.compile(r"\{([^{}]+)\}([ioe])")
_KEY = re.compile(r"%\(([^)]*)\)")

DEFAULT_JSON_FORMAT = "%(h)s %(t)s %(m)s %(U)s %(q)s %(H)s %(s)s %(B)s %(L)s %(f)s %(a)s"


def _braced_getter(name: str, kind: str) -> Getter:
    if kind == "e":
        return lambda r: os.environ.get(name)
    attr = "request_headers" if kind == "i" else "response_headers"
    lowered = name.lower().encode("latin-1")
    return lambda r: _header(getattr(r, attr, None), lowered)


_BRACED_GROUPS = {"i": "request_headers", "o": "response_headers", "e": "environ"}


class AccessFormat:
    """A parsed ``--access-log-format``: which atoms it uses and how to compute them."""

    def __init__(self, fmt: str) -> None:
        self.fmt = fmt
        # (atom key, JSON group or None, JSON key, JSON getter, text getter)
        self.atoms: list[tuple[str, str | None, str, Getter, Getter]] = []
        self.response_headers = False
        for key in dict.fromkeys(_KEY.findall(fmt)):
            braced = _BRACED.fullmatch(key)
            if braced is not None:
                name, kind = braced.groups()
                if kind == "o":
                    self.response_headers = True
                getter = _braced_getter(name, kind)
                group = _BRACED_GROUPS[kind]
                self.atoms.append(
                    (key, group, name.lower() if kind != "e" else name, getter, getter)
                )
            elif key in ATOMS:
                json_key, getter, text = ATOMS[key]
                self.atoms.append((key, None, json_key, getter, text or getter))
            else:
                raise ValueError(
                    f"unknown atom %({key})s (atoms: {' '.join(ATOMS)}, "
                    "{header}i, {header}o, {variable}e)"
                )
        # A format that % cannot apply (a bare %s, %(s)q, a trailing %) fails here, once,
        # instead of on every request.
        for sample in _samples(self.atoms):
            try:
                fmt % sample
            except (TypeError, ValueError, KeyError) as exc:
                raise ValueError(f"{fmt!r} is not a valid format: {exc}") from None

    def text(self, record: LogRecord) -> str:
        values: dict[str, Any] = {}
        for key, _, _, _, getter in self.atoms:
            value = getter(record)
            values[key] = "-" if value is None else value
        return self.fmt % values

    def fields(self, record: LogRecord) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for _, group, json_key, getter, _ in self.atoms:
            if group is None:
                out[json_key] = getter(record)
            else:
                out.setdefault(group, {})[json_key] = getter(record)
        return out


def _samples(atoms: list[tuple[str, str | None, str, Getter, Getter]]) -> list[dict[str, Any]]:
    """Values of the types the atoms take at run time: strings, "-", and numbers."""
    numeric = {"s", "B", "T", "D", "M"}
    as_text = {key: ("200" if key not in numeric else 200) for key, *_ in atoms}
    as_dash = {key: ("-" if key not in numeric else 0) for key, *_ in atoms}
    return [as_text, as_dash]
