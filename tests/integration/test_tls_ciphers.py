"""``--ssl-ciphers``: by default the ssl module's cipher list (uvicorn 0.55's default), under
which a TLS 1.2 client still gets h2 with a cipher RFC 9113 §9.2.2 allows (ECDHE with an AEAD:
AES-GCM or ChaCha20-Poly1305, none of Appendix A's); an explicit list still applies; a list that
selects nothing is a one-line error at start-up."""

from __future__ import annotations

import re
import socket
import ssl

import httpx
import pytest

from tests.support import APPS, run_pounce

# RFC 9113 §9.2.2 / Appendix A: TLS 1.2 h2 needs an ephemeral key exchange and an AEAD cipher.
H2_TLS12_CIPHER = re.compile(
    r"^ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$"
)
# Forbidden by Appendix A (CBC modes), offered first by the client below.
CBC_FIRST = (
    "ECDHE-ECDSA-AES128-SHA256:ECDHE-RSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384:"
    "ECDHE-RSA-AES256-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"
)


def tls12_client(certs, ciphers: str | None = None) -> ssl.SSLContext:
    ctx = certs.client_context(["h2", "http/1.1"])
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if ciphers:
        ctx.set_ciphers(ciphers)
    return ctx


def handshake(port: int, ctx: ssl.SSLContext) -> tuple[str | None, str | None, str]:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        cipher = tls.cipher()
        assert cipher is not None
        return tls.version(), tls.selected_alpn_protocol(), cipher[0]


@pytest.fixture
def tls_server(pounce_server, certs):
    def start(*args: str):
        return pounce_server(
            "testapp:app",
            "--no-access-log",
            "--ssl-certfile",
            str(certs.cert),
            "--ssl-keyfile",
            str(certs.key),
            *args,
        )

    return start


@pytest.mark.parametrize(
    "client_ciphers", [None, CBC_FIRST, "ALL"], ids=["default", "cbc-first", "all"]
)
def test_tls12_client_gets_h2_with_an_aead_ecdhe_cipher(tls_server, certs, client_ciphers):
    proc = tls_server()
    version, alpn, cipher = handshake(proc.port, tls12_client(certs, client_ciphers))
    assert (version, alpn) == ("TLSv1.2", "h2")
    assert H2_TLS12_CIPHER.match(cipher), cipher
    # And a real h2 request over that TLS 1.2 connection.
    ctx = tls12_client(certs, client_ciphers)
    with httpx.Client(http2=True, verify=ctx, timeout=10) as client:
        response = client.get(f"https://localhost:{proc.port}/")
    assert response.status_code == 200
    assert response.http_version == "HTTP/2"


def test_tls13_client_unchanged(tls_server, certs):
    proc = tls_server()
    version, alpn, cipher = handshake(proc.port, certs.client_context(["h2", "http/1.1"]))
    assert (version, alpn) == ("TLSv1.3", "h2")
    assert cipher.startswith("TLS_")


def test_explicit_ssl_ciphers_apply(tls_server, certs):
    # Without --ssl-ciphers the server prefers AES-256-GCM; the explicit list allows only 128.
    default = tls_server()
    assert "AES256-GCM" in handshake(default.port, tls12_client(certs))[2]
    only128 = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"
    proc = tls_server("--ssl-ciphers", only128)
    version, alpn, cipher = handshake(proc.port, tls12_client(certs))
    assert (version, alpn) == ("TLSv1.2", "h2")
    assert cipher in only128.split(":")


def test_bad_ssl_ciphers_is_a_one_line_error(certs):
    result = run_pounce(
        "--app-dir", str(APPS), "--ssl-certfile", str(certs.cert), "--ssl-keyfile",
        str(certs.key), "--ssl-ciphers", "NO-SUCH-CIPHER", "testapp:app",
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr == (
        "Error: --ssl-ciphers: no cipher can be selected from 'NO-SUCH-CIPHER'\n"
    )


def test_old_tlsv1_default_would_break_h2_on_tls12(tls_server, certs):
    # What pounce's previous default, the cipher string "TLSv1", gave a TLS 1.2 client: a
    # CBC-SHA1 suite (Appendix A), with h2 still chosen. Kept as the reason for the change.
    # The client offers every suite its OpenSSL has, AEAD ones included.
    proc = tls_server("--ssl-ciphers", "TLSv1")
    version, alpn, cipher = handshake(proc.port, tls12_client(certs, "ALL"))
    assert (version, alpn) == ("TLSv1.2", "h2")
    assert not H2_TLS12_CIPHER.match(cipher), cipher
