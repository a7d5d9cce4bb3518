"""TLS and HTTP/2 options: defaults, validation messages naming the option, the SSL context."""

from __future__ import annotations

import ssl

import pytest

from pounce.config import Config
from pounce.errors import ConfigError
from tests.support import run_pounce


def test_defaults_follow_uvicorn() -> None:
    config = Config(app="a:b")
    assert config.http2 is True
    assert config.h2c_upgrade is False  # h2c smuggling (pounce/http2/negotiate.py)
    assert (config.ssl_certfile, config.ssl_keyfile, config.ssl_ca_certs) == (None, None, None)
    assert config.ssl_cert_reqs == ssl.CERT_NONE
    assert config.ssl_ciphers is None  # the ssl module's defaults, as uvicorn 0.55
    assert not config.is_ssl and config.ssl_context() is None
    assert config.h2_max_concurrent_streams == 100


@pytest.mark.parametrize(
    ("changes", "option"),
    [
        ({"h2_max_concurrent_streams": 0}, "--h2-max-concurrent-streams"),
        ({"h2_initial_window_size": 100}, "--h2-initial-window-size"),
        ({"h2_initial_window_size": 2**31}, "--h2-initial-window-size"),
        ({"h2_initial_connection_window_size": 10}, "--h2-initial-connection-window-size"),
        ({"h2_max_header_list_size": 10}, "--h2-max-header-list-size"),
        ({"h2_write_timeout": 0}, "--h2-write-timeout"),
        ({"ssl_keyfile": "k.pem"}, "--ssl-certfile"),
        ({"ssl_cert_reqs": 7}, "--ssl-cert-reqs"),
    ],
)
def test_invalid_values_name_the_option(changes, option) -> None:
    with pytest.raises(ConfigError, match=f"^{option}: "):
        Config(app="a:b", **changes)


def test_ssl_context_offers_h2_alpn(tmp_path) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    cert_path, key_path = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_path))
    cert.private_key_pem.write_to_path(str(key_path))
    config = Config(app="a:b", ssl_certfile=str(cert_path), ssl_keyfile=str(key_path))
    assert config.is_ssl
    assert config.bind_description().startswith("https://")
    ctx = config.ssl_context()
    assert isinstance(ctx, ssl.SSLContext)
    assert ctx.verify_mode == ssl.CERT_NONE
    with pytest.raises(ConfigError, match=r"^--ssl-certfile: "):
        Config(app="a:b", ssl_certfile=str(tmp_path / "missing.pem")).ssl_context()
    with pytest.raises(ConfigError, match=r"^--ssl-ciphers: "):
        Config(
            app="a:b", ssl_certfile=str(cert_path), ssl_keyfile=str(key_path), ssl_ciphers="nope"
        ).ssl_context()


def test_cli_rejects_bad_h2_option() -> None:
    result = run_pounce("--h2-max-concurrent-streams", "0", "tests.apps.testapp:app")
    assert result.returncode == 2
    assert "--h2-max-concurrent-streams: must be at least 1" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_help_lists_options() -> None:
    out = run_pounce("--help").stdout
    for option in (
        "--ssl-keyfile",
        "--ssl-certfile",
        "--ssl-keyfile-password",
        "--ssl-ca-certs",
        "--ssl-cert-reqs",
        "--ssl-ciphers",
        "--ssl-version",
        "--http2 / --no-http2",
        "--h2c-upgrade / --no-h2c-upgrade",
        "--h2-max-concurrent-streams",
        "--h2-initial-window-size",
        "--h2-max-header-list-size",
    ):
        assert option in out


def test_cli_help_says_h2c_upgrade_is_off_and_why() -> None:
    out = " ".join(run_pounce("--help").stdout.split())
    start = out.index("--h2c-upgrade / --no-h2c-upgrade")
    text = out[start : out.index("--h2-max-concurrent-streams")]
    assert "smuggling" in text and "default: no-h2c-upgrade" in text
