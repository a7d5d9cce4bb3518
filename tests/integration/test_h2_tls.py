"""TLS options with uvicorn's names: client certificates and an encrypted key file."""

from __future__ import annotations

import ssl

import httpx
import pytest

from tests.h2support import H2Client


def test_client_certificate_required(pounce_server, certs, tmp_path):
    import trustme

    client_ca = trustme.CA()
    client_ca_path = tmp_path / "client-ca.pem"
    client_ca.cert_pem.write_to_path(str(client_ca_path))
    server = pounce_server(
        "h2app:app",
        "--no-access-log",
        "--ssl-certfile",
        str(certs.cert),
        "--ssl-keyfile",
        str(certs.key),
        "--ssl-cert-reqs",
        str(int(ssl.CERT_REQUIRED)),
        "--ssl-ca-certs",
        str(client_ca_path),
    )
    url = f"https://localhost:{server.port}/scope"
    with (
        pytest.raises(httpx.HTTPError),
        httpx.Client(http2=True, verify=certs.client_context(), timeout=5) as client,
    ):
        client.get(url)
    ctx = certs.client_context()
    client_ca.issue_cert("client@example.com").configure_cert(ctx)
    with httpx.Client(http2=True, verify=ctx, timeout=5) as client:
        r = client.get(url)
    assert r.status_code == 200 and r.http_version == "HTTP/2"
    assert r.json()["scheme"] == "https"


def test_encrypted_key_file(pounce_server, tmp_path):
    import trustme
    from cryptography.hazmat.primitives import serialization

    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    key = serialization.load_pem_private_key(cert.private_key_pem.bytes(), password=None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"s3cret"),
    )
    cert_path, key_path, ca_path = tmp_path / "c.pem", tmp_path / "k.pem", tmp_path / "ca.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_path))
    key_path.write_bytes(encrypted)
    ca.cert_pem.write_to_path(str(ca_path))
    server = pounce_server(
        "h2app:app",
        "--no-access-log",
        "--ssl-certfile",
        str(cert_path),
        "--ssl-keyfile",
        str(key_path),
        "--ssl-keyfile-password",
        "s3cret",
    )
    ctx = ssl.create_default_context(cafile=str(ca_path))
    ctx.set_alpn_protocols(["h2"])
    with H2Client(server.port, tls=ctx) as client:
        result = client.get("/")
        assert client.sock.selected_alpn_protocol() == "h2"
    assert (result.status, bytes(result.body)) == (200, b"Hello, world!")
