"""Access records and formatters without sockets: the record's shape (uvicorn's five args and
pounce's attributes), the twins' identical records, the formatters against uvicorn's, and the
``--access-log-format`` atoms (gunicorn's, ``gunicorn/glogging.py``)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import re
from collections.abc import Iterator
from typing import Any

import pytest

from pounce import Config
from pounce.access_log import ACCESS_MESSAGE, AccessFormat, access_logger, switches
from pounce.config import LOGGING_CONFIG
from pounce.errors import ConfigError
from pounce.http1 import protocol as h1_module
from pounce.logging import AccessFormatter, AccessLogFormatter, DefaultFormatter
from tests.conftest import compiled, needs_compiled
from tests.fakes import FakeTransport, spin, start_h1

try:
    import uvicorn.logging as uvicorn_logging
except ImportError:  # uvicorn is in the test extra; without it the comparisons are skipped
    uvicorn_logging = None

_http1 = compiled("_http1")
needs_uvicorn = pytest.mark.skipif(uvicorn_logging is None, reason="uvicorn is not installed")

# uvicorn 0.55's LOGGING_CONFIG as its documentation shows it (uvicorn.org, Concepts: Logging).
UVICORN_LOGGING_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "default": {
            "()": "uvicorn.logging.DefaultFormatter",
            "fmt": "%(levelprefix)s %(message)s",
            "use_colors": None,
        },
        "access": {
            "()": "uvicorn.logging.AccessFormatter",
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
        "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
        "uvicorn.error": {"level": "INFO"},
        "uvicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
    },
}


def test_logging_config_is_uvicorns_renamed() -> None:
    """The README's sed line (s/uvicorn/pounce/g) turns uvicorn's default into pounce's."""
    renamed = json.loads(json.dumps(UVICORN_LOGGING_CONFIG).replace("uvicorn", "pounce"))
    assert renamed == LOGGING_CONFIG


@needs_uvicorn
def test_logging_config_matches_installed_uvicorn() -> None:
    import uvicorn.config

    assert UVICORN_LOGGING_CONFIG == uvicorn.config.LOGGING_CONFIG


def make_record(
    status: int = 200,
    path: str = "/a?b=1",
    client: str = "127.0.0.1:5000",
    version: str = "1.1",
    **extra: Any,
) -> logging.LogRecord:
    record = logging.LogRecord(
        "pounce.access", logging.INFO, __file__, 1, ACCESS_MESSAGE,
        (client, "GET", path, version, status), None,
    )  # fmt: skip
    record.__dict__.update(
        {"bytes_sent": 13, "duration": 0.25, "request_headers": [], "response_headers": None}
    )
    record.__dict__.update(extra)
    return record


@needs_uvicorn
@pytest.mark.parametrize("use_colors", [False, True])
@pytest.mark.parametrize("status", [101, 200, 301, 404, 500, 599, 799])
def test_access_formatter_matches_uvicorns(use_colors: bool, status: int) -> None:
    fmt = LOGGING_CONFIG["formatters"]["access"]["fmt"] + " %(name)s"
    ours = AccessFormatter(fmt, use_colors=use_colors)
    theirs = uvicorn_logging.AccessFormatter(fmt, use_colors=use_colors)
    record = make_record(status)
    assert ours.format(record) == theirs.format(record)


@needs_uvicorn
@pytest.mark.parametrize("use_colors", [False, True])
@pytest.mark.parametrize("level", [5, logging.DEBUG, logging.INFO, logging.WARNING, 40, 50])
def test_default_formatter_matches_uvicorns(use_colors: bool, level: int) -> None:
    logging.addLevelName(5, "TRACE")
    fmt = "%(asctime)s %(levelprefix)s %(message)s"
    record = logging.LogRecord("pounce.error", level, __file__, 1, "hello %s", ("you",), None)
    record.color_message = "hello \x1b[1m%s\x1b[0m"
    ours = DefaultFormatter(fmt, datefmt="%Y", use_colors=use_colors).format(record)
    theirs = uvicorn_logging.DefaultFormatter(fmt, datefmt="%Y", use_colors=use_colors)
    assert ours == theirs.format(record)


def test_access_formatter_subclass_reads_the_five_args() -> None:
    """A uvicorn-style subclass that unpacks record.args (as many deployments have)."""

    class Custom(AccessFormatter):
        def formatMessage(self, record: logging.LogRecord) -> str:
            _, method, full_path, _, status_code = record.args  # type: ignore[misc]
            return f"{method}|{full_path}|{status_code}|{record.bytes_sent}"  # type: ignore[attr-defined]

    assert Custom().format(make_record(204)) == "GET|/a?b=1|204|13"


# The twins ------------------------------------------------------------------------------------


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    while (await receive())["more_body"]:
        pass
    body = b"hello" if scope["path"] != "/empty" else b""
    headers = [(b"content-length", str(len(body)).encode()), (b"x-kind", b"twin")]
    await send({"type": "http.response.start", "status": 201, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def capture() -> Iterator[Capture]:
    handler = Capture()
    saved = (access_logger.disabled, access_logger.level, access_logger.propagate)
    access_logger.disabled = False
    access_logger.setLevel(logging.INFO)
    access_logger.propagate = False
    access_logger.addHandler(handler)
    try:
        yield handler
    finally:
        access_logger.removeHandler(handler)
        access_logger.disabled, access_logger.level, access_logger.propagate = saved
        switches.response_headers = False


REQUESTS = (
    b"GET /a%22b/c?x=1&y=%20 HTTP/1.1\r\nHost: t\r\nUser-Agent: twin\r\n\r\n"
    b"POST /empty HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
    b"GET /1.0 HTTP/1.0\r\n\r\n"
)


def records_of(protocol_class: type, parser: str, capture: Capture) -> list[dict[str, Any]]:
    capture.records.clear()

    async def main() -> None:
        transport = FakeTransport(peer=("10.1.2.3", 4567))
        proto, _ = await start_h1(
            protocol_class, parser, app, transport, date_header=False, http="h11"
        )
        proto.data_received(REQUESTS)
        await spin(30)

    asyncio.run(main())
    out = []
    for record in capture.records:
        assert record.msg == ACCESS_MESSAGE
        assert 0 <= record.duration < 5  # type: ignore[attr-defined]
        out.append(
            {
                "args": record.args,
                "message": record.getMessage(),
                "bytes_sent": record.bytes_sent,  # type: ignore[attr-defined]
                "request_headers": list(record.request_headers),  # type: ignore[attr-defined]
                "response_headers": record.response_headers,  # type: ignore[attr-defined]
            }
        )
    return out


EXPECTED_ARGS = [
    ("10.1.2.3:4567", "GET", "/a%22b/c?x=1&y=%20", "1.1", 201),
    ("10.1.2.3:4567", "POST", "/empty", "1.1", 201),
    ("10.1.2.3:4567", "GET", "/1.0", "1.0", 201),
]


@pytest.mark.parametrize("parser", ["httptools", "h11"])
def test_pure_twin_records(parser: str, capture: Capture) -> None:
    if parser == "httptools":
        pytest.importorskip("httptools")
    records = records_of(h1_module.H1ProtocolPy, parser, capture)
    assert [r["args"] for r in records] == EXPECTED_ARGS
    assert records[0]["message"] == '10.1.2.3:4567 - "GET /a%22b/c?x=1&y=%20 HTTP/1.1" 201'
    assert [r["bytes_sent"] for r in records] == [5, 0, 5]
    assert records[0]["request_headers"] == [(b"host", b"t"), (b"user-agent", b"twin")]
    assert [r["response_headers"] for r in records] == [None, None, None]


@needs_compiled("_http1")
@pytest.mark.parametrize("parser", ["httptools", "h11"])
@pytest.mark.parametrize("response_headers", [False, True])
def test_twins_make_identical_records(
    parser: str, response_headers: bool, capture: Capture
) -> None:
    if parser == "httptools":
        pytest.importorskip("httptools")
    switches.response_headers = response_headers
    pure = records_of(h1_module.H1ProtocolPy, parser, capture)
    compiled = records_of(_http1.H1Protocol, parser, capture)
    assert pure == compiled
    assert [r["args"] for r in compiled] == EXPECTED_ARGS
    expected = [(b"content-length", b"5"), (b"x-kind", b"twin")] if response_headers else None
    assert compiled[0]["response_headers"] == expected


# --access-log-format ---------------------------------------------------------------------------


def test_every_atom(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POUNCE_TEST_ATOM", "env-value")
    auth = b"Basic " + base64.b64encode(b"alice:secret")
    record = make_record(
        path="/p/q?x=1&y=2",
        client="[::1]:80",
        duration=1.5,
        bytes_sent=0,
        request_headers=[
            (b"user-agent", b"ua/1"),
            (b"Referer", b"http://r/"),
            (b"authorization", auth),
            (b"x-many", b"a"),
            (b"x-many", b"b"),
        ],
        response_headers=[(b"content-type", b"text/plain")],
    )
    record.args = ("::1:80", "GET", "/p/q?x=1&y=2", "1.1", 404)
    fmt = (
        "%(h)s|%(l)s|%(u)s|%(r)s|%(m)s|%(U)s|%(q)s|%(H)s|%(s)s|%(b)s|%(B)s|%(f)s|%(a)s|"
        "%(T)s|%(D)s|%(M)s|%(L)s|%(p)s|%({X-Many}i)s|%({content-type}o)s|%({x-none}o)s|"
        "%({POUNCE_TEST_ATOM}e)s|%(s)d"
    )
    line = AccessFormat(fmt).text(record)
    assert line == (
        "::1|-|alice|GET /p/q?x=1&y=2 HTTP/1.1|GET|/p/q|x=1&y=2|HTTP/1.1|404|-|0|http://r/|"
        f"ua/1|1|1500000|1500|1.500000|<{os.getpid()}>|a, b|text/plain|-|env-value|404"
    )
    assert AccessFormat("%(h)s %({content-type}o)s").response_headers
    assert not AccessFormat("%(h)s %({content-type}i)s").response_headers


def test_time_atom_is_the_request_start_in_common_log_format() -> None:
    record = make_record(duration=2.0)
    record.created = 1_700_000_000.0
    line = AccessFormat("%(t)s").text(record)
    assert re.fullmatch(r"\[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]", line)
    import time

    assert line == time.strftime("[%d/%b/%Y:%H:%M:%S %z]", time.localtime(1_699_999_998.0))


def test_json_fields() -> None:
    record = make_record(
        request_headers=[(b"user-agent", b"ua")],
        response_headers=[(b"x-a", b"1")],
    )
    formatter = AccessLogFormatter(json=True)
    fields = json.loads(formatter.format(record))
    assert set(fields) == {
        "remote_addr", "time", "method", "path", "query", "protocol", "status", "bytes",
        "duration", "referer", "user_agent",
    }  # fmt: skip
    assert fields["status"] == 200 and fields["bytes"] == 13 and fields["duration"] == 0.25
    assert fields["referer"] is None and fields["user_agent"] == "ua"
    assert fields["path"] == "/a" and fields["query"] == "b=1"
    chosen = AccessLogFormatter("%(s)s %({x-a}o)s %({user-agent}i)s", json=True)
    assert json.loads(chosen.format(record)) == {
        "status": 200,
        "response_headers": {"x-a": "1"},
        "request_headers": {"user-agent": "ua"},
    }


def test_other_records_pass_through() -> None:
    record = logging.LogRecord("pounce.access", logging.INFO, __file__, 1, "x %s", ("y",), None)
    assert AccessLogFormatter("%(h)s").format(record) == "x y"


@pytest.mark.parametrize(
    ("fmt", "error"),
    [
        ("%(h)s %(nope)s", "unknown atom %(nope)s"),
        ("%(h)s %s", "not enough arguments"),
        ("%(h)q", "unsupported format character 'q'"),
        ("%(h)s %", "incomplete format"),
        ("%(h)d", "is not a valid format"),
        ("%(b)d", "is not a valid format"),  # "-" when no body, as gunicorn
        ("%({}i)s", "unknown atom"),
    ],
)
def test_bad_formats_name_the_option(fmt: str, error: str) -> None:
    with pytest.raises(ConfigError) as info:
        Config(app="x:y", access_log_format=fmt)
    assert str(info.value).startswith("--access-log-format: ")
    assert error in str(info.value)


def test_numeric_atoms_take_d() -> None:
    assert (
        AccessFormat("%(s)d %(B)d %(D)d %(M)d %(T)d").text(make_record()) == "200 13 250000 250 0"
    )


# configure_logging ------------------------------------------------------------------------------


@pytest.fixture
def clean_loggers() -> Iterator[None]:
    names = ("pounce", "pounce.error", "pounce.access")
    saved = {
        name: (
            list(logging.getLogger(name).handlers),
            logging.getLogger(name).level,
            logging.getLogger(name).propagate,
            logging.getLogger(name).disabled,
        )
        for name in names
    }
    for name in names:
        logging.getLogger(name).handlers.clear()
    try:
        yield
    finally:
        for name, (handlers, level, propagate, disabled) in saved.items():
            log = logging.getLogger(name)
            log.handlers[:] = handlers
            log.setLevel(level)
            log.propagate, log.disabled = propagate, disabled
        switches.response_headers = False


def test_log_config_none_leaves_logging_alone(clean_loggers: None) -> None:
    from pounce.logs import configure_logging

    names = ("pounce", "pounce.error", "pounce.access")
    # Compared with what was there, not with []: pytest's own capture handlers may be on them.
    before = {name: list(logging.getLogger(name).handlers) for name in names}
    configure_logging(Config(app="x:y", log_config=None))
    assert {name: logging.getLogger(name).handlers for name in names} == before
    assert access_logger.handlers == before["pounce.access"]


def test_default_config_and_use_colors_leave_logging_config_unchanged(
    clean_loggers: None,
) -> None:
    from pounce.logs import configure_logging

    before = json.dumps(LOGGING_CONFIG, sort_keys=True)
    assert Config(app="x:y").log_config is LOGGING_CONFIG
    configure_logging(Config(app="x:y", use_colors=True))
    assert json.dumps(LOGGING_CONFIG, sort_keys=True) == before
    (handler,) = access_logger.handlers
    assert isinstance(handler.formatter, AccessFormatter) and handler.formatter.use_colors
    (default,) = logging.getLogger("pounce").handlers
    assert isinstance(default.formatter, DefaultFormatter) and default.formatter.use_colors


@pytest.mark.parametrize(("fmt", "expected"), [("%({x}o)s", True), ("%({x}i)s", False)])
def test_formatter_in_a_log_config_sets_response_header_recording(
    clean_loggers: None, fmt: str, expected: bool
) -> None:
    from pounce.logs import configure_logging

    log_config = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"a": {"()": "pounce.logging.AccessLogFormatter", "fmt": fmt}},
        "handlers": {"a": {"class": "logging.NullHandler", "formatter": "a"}},
        "loggers": {"pounce.access": {"handlers": ["a"], "level": "INFO"}},
    }
    configure_logging(Config(app="x:y", log_config=log_config))
    assert switches.response_headers is expected
