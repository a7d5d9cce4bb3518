"""Fixtures for the HTTP/2 integration tests: servers on cleartext and TLS, and certificates."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import PounceProcess


@dataclass
class Certs:
    cert: Path
    key: Path
    ca: Path

    def client_context(self, alpn: list[str] | None = None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca))
        ctx.set_alpn_protocols(alpn or ["h2", "http/1.1"])
        return ctx


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    import trustme

    ca = trustme.CA()
    server_cert = ca.issue_cert("localhost", "127.0.0.1")
    base = tmp_path_factory.mktemp("certs")
    cert, key, ca_path = base / "cert.pem", base / "key.pem", base / "ca.pem"
    server_cert.cert_chain_pems[0].write_to_path(str(cert))
    for blob in server_cert.cert_chain_pems[1:]:
        blob.write_to_path(str(cert), append=True)
    server_cert.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_path))
    return Certs(cert, key, ca_path)


@pytest.fixture(scope="session")
def h2c() -> Iterator[PounceProcess]:
    """The HTTP/2 test app on a shared cleartext server (prior knowledge; by default, an
    ``Upgrade: h2c`` is answered as HTTP/1.1)."""
    proc = PounceProcess("h2app:app", "--no-access-log", "--timeout-keep-alive", "5")
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def h2c_upgrade() -> Iterator[PounceProcess]:
    """The HTTP/2 test app on a shared cleartext server with ``--h2c-upgrade``."""
    proc = PounceProcess(
        "h2app:app", "--no-access-log", "--timeout-keep-alive", "5", "--h2c-upgrade"
    )
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def h2tls(certs: Certs) -> Iterator[PounceProcess]:
    """The HTTP/2 test app on a shared TLS server (ALPN h2, http/1.1)."""
    proc = PounceProcess(
        "h2app:app",
        "--no-access-log",
        "--ssl-certfile",
        str(certs.cert),
        "--ssl-keyfile",
        str(certs.key),
    )
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.stop()
