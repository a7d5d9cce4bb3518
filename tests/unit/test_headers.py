"""``pounce._headers``: both twins through one fixture, and differential tests between them."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pounce import _headers, header_flags
from pounce.errors import BadRequest, InvalidHeader
from tests.conftest import compiled, needs_compiled, pick_twin, twin_params

FUNCTIONS = [
    "get_header",
    "validate_header_name",
    "validate_header_value",
    "status_line",
    "build_response_head",
    "analyze_request_headers",
]

PURE = SimpleNamespace(**{name: getattr(_headers, f"{name}_py") for name in FUNCTIONS})


@pytest.fixture(params=twin_params("_headers"))
def h(request: pytest.FixtureRequest) -> Any:
    """Each twin's FUNCTIONS: the pure ones in pounce/_headers.py, or the compiled module."""
    return pick_twin(request, PURE, "_headers")


# get_header ----------------------------------------------------------------------------------


def test_get_header_first_match(h):
    headers = [(b"a", b"1"), (b"b", b"2"), (b"a", b"3")]
    assert h.get_header(headers, b"a") == b"1"
    assert h.get_header(headers, b"b") == b"2"
    assert h.get_header(headers, b"c") is None
    assert h.get_header([], b"a") is None


def test_get_header_accepts_tuples_and_lists(h):
    assert h.get_header(((b"x", b"1"),), b"x") == b"1"
    assert h.get_header([[b"x", b"2"]], b"x") == b"2"


# validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [b"content-type", b"X-Custom", b"a", b"!#$%&'*+-.^_`|~09azAZ"])
def test_valid_header_names(h, name):
    h.validate_header_name(name)


@pytest.mark.parametrize(
    "name", [b"", b"bad name", b"bad:name", b"a\r\nb", b"a\x00", b"caf\xe9", b"(x)", "str"]
)
def test_invalid_header_names(h, name):
    with pytest.raises(InvalidHeader):
        h.validate_header_name(name)


@pytest.mark.parametrize("value", [b"", b"text/plain", b"a b\tc", b"\x80\xff obs-text", b"~!"])
def test_valid_header_values(h, value):
    h.validate_header_value(value)


@pytest.mark.parametrize("value", [b"a\rb", b"a\nb", b"a\x00b", b"a\x7fb", b"\x01", "str"])
def test_invalid_header_values(h, value):
    with pytest.raises(InvalidHeader):
        h.validate_header_value(value)


# status_line ---------------------------------------------------------------------------------


def test_status_lines(h):
    assert h.status_line(200) == b"HTTP/1.1 200 OK\r\n"
    assert h.status_line(404) == b"HTTP/1.1 404 Not Found\r\n"
    assert h.status_line(599) == b"HTTP/1.1 599 \r\n"
    assert h.status_line(799) == b"HTTP/1.1 799 \r\n"


@pytest.mark.parametrize("status", [99, 1000, -1, "200", 200.0, None])
def test_invalid_status(h, status):
    with pytest.raises(InvalidHeader):
        h.status_line(status)


# build_response_head -------------------------------------------------------------------------


def test_build_response_head(h):
    head, length, flags = h.build_response_head(
        200, [(b"content-type", b"text/plain"), (b"Content-Length", b" 13 ")]
    )
    assert head == b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nContent-Length:  13 \r\n"
    assert length == 13
    assert flags == 0


def test_build_response_head_flags(h):
    _, length, flags = h.build_response_head(
        201,
        [
            (b"Transfer-Encoding", b"Chunked"),
            (b"connection", b"Close"),
            (b"date", b"x"),
            (b"SERVER", b"y"),
        ],
    )
    assert length == -1
    assert (
        flags
        == header_flags.RESP_CHUNKED
        | header_flags.RESP_CONNECTION_CLOSE
        | header_flags.RESP_HAS_DATE
        | header_flags.RESP_HAS_SERVER
    )


def test_build_response_head_takes_any_iterable(h):
    head, _, _ = h.build_response_head(204, iter([(b"a", b"b")]))
    assert head == b"HTTP/1.1 204 No Content\r\na: b\r\n"
    head, _, _ = h.build_response_head(200, [[b"a", b"b"]])
    assert head == b"HTTP/1.1 200 OK\r\na: b\r\n"


@pytest.mark.parametrize(
    "headers",
    [
        [(b"x", b"a\r\nset-cookie: y")],
        [(b"x\r\ny", b"1")],
        [(b"x", b"\x00")],
        [(b"content-length", b"12a")],
        [(b"content-length", b"")],
        [(b"content-length", b"-1")],
        [(b"content-length", b"1"), (b"content-length", b"1")],
        [(b"content-length", b"1"), (b"transfer-encoding", b"chunked")],
        [("str", b"1")],
        [(b"x", "str")],
    ],
)
def test_build_response_head_refuses_invalid_headers(h, headers):
    with pytest.raises(InvalidHeader):
        h.build_response_head(200, headers)


def test_build_response_head_wrong_shape(h):
    with pytest.raises((ValueError, TypeError)):
        h.build_response_head(200, [(b"a", b"b", b"c")])


# analyze_request_headers ---------------------------------------------------------------------


def test_analyze_plain_get(h):
    assert h.analyze_request_headers([(b"host", b"x")], True) == (-1, 0)


def test_analyze_flags(h):
    length, flags = h.analyze_request_headers(
        [
            (b"host", b"x"),
            (b"content-length", b"5"),
            (b"connection", b"Keep-Alive, Upgrade"),
            (b"upgrade", b"websocket"),
            (b"expect", b"100-Continue"),
        ],
        True,
    )
    assert length == 5
    assert flags == (
        header_flags.REQ_CONNECTION_KEEP_ALIVE
        | header_flags.REQ_CONNECTION_UPGRADE
        | header_flags.REQ_HAS_UPGRADE
        | header_flags.REQ_EXPECT_CONTINUE
    )
    _, flags = h.analyze_request_headers(
        [(b"host", b"x"), (b"transfer-encoding", b" chunked "), (b"connection", b"close")], True
    )
    assert flags == header_flags.REQ_CHUNKED | header_flags.REQ_CONNECTION_CLOSE


def test_analyze_connection_tokens_are_whole_words(h):
    _, flags = h.analyze_request_headers([(b"host", b"x"), (b"connection", b"closed")], True)
    assert flags == 0


def test_http10_needs_no_host(h):
    assert h.analyze_request_headers([], False) == (-1, 0)


@pytest.mark.parametrize(
    ("headers", "http11"),
    [
        ([], True),
        ([(b"host", b"a"), (b"host", b"b")], True),
        ([(b"host", b"a"), (b"host", b"b")], False),
        ([(b"host", b"a"), (b"content-length", b"1"), (b"content-length", b"1")], True),
        ([(b"host", b"a"), (b"content-length", b"x")], True),
        ([(b"host", b"a"), (b"content-length", b"1, 1")], True),
        ([(b"host", b"a"), (b"content-length", b"+1")], True),
        ([(b"host", b"a"), (b"content-length", b"1"), (b"transfer-encoding", b"chunked")], True),
        ([(b"host", b"a"), (b"transfer-encoding", b"gzip")], True),
        ([(b"host", b"a"), (b"transfer-encoding", b"gzip, chunked")], True),
        (
            [
                (b"host", b"a"),
                (b"transfer-encoding", b"chunked"),
                (b"transfer-encoding", b"chunked"),
            ],
            True,
        ),
        ([(b"transfer-encoding", b"chunked")], False),
    ],
)
def test_analyze_refuses(h, headers, http11):
    with pytest.raises(BadRequest) as info:
        h.analyze_request_headers(headers, http11)
    assert info.value.status == 400


# Differential: the compiled twin must agree with the pure one on every input ----------------

token = st.binary(min_size=0, max_size=12)
names = st.one_of(
    st.sampled_from(
        [
            b"host",
            b"content-length",
            b"transfer-encoding",
            b"connection",
            b"expect",
            b"upgrade",
            b"date",
            b"server",
            b"Content-Length",
            b"CONNECTION",
            b"x-a",
        ]
    ),
    token,
)
values = st.one_of(
    st.sampled_from(
        [
            b"chunked",
            b"close",
            b"keep-alive",
            b"upgrade",
            b"100-continue",
            b"5",
            b" 12 ",
            b"",
            b"Close, Upgrade",
            b"x\r\ny",
            b"gzip, chunked",
            b"99999999999999999999",
        ]
    ),
    st.binary(max_size=20),
)
header_lists = st.lists(st.tuples(names, values), max_size=6)


def outcome(fn, *args):
    try:
        return ("ok", fn(*args))
    except (BadRequest, InvalidHeader, TypeError, ValueError) as exc:
        return ("error", type(exc).__name__, getattr(exc, "status", None))


@needs_compiled("_headers")
@settings(max_examples=400, deadline=None)
@given(headers=header_lists, http11=st.booleans())
def test_differential_analyze_request_headers(headers, http11):
    py, c = PURE, compiled("_headers")
    assert outcome(py.analyze_request_headers, headers, http11) == outcome(
        c.analyze_request_headers, headers, http11
    )


@needs_compiled("_headers")
@settings(max_examples=400, deadline=None)
@given(
    status=st.one_of(st.integers(0, 1100), st.sampled_from([200, 204, 404])), headers=header_lists
)
def test_differential_build_response_head(status, headers):
    py, c = PURE, compiled("_headers")
    assert outcome(py.build_response_head, status, headers) == outcome(
        c.build_response_head, status, headers
    )


@needs_compiled("_headers")
@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=30))
def test_differential_validation(data):
    py, c = PURE, compiled("_headers")
    assert outcome(py.validate_header_name, data) == outcome(c.validate_header_name, data)
    assert outcome(py.validate_header_value, data) == outcome(c.validate_header_value, data)


@needs_compiled("_headers")
@settings(max_examples=200, deadline=None)
@given(headers=header_lists, name=names)
def test_differential_get_header(headers, name):
    py, c = PURE, compiled("_headers")
    assert outcome(py.get_header, headers, name) == outcome(c.get_header, headers, name)


@needs_compiled("_headers")
def test_differential_covers_every_compiled_function():
    module = compiled("_headers")
    public = {n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n))}
    public -= {"BadRequest", "InvalidHeader", "HTTPStatus"}
    assert public == set(FUNCTIONS)
