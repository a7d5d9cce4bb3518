"""Trust rules for X-Forwarded-For / X-Forwarded-Proto."""

from __future__ import annotations

import pytest

from pounce.errors import ConfigError
from pounce.proxy import ProxyTrust


def test_ips_cidrs_and_literals():
    trust = ProxyTrust(["127.0.0.1", "10.0.0.0/8", "::1", "unix-peer"])
    assert trust.is_trusted("127.0.0.1")
    assert trust.is_trusted("10.1.2.3")
    assert trust.is_trusted("::1")
    assert trust.is_trusted("unix-peer")
    assert not trust.is_trusted("11.0.0.1")
    assert not trust.is_trusted("not-an-ip")
    assert not trust.is_trusted(None)


def test_star_trusts_everyone():
    trust = ProxyTrust(["*"])
    assert trust.is_trusted("8.8.8.8")
    assert trust.client_from_forwarded_for("1.1.1.1, 2.2.2.2") == "1.1.1.1"


def test_forwarded_for_is_read_from_the_right():
    trust = ProxyTrust(["127.0.0.1", "10.0.0.0/8"])
    # a client cannot forge its address by prepending entries
    assert trust.client_from_forwarded_for("6.6.6.6, 1.2.3.4, 10.0.0.5") == "1.2.3.4"
    assert trust.client_from_forwarded_for("1.2.3.4") == "1.2.3.4"
    assert trust.client_from_forwarded_for("10.0.0.1, 10.0.0.2") == "10.0.0.1"
    assert trust.client_from_forwarded_for(" , ") is None


def test_apply():
    trust = ProxyTrust(["127.0.0.1"])
    headers = [(b"x-forwarded-for", b"203.0.113.7"), (b"x-forwarded-proto", b"HTTPS")]
    assert trust.apply(headers, ("127.0.0.1", 5000), "http") == (("203.0.113.7", 0), "https")
    assert trust.apply(headers, ("127.0.0.1", 5000), "ws", websocket=True)[1] == "wss"
    bogus = [(b"x-forwarded-proto", b"gopher")]
    assert trust.apply(bogus, ("127.0.0.1", 1), "http") == (("127.0.0.1", 1), "http")


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "300.1.1.1", "1.2.3"])
def test_bad_entries_name_the_option(entry):
    with pytest.raises(ConfigError, match="--forwarded-allow-ips"):
        ProxyTrust([entry])
