"""Without a gunicorn process: how gunicorn's settings become pounce's Config, the
``timeout_notify``/``callback_notify`` keywords, and the heartbeat from the server's tick
(a Server on a real loop and a real socket, in this process)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
import ssl
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from pounce import Config
from pounce.config import DEFAULT_MAX_HEAD_SIZE
from pounce.errors import ConfigError
from pounce.server import Server

pytest.importorskip("gunicorn")
from gunicorn.config import Config as GunicornConfig
from gunicorn.glogging import Logger

from pounce.workers import PounceH11Worker, PounceWorker, gunicorn_option_names


async def app(scope: Any, receive: Any, send: Any) -> None:
    return None


@pytest.fixture
def make_worker() -> Iterator[Any]:
    made: list[PounceWorker] = []
    # A PounceWorker points pounce's loggers at gunicorn's handler lists (the same objects):
    # give the loggers their own lists back, so no later test in this process shares them.
    names = ("pounce.error", "pounce.access")
    saved = {
        name: (logging.getLogger(name).handlers, logging.getLogger(name).level) for name in names
    }
    saved_propagate = {name: logging.getLogger(name).propagate for name in names}

    def make(cls: type[PounceWorker] = PounceWorker, **settings: Any) -> PounceWorker:
        cfg = GunicornConfig()
        for name, value in settings.items():
            cfg.set(name, value)
        # The arbiter passes half of --timeout as the worker's timeout.
        worker = cls(1, 1, [], None, cfg.timeout / 2.0, cfg, Logger(cfg))
        made.append(worker)
        return worker

    yield make
    for worker in made:
        worker.tmp.close()
    for name, (handlers, level) in saved.items():
        log = logging.getLogger(name)
        log.handlers = handlers
        log.setLevel(level)
        log.propagate = saved_propagate[name]


def test_default_settings(make_worker: Any) -> None:
    worker = make_worker()
    options = worker.pounce_options()
    config = Config(app=app, **options)
    assert config.timeout_keep_alive == 2  # gunicorn's --keep-alive default
    assert config.timeout_notify == 15.0  # half of gunicorn's --timeout 30
    assert config.callback_notify == worker.notify
    assert config.timeout_graceful_shutdown == 29.0  # --graceful-timeout 30, less a second
    assert (config.limit_request_line, config.limit_request_fields) == (4094, 100)
    assert config.limit_request_field_size == 8190
    assert config.trusted_proxies == ["127.0.0.1", "::1"]
    assert config.backlog == 2048
    assert not config.is_ssl
    assert config.access_log is False  # no --access-logfile: no access records at all
    assert (config.loop, config.http) == ("auto", "auto")
    assert config.log_config is None


def test_mapped_settings(make_worker: Any) -> None:
    worker = make_worker(
        keepalive=7,
        timeout=10,
        graceful_timeout=5,
        limit_request_line=0,
        limit_request_field_size=0,
        limit_request_fields=30,
        forwarded_allow_ips="10.0.0.0/8,192.0.2.1",
        backlog=64,
        accesslog="-",
        certfile="/c.pem",
        keyfile="/k.pem",
        ca_certs="/ca.pem",
        cert_reqs=ssl.CERT_REQUIRED,
        ciphers="ECDHE+AESGCM",
    )
    options = worker.pounce_options()
    assert options["timeout_keep_alive"] == 7
    assert options["timeout_notify"] == 5.0
    assert options["timeout_graceful_shutdown"] == 4.0
    # gunicorn's 0 ("unlimited") is bounded by pounce's whole-head limit.
    assert options["limit_request_line"] == DEFAULT_MAX_HEAD_SIZE
    assert options["limit_request_field_size"] == DEFAULT_MAX_HEAD_SIZE
    assert options["limit_request_fields"] == 30
    assert options["forwarded_allow_ips"] == ["10.0.0.0/8", "192.0.2.1"]
    assert options["backlog"] == 64
    assert options["access_log"] is True
    assert options["ssl_certfile"] == "/c.pem" and options["ssl_keyfile"] == "/k.pem"
    assert options["ssl_ca_certs"] == "/ca.pem"
    assert options["ssl_cert_reqs"] == ssl.CERT_REQUIRED
    assert options["ssl_ciphers"] == "ECDHE+AESGCM"
    # gunicorn's default ssl_version (PROTOCOL_TLS) leaves pounce's server protocol.
    assert "ssl_version" not in options


def test_settings_of_gunicorn_asgi_worker(make_worker: Any) -> None:
    from gunicorn.config import KNOWN_SETTINGS

    if not any(s.name == "asgi_lifespan" for s in KNOWN_SETTINGS):
        pytest.skip("gunicorn < 25 has no ASGI settings")
    default = make_worker().pounce_options()
    assert (default["lifespan"], default["ws_max_size"]) == ("auto", 16 * 1024 * 1024)
    assert "root_path" not in default
    options = make_worker(
        root_path="/api", asgi_lifespan="off", websocket_max_message_size=1000
    ).pounce_options()
    assert (options["root_path"], options["lifespan"], options["ws_max_size"]) == (
        "/api",
        "off",
        1000,
    )


def test_max_requests_with_jitter(make_worker: Any) -> None:
    from pounce.workers import GunicornServer

    worker = make_worker(max_requests=100, max_requests_jitter=10)
    assert 100 <= worker.max_requests <= 110
    server = GunicornServer(Config(app=app), worker)
    assert server.max_requests == worker.max_requests
    # --max-requests 0: gunicorn's sys.maxsize means off, and nothing counts requests.
    off = GunicornServer(Config(app=app), make_worker())
    assert worker.max_requests != sys.maxsize and off.max_requests is None


def test_h11_worker_is_pure(make_worker: Any) -> None:
    options = make_worker(PounceH11Worker).pounce_options()
    config = Config(app=app, **options)
    assert (config.loop_name, config.http_name) == ("asyncio", "h11")


def test_bad_setting_names_the_gunicorn_option(make_worker: Any) -> None:
    with pytest.raises(ConfigError) as info:
        Config(app=app, **make_worker(keepalive=0).pounce_options())
    assert gunicorn_option_names(str(info.value)) == "--keep-alive: must be positive"
    assert gunicorn_option_names("--port: x") == "--port: x"


def test_timeout_notify_must_be_positive() -> None:
    with pytest.raises(ConfigError, match=r"^--timeout-notify: must be positive$"):
        Config(app=app, timeout_notify=0)
    with pytest.raises(ConfigError, match=r"^--callback-notify: must be callable$"):
        Config(app=app, callback_notify="notify")  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["function", "coroutine function"])
def test_callback_notify_from_the_tick(kind: str) -> None:
    """A Server with callback_notify calls it every timeout_notify seconds while serving, also
    when the keep-alive sweep alone would tick only once a second."""
    calls: list[float] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()

        def notify() -> None:
            calls.append(loop.time())

        async def anotify() -> None:
            calls.append(loop.time())

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        config = Config(
            app=app,
            lifespan="off",
            timeout_notify=0.2,
            callback_notify=notify if kind == "function" else anotify,
        )
        server = Server(config)
        task = asyncio.ensure_future(server.serve([sock]))
        await asyncio.sleep(1.5)
        server.request_exit()
        await asyncio.wait_for(task, 10)

    asyncio.run(main())
    # Every 0.2 s (the tick runs every 0.05 s here): about 7 calls in 1.5 s, never two within
    # 0.2 s, and never a gap much longer than timeout_notify.
    assert 5 <= len(calls) <= 8, calls
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert min(gaps) >= 0.2 - 1e-6 and max(gaps) < 0.2 + 0.15, gaps


def test_no_callback_keeps_the_sweep_interval() -> None:
    async def main() -> float:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        server = Server(Config(app=app, lifespan="off", timeout_notify=0.01))
        task = asyncio.ensure_future(server.serve([sock]))
        while not server.started:
            await asyncio.sleep(0.01)
        assert server._tick_handle is not None
        delay = server._tick_handle.when() - asyncio.get_running_loop().time()
        server.request_exit()
        await asyncio.wait_for(task, 10)
        return delay

    # timeout_notify alone does not make the tick faster (keep-alive 5 s: a 1 s sweep).
    assert 0.9 < asyncio.run(main()) <= 1.0
