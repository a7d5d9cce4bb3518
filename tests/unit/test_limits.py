"""Sans-I/O: the limit options' defaults, what the server state derives from them, and the
shared checks in pounce.asgi.limits."""

from __future__ import annotations

import asyncio

import pytest

from pounce import Config
from pounce.asgi.limits import (
    BODY_TOO_LARGE,
    FIELD_TOO_LARGE,
    HEAD_TOO_LARGE,
    LINE_SLACK,
    REQUEST_LINE_TOO_LONG,
    TOO_MANY_FIELDS,
    h2_request_error,
    over_connection_limit,
    partial_head_error,
)
from pounce.state import ServerState


async def app(scope: object, receive: object, send: object) -> None:
    return None


def make_state(**options: object) -> ServerState:
    loop = asyncio.new_event_loop()
    try:
        return ServerState(Config(app=app, **options), app, loop)  # type: ignore[arg-type]
    finally:
        loop.close()


def test_defaults():
    config = Config(app="x:y")
    assert config.timeout_request_header == 10.0
    assert config.timeout_request_body == 30.0
    assert config.timeout_send == 30.0
    assert config.timeout_tls_handshake == 10.0
    assert config.limit_request_line == 8190
    assert config.limit_request_field_size == 8190
    assert config.limit_request_fields == 100
    assert config.limit_request_body is None
    assert config.limit_connections is None
    assert config.max_head_size == 16384


def test_state_takes_the_limits_and_sweeps_often_enough():
    state = make_state(timeout_request_header=0.4, limit_request_body=10, limit_connections=3)
    assert state.header_timeout == 0.4
    assert state.limit_body == 10
    assert state.limit_connections == 3
    assert state.sweep_interval == pytest.approx(0.1)
    unlimited = make_state()
    assert unlimited.limit_body == 0 and unlimited.limit_connections == 0
    assert unlimited.sweep_interval == 1.0


def test_partial_head_error():
    state = make_state(limit_request_line=100, limit_request_field_size=50)
    assert partial_head_error(state, 0, 100 + LINE_SLACK, False) is None
    assert partial_head_error(state, 0, 101 + LINE_SLACK, False) == REQUEST_LINE_TOO_LONG
    assert partial_head_error(state, 120, 51, True) is None
    assert partial_head_error(state, 120, 52, True) == FIELD_TOO_LARGE
    assert partial_head_error(state, 16384, 10, True) == HEAD_TOO_LARGE


def test_h2_request_error():
    state = make_state(
        limit_request_line=20,
        limit_request_field_size=20,
        limit_request_fields=2,
        limit_request_body=5,
    )
    assert h2_request_error(state, b"/", [(b"a", b"b")]) is None
    assert h2_request_error(state, b"/" + b"a" * 20, []) == REQUEST_LINE_TOO_LONG
    assert h2_request_error(state, b"/", [(b"a", b"1")] * 3) == TOO_MANY_FIELDS
    assert h2_request_error(state, b"/", [(b"a", b"v" * 18)]) == FIELD_TOO_LARGE
    assert h2_request_error(state, b"/", [(b"content-length", b"6")]) == BODY_TOO_LARGE
    assert h2_request_error(state, b"/", [(b"content-length", b"5")]) is None


def test_over_connection_limit():
    state = make_state(limit_connections=2)
    assert not over_connection_limit(state)
    state.connections.update({object(), object()})  # type: ignore[arg-type]
    assert over_connection_limit(state)
    assert not over_connection_limit(make_state())
