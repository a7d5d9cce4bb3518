"""Request-target splitting, and Config validation."""

from __future__ import annotations

import pytest

from pounce import Config
from pounce._url import decode_path, split_target
from pounce.errors import BadRequest, ConfigError


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (b"/", (b"/", b"")),
        (b"/a/b?x=1&y=2", (b"/a/b", b"x=1&y=2")),
        (b"/a?", (b"/a", b"")),
        (b"/a#frag", (b"/a", b"")),
        (b"/a?q#frag", (b"/a", b"q")),
        (b"http://example.com/p?q=1", (b"/p", b"q=1")),
        (b"http://example.com", (b"/", b"")),
        (b"*", (b"*", b"")),
        (b"example.com:443", (b"example.com:443", b"")),
    ],
)
def test_split_target(target, expected):
    assert split_target(target) == expected


@pytest.mark.parametrize("target", [b"", b"/a b", b"/\xff", b"/a\x00", b"/a\x7f", b"/\t"])
def test_split_target_refuses(target):
    with pytest.raises(BadRequest) as info:
        split_target(target)
    assert info.value.status == 400


def test_decode_path():
    assert decode_path(b"/caf%C3%A9") == "/café"
    assert decode_path(b"/a%2Fb") == "/a/b"
    assert decode_path(b"/plain") == "/plain"


def test_config_defaults_match_uvicorn():
    c = Config(app="x:y")
    assert (c.host, c.port, c.backlog) == ("127.0.0.1", 8000, 2048)
    assert (c.loop, c.http, c.lifespan) == ("auto", "auto", "auto")
    assert c.timeout_keep_alive == 5.0
    assert c.timeout_graceful_shutdown is None
    assert c.access_log and c.proxy_headers and c.server_header and c.date_header
    assert c.max_head_size == 16384


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [
        ({"port": -1}, "--port"),
        ({"loop": "x"}, "--loop"),
        ({"http": "x"}, "--http"),
        ({"lifespan": "x"}, "--lifespan"),
        ({"backlog": 0}, "--backlog"),
        ({"timeout_keep_alive": 0}, "--timeout-keep-alive"),
        ({"timeout_graceful_shutdown": -1}, "--timeout-graceful-shutdown"),
        ({"limit_concurrency": 0}, "--limit-concurrency"),
        ({"h11_max_incomplete_event_size": 1}, "--h11-max-incomplete-event-size"),
        ({"log_level": "loud"}, "--log-level"),
        ({"root_path": "x"}, "--root-path"),
        ({"headers": [("x", "a\r\nb")]}, "--header"),
        ({"forwarded_allow_ips": "1.2.3.4/40"}, "--forwarded-allow-ips"),
    ],
)
def test_config_errors_name_the_option(kwargs, option):
    with pytest.raises(ConfigError, match=option):
        Config(app="x:y", **kwargs)


def test_config_is_frozen():
    c = Config(app="x:y")
    with pytest.raises(AttributeError):
        c.port = 1  # type: ignore[misc]
    assert c.replace(port=9000).port == 9000
