"""Sans-I/O parts of the Server API: ``run()``'s signature, ``--loop`` values, the SSL
context factory (tests/integration/test_server_api.py runs the servers)."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import ssl
from collections.abc import Callable

import pytest

import pounce
from pounce.config import Config
from pounce.errors import AppLoadError, ConfigError
from pounce.loops import new_event_loop


def test_run_takes_every_config_field_by_name_with_configs_default():
    params = inspect.signature(pounce.run).parameters
    fields = {f.name: f for f in dataclasses.fields(Config) if f.name not in ("app", "extra")}
    assert next(iter(params)) == "app"
    keywords = {name: p for name, p in params.items() if name != "app"}
    assert set(keywords) == set(fields)
    for name, param in keywords.items():
        assert param.kind is inspect.Parameter.KEYWORD_ONLY, name
        field = fields[name]
        default = (
            field.default
            if field.default_factory is dataclasses.MISSING
            else field.default_factory()
        )
        assert param.default is default or param.default == default, name
        assert param.annotation == fields[name].type, name


def test_run_refuses_an_unknown_keyword():
    with pytest.raises(TypeError, match="no_such_option"):
        pounce.run("app:app", no_such_option=1)  # type: ignore[call-arg]


def test_uvicorns_server_api_keywords():
    config = Config(app="m:a", reset_contextvars=True, loop="none")
    assert config.reset_contextvars and config.loop == "none"


@pytest.mark.parametrize("loop", ["none", "auto", "asyncio", "mod:factory", "pkg.mod:obj.attr"])
def test_loop_values_accepted(loop):
    assert Config(app="m:a", loop=loop).loop == loop


@pytest.mark.parametrize("loop", ["tokio", "mod:", ":factory", ""])
def test_loop_values_refused_naming_the_option(loop):
    with pytest.raises(ConfigError, match=r"^--loop: must be one of auto, asyncio, uvloop, none"):
        Config(app="m:a", loop=loop)


def test_loop_none_is_the_policys_loop():
    class Marked(asyncio.SelectorEventLoop):
        pass

    class Policy(asyncio.DefaultEventLoopPolicy):
        def new_event_loop(self) -> asyncio.AbstractEventLoop:
            return Marked()

    before = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(Policy())
    try:
        loop = new_event_loop(Config(app="m:a", loop="none"))
        assert type(loop) is Marked
        loop.close()
        # --loop asyncio is asyncio's selector loop whatever the policy (uvicorn's choice).
        loop = new_event_loop(Config(app="m:a", loop="asyncio"))
        assert type(loop) is not Marked and isinstance(loop, asyncio.SelectorEventLoop)
        loop.close()
    finally:
        asyncio.set_event_loop_policy(before)


def test_loop_factory_is_imported_and_called():
    loop = new_event_loop(Config(app="m:a", loop="asyncio:SelectorEventLoop"))
    assert isinstance(loop, asyncio.SelectorEventLoop)
    loop.close()
    assert Config(app="m:a", loop="asyncio:SelectorEventLoop").loop_name == (
        "asyncio:SelectorEventLoop"
    )


@pytest.mark.parametrize(
    ("loop", "message"),
    [
        ("no_such_module_xyz:f", '--loop: could not import module "no_such_module_xyz"'),
        ("asyncio:no_such_attr", '--loop: attribute "no_such_attr" not found in module "asyncio"'),
        ("asyncio:__name__", "--loop: 'asyncio:__name__' is not callable"),
        ("builtins:object", "--loop: the loop factory 'builtins:object' returned object, not an"),
        ("builtins:dict", "--loop: the loop factory 'builtins:dict' returned dict, not an"),
        ("builtins:len", "--loop: the loop factory 'builtins:len' raised TypeError"),
    ],
)
def test_loop_factory_errors(loop, message):
    with pytest.raises(AppLoadError) as info:
        new_event_loop(Config(app="m:a", loop=loop))
    assert str(info.value).startswith(message)


def test_ssl_context_factory_is_called_with_config_and_default():
    made = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    seen: list[tuple[Config, Callable[[], ssl.SSLContext]]] = []

    def factory(config: Config, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
        seen.append((config, default))
        return made

    config = Config(app="m:a", ssl_context_factory=factory)
    assert config.is_ssl
    assert config.ssl_context() is made
    assert seen[0][0] is config


def test_ssl_context_factory_must_return_a_context():
    config = Config(app="m:a", ssl_context_factory=lambda config, default: "not a context")  # type: ignore[arg-type,return-value]
    with pytest.raises(
        ConfigError, match=r"^ssl_context_factory: must return an ssl\.SSLContext, got str$"
    ):
        config.ssl_context()


def test_default_ssl_context_needs_a_certificate():
    config = Config(app="m:a", ssl_context_factory=lambda config, default: default())
    with pytest.raises(
        ConfigError, match=r"^--ssl-certfile: the default SSL context factory needs"
    ):
        config.ssl_context()


def test_no_tls_without_certificate_or_factory():
    config = Config(app="m:a")
    assert not config.is_ssl and config.ssl_context() is None
