"""HTTP/2 through real clients: httpx, curl and h2load, over TLS (ALPN), h2c prior knowledge
and the h2c upgrade (``--h2c-upgrade``; off by default); and ``--no-http2`` turning all three
off. The upgrade's own rules (proxies, both twins) are in test_h2c_upgrade.py."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import time

import httpx
import pytest

from tests.h2support import H2Client
from tests.support import RawClient

needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
needs_h2load = pytest.mark.skipif(shutil.which("h2load") is None, reason="h2load not installed")


def curl(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["curl", "-sS", "--max-time", "15", *args],
        capture_output=True,
        timeout=timeout,
        check=False,
    )


def split_head(out: bytes) -> tuple[list[bytes], bytes]:
    """All response heads curl -i printed (101 then 200 for an upgrade), and the body."""
    heads = []
    while out.startswith(b"HTTP/"):
        head, _, out = out.partition(b"\r\n\r\n")
        heads.append(head)
    return heads, out


# httpx ---------------------------------------------------------------------------------------


def test_httpx_tls_alpn_h2(h2tls, certs):
    with httpx.Client(http2=True, verify=certs.client_context(), timeout=10) as client:
        r = client.get(f"https://localhost:{h2tls.port}/")
        assert r.status_code == 200
        assert r.http_version == "HTTP/2"
        assert r.text == "Hello, world!"
        assert r.headers["server"] == "pounce"
        assert r.headers["date"].endswith(" GMT")
        scope = client.post(f"https://localhost:{h2tls.port}/scope?a=b", content=b"xyz").json()
    assert scope["http_version"] == "2"
    assert scope["scheme"] == "https"
    assert scope["method"] == "POST"
    assert scope["path"] == "/scope" and scope["query_string"] == "a=b"
    assert scope["body_length"] == 3
    assert "http.response.trailers" in scope["extensions"]
    names = [k for k, _ in scope["headers"]]
    assert names[0] == "host" and not any(n.startswith(":") for n in names)


def test_tls_http11_clients_still_work(h2tls, certs):
    with httpx.Client(http2=False, verify=certs.client_context(["http/1.1"]), timeout=10) as c:
        r = c.get(f"https://localhost:{h2tls.port}/scope")
    assert r.http_version == "HTTP/1.1"
    assert r.json()["http_version"] == "1.1" and r.json()["scheme"] == "https"


def test_httpx_h2c_prior_knowledge_concurrent(h2c):
    async def main() -> list[httpx.Response]:
        async with httpx.AsyncClient(http1=False, http2=True, timeout=20) as client:
            coros = [client.post(f"{h2c.url}/echo", content=b"m%d" % i * 1000) for i in range(50)]
            return await asyncio.gather(*coros)

    responses = asyncio.run(main())
    assert [r.status_code for r in responses] == [200] * 50
    assert all(r.http_version == "HTTP/2" for r in responses)
    assert [r.content for r in responses] == [b"m%d" % i * 1000 for i in range(50)]


# curl ----------------------------------------------------------------------------------------


@needs_curl
def test_curl_http2_tls(h2tls, certs):
    out = curl("-i", "--http2", "--cacert", str(certs.ca), f"https://localhost:{h2tls.port}/")
    assert out.returncode == 0, out.stderr
    (head,), body = split_head(out.stdout)
    assert head.startswith(b"HTTP/2 200")
    assert b"content-length: 13" in head
    assert body == b"Hello, world!"


@needs_curl
def test_curl_prior_knowledge(h2c):
    out = curl("-i", "--http2-prior-knowledge", h2c.url + "/scope")
    assert out.returncode == 0, out.stderr
    (head,), body = split_head(out.stdout)
    assert head.startswith(b"HTTP/2 200")
    assert json.loads(body)["http_version"] == "2"


@needs_curl
def test_curl_upgrade_is_answered_as_http11_by_default(h2c):
    # RFC 9110 §7.8: a server may ignore an upgrade; pounce does unless --h2c-upgrade.
    out = curl("-i", "--http2", h2c.url + "/scope?via=upgrade")
    assert out.returncode == 0, out.stderr
    heads, body = split_head(out.stdout)
    assert len(heads) == 1 and heads[0].startswith(b"HTTP/1.1 200"), heads
    scope = json.loads(body)
    assert scope["http_version"] == "1.1" and scope["query_string"] == "via=upgrade"


@needs_curl
def test_curl_upgrade_h2c(h2c_upgrade):
    out = curl("-i", "--http2", h2c_upgrade.url + "/scope?via=upgrade")
    assert out.returncode == 0, out.stderr
    heads, body = split_head(out.stdout)
    assert heads[0].startswith(b"HTTP/1.1 101")
    assert b"upgrade: h2c" in heads[0].lower()
    assert heads[1].startswith(b"HTTP/2 200")  # the upgrading request, answered on stream 1
    scope = json.loads(body)
    assert scope["http_version"] == "2" and scope["query_string"] == "via=upgrade"
    names = [k for k, _ in scope["headers"]]
    assert "upgrade" not in names and "http2-settings" not in names and "connection" not in names


@needs_curl
def test_curl_upgrade_then_more_requests(h2c_upgrade):
    # Two URLs on one curl: the second reuses the upgraded HTTP/2 connection.
    out = curl(
        "--http2",
        "-w",
        "%{http_version} %{num_connects}\\n",
        "-o",
        "/dev/null",
        h2c_upgrade.url + "/",
        "-o",
        "/dev/null",
        h2c_upgrade.url + "/?second",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.decode().split("\n")[:2] == ["2 1", "2 0"]


@needs_curl
def test_upgrade_with_body_stays_http11(h2c_upgrade):
    # The server may ignore an upgrade (RFC 9110 §7.8); pounce does when a body follows.
    out = curl("-i", "--http2", "--data-binary", "hello", h2c_upgrade.url + "/")
    assert out.returncode == 0, out.stderr
    heads, body = split_head(out.stdout)
    assert len(heads) == 1 and heads[0].startswith(b"HTTP/1.1 200")
    assert body == b"Hello, world!"


# h2load --------------------------------------------------------------------------------------


@needs_h2load
@pytest.mark.timeout(120)
def test_h2load_every_request_succeeds(h2c):
    out = subprocess.run(
        ["h2load", "-n", "4000", "-c", "4", "-m", "32", h2c.url + "/"],
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    ).stdout
    m = re.search(
        r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
        r"(\d+) failed, (\d+) errored",
        out,
    )
    assert m, out
    assert m.groups() == ("4000", "4000", "4000", "4000", "0", "0"), out
    assert "status codes: 4000 2xx" in out


@needs_h2load
@pytest.mark.timeout(120)
def test_h2load_tls_post(h2tls):
    out = subprocess.run(
        [
            "h2load",
            "-n",
            "1000",
            "-c",
            "3",
            "-m",
            "32",
            "-d",
            "/etc/hostname",
            f"https://127.0.0.1:{h2tls.port}/echo",
        ],
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    ).stdout
    assert "1000 succeeded, 0 failed, 0 errored" in out, out
    assert "Application protocol: h2" in out


# --no-http2 ----------------------------------------------------------------------------------


@needs_curl
def test_no_http2_disables_everything(pounce_server, certs):
    server = pounce_server("h2app:app", "--no-http2", "--h2c-upgrade", "--no-access-log")
    # Upgrade: answered as plain HTTP/1.1, even with --h2c-upgrade.
    out = curl("-i", "--http2", server.url + "/")
    heads, body = split_head(out.stdout)
    assert [h.split(b"\r\n")[0][:12] for h in heads] == [b"HTTP/1.1 200"]
    assert body == b"Hello, world!"
    # Prior knowledge: the preface is not HTTP/1.1; the server refuses it.
    with RawClient(server.port) as raw:
        raw.send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        data = raw.read_all()
    assert data.startswith(b"HTTP/1.1 4") or data.startswith(b"HTTP/1.1 505")
    # TLS: ALPN offers only http/1.1.
    tls = pounce_server(
        "h2app:app",
        "--no-http2",
        "--no-access-log",
        "--ssl-certfile",
        str(certs.cert),
        "--ssl-keyfile",
        str(certs.key),
    )
    with httpx.Client(http2=True, verify=certs.client_context(), timeout=10) as client:
        r = client.get(f"https://localhost:{tls.port}/")
    assert r.status_code == 200 and r.http_version == "HTTP/1.1"


def test_raw_h2_client_basic(h2c):
    with H2Client(h2c.port) as client:
        first = client.get("/")
        second = client.get("/stream?n=3&size=5")
    assert (first.status, bytes(first.body)) == (200, b"Hello, world!")
    assert first.header(b"content-length") == b"13"
    assert bytes(second.body) == b"AAAAABBBBBCCCCC"


@needs_curl
def test_h11_parser_upgrade_and_prior_knowledge(pounce_server):
    server = pounce_server("h2app:app", "--http", "h11", "--h2c-upgrade", "--no-access-log")
    out = curl("-i", "--http2", server.url + "/scope")
    heads, body = split_head(out.stdout)
    assert heads[0].startswith(b"HTTP/1.1 101") and heads[1].startswith(b"HTTP/2 200")
    assert json.loads(body)["http_version"] == "2"
    out = curl("-i", "--http2-prior-knowledge", server.url + "/")
    (head,), body = split_head(out.stdout)
    assert head.startswith(b"HTTP/2 200") and body == b"Hello, world!"


def test_preface_split_across_reads(h2c):
    """The preface may arrive a byte at a time; POST (also starting with P) still is HTTP/1.1."""
    client = H2Client(h2c.port, handshake=False)
    with client:
        client.conn.initiate_connection()
        data = client.conn.data_to_send()
        for i in range(30):
            client.send_raw(data[i : i + 1])
            time.sleep(0.005)
        client.send_raw(data[30:])
        result = client.get("/")
    assert (result.status, bytes(result.body)) == (200, b"Hello, world!")
    with RawClient(h2c.port) as raw:
        for byte in b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok":
            raw.send(bytes([byte]))
        response = raw.read_response()
    assert (response.status, response.body) == (200, b"ok")
