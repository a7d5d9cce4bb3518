"""Request-smuggling corpus: every malformed-framing class of RFC 9112 §6/§11.2 and of the
published advisories against h11, llhttp, gunicorn and waitress, under both parsers.

A smuggling bug is a disagreement between two parsers about where a request ends. So every
case pins the exact outcome, per parser where the two legitimately differ:
- refused: the status, ``connection: close``, the connection closed, and the app never saw
  the request (its target carries a ``?track=`` marker the test app records);
- accepted: 200, the body the app read (``/echo`` sends it back), and a follow-up request
  on the same connection answered normally, which proves that no byte of the first request
  was left over to be read as a second one.

Advisories the cases come from (by class, not copied): h11 GHSA-vqfr-h8mv-ghfj (any two bytes
after chunk data), waitress CVE-2019-16785 (bare LF), CVE-2019-16789 (odd whitespace in
Transfer-Encoding), CVE-2022-24761 (``int()`` accepting ``+10``/``0x1``, unchecked chunk
extensions), gunicorn CVE-2024-1135 / CVE-2024-6827 (conflicting Transfer-Encoding, fallback to
Content-Length) and its issues on ``\\xa0``/``\\x85`` around names and values, llhttp/aiohttp
CVE-2023-30589 (bare CR in a header value), Go CVE-2025-22871 and Kestrel CVE-2025-55315 (bare
LF in a chunk-size line or extension), the ATS/uhttpd chunk-size issues (``1junk``, ``0_0``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from tests.support import PounceProcess, RawClient

pytestmark = pytest.mark.timeout(30)

H = b"Host: x\r\n"
# Replaced by a per-case, per-parser marker: the test app records ``track`` values it sees.
T = b"/echo?track=@T"


@dataclass(frozen=True)
class Case:
    data: bytes
    # 200: the request reaches the app; anything else: refused with that status and closed.
    status: int
    # For an accepted request, the body the app read.
    body: bytes = b""
    # The h11 backend's outcome where it legitimately differs: (status, body).
    h11: tuple[int, bytes] | None = None
    # For an accepted request: whether the connection stays open for a follow-up.
    keep_alive: bool = True
    why: str = field(default="", compare=False)


def post(headers: bytes, body: bytes = b"", version: bytes = b"1.1") -> bytes:
    return b"POST " + T + b" HTTP/" + version + b"\r\n" + H + headers + b"\r\n" + body


def chunked(body: bytes) -> bytes:
    return post(b"Transfer-Encoding: chunked\r\n", body)


def get(line_rest: bytes = b"", headers: bytes = H, target: bytes = T) -> bytes:
    return b"GET " + target + b" HTTP/1.1" + line_rest + b"\r\n" + headers + b"\r\n"


CASES: dict[str, Case] = {
    # -- Transfer-Encoding obfuscation (RFC 9112 §6.1: chunked must be the final coding and
    # pounce supports no other; anything but exactly "chunked" is refused) ------------------
    "TE xchunked": Case(post(b"Transfer-Encoding: xchunked\r\n", b"0\r\n\r\n"), 400),
    "TE chunked, identity": Case(
        post(b"Transfer-Encoding: chunked, identity\r\n", b"0\r\n\r\n"), 400
    ),
    "TE identity, chunked": Case(
        post(b"Transfer-Encoding: identity, chunked\r\n", b"0\r\n\r\n"), 400
    ),
    "TE chunked, chunked": Case(
        post(b"Transfer-Encoding: chunked, chunked\r\n", b"0\r\n\r\n"), 400
    ),
    "TE duplicated": Case(
        post(b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"), 400
    ),
    "TE chunked then gzip field": Case(
        post(b"Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n", b"0\r\n\r\n"), 400
    ),
    "TE gzip alone": Case(post(b"Transfer-Encoding: gzip\r\n", b"abc"), 400),
    "TE with parameter": Case(post(b"Transfer-Encoding: chunked;q=1\r\n", b"0\r\n\r\n"), 400),
    "TE empty": Case(post(b"Transfer-Encoding: \r\n"), 400),
    "TE vertical tab before value": Case(
        post(b"Transfer-Encoding:\x0bchunked\r\n", b"0\r\n\r\n"), 400
    ),
    "TE form feed after value": Case(
        post(b"Transfer-Encoding: chunked\x0c\r\n", b"0\r\n\r\n"), 400
    ),
    "TE nbsp before value": Case(post(b"Transfer-Encoding: \xa0chunked\r\n", b"0\r\n\r\n"), 400),
    "TE name with trailing nbsp": Case(
        post(b"Transfer-Encoding\xa0: chunked\r\nContent-Length: 3\r\n", b"abc"), 400
    ),
    "CL name with trailing \\x85": Case(post(b"Content-Length\x85: 3\r\n", b"abc"), 400),
    "TE space before colon": Case(post(b"Transfer-Encoding : chunked\r\n", b"0\r\n\r\n"), 400),
    "TE obs-fold value": Case(post(b"Transfer-Encoding:\r\n chunked\r\n", b"0\r\n\r\n"), 400),
    # Accepted spellings: case-insensitive coding names (RFC 9112 §7), OWS around the value.
    "TE upper case": Case(
        post(b"Transfer-Encoding: CHUNKED\r\n", b"3\r\nabc\r\n0\r\n\r\n"), 200, b"abc"
    ),
    "TE extra spaces": Case(
        post(b"Transfer-Encoding:   chunked  \r\n", b"3\r\nabc\r\n0\r\n\r\n"), 200, b"abc"
    ),
    "TE tab": Case(post(b"Transfer-Encoding:\tchunked\r\n", b"3\r\nabc\r\n0\r\n\r\n"), 200, b"abc"),
    # Not a framing header at all: the body is framed by Content-Length.
    "TE name with underscore": Case(
        post(b"Transfer_Encoding: chunked\r\nContent-Length: 3\r\n", b"abc"), 200, b"abc"
    ),
    # -- TE and CL together (RFC 9112 §6.3: a server may refuse; pounce always does) ---------
    "TE then CL": Case(
        post(b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", b"0\r\n\r\n"), 400
    ),
    "CL then TE": Case(
        post(b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"), 400
    ),
    "CL 0 then TE": Case(
        post(b"Content-Length: 0\r\nTransfer-Encoding: chunked\r\n", b"5\r\nhello\r\n0\r\n\r\n"),
        400,
    ),
    # -- Content-Length forms (RFC 9110 §8.6: 1*DIGIT) ----------------------------------------
    "CL list 1, 1": Case(post(b"Content-Length: 1, 1\r\n", b"a"), 400),
    "CL list 1, 2": Case(post(b"Content-Length: 1, 2\r\n", b"ab"), 400),
    "CL repeated same": Case(post(b"Content-Length: 5\r\nContent-Length: 5\r\n", b"hello"), 400),
    "CL repeated differing": Case(
        post(b"Content-Length: 5\r\nContent-Length: 6\r\n", b"hello!"), 400
    ),
    "CL plus sign": Case(post(b"Content-Length: +5\r\n", b"hello"), 400),
    "CL minus one": Case(post(b"Content-Length: -1\r\n"), 400),
    "CL hex": Case(post(b"Content-Length: 0x5\r\n", b"hello"), 400),
    "CL underscore": Case(post(b"Content-Length: 1_0\r\n", b"a" * 10), 400),
    "CL inner space": Case(post(b"Content-Length: 1 2\r\n", b"a" * 12), 400),
    "CL trailing junk": Case(post(b"Content-Length: 5x\r\n", b"hello"), 400),
    "CL empty": Case(post(b"Content-Length: \r\n"), 400),
    "CL non-ASCII digit": Case(post("Content-Length: \u0665\r\n".encode(), b"a"), 400),
    "CL huge": Case(post(b"Content-Length: 99999999999999999999999\r\n"), 400),
    "CL 2**64 + 1 (wraps to 1)": Case(post(b"Content-Length: 18446744073709551617\r\n", b"a"), 400),
    "CL leading zeros": Case(post(b"Content-Length: 0005\r\n", b"hello"), 200, b"hello"),
    "CL plain": Case(post(b"Content-Length: 5\r\n", b"hello"), 200, b"hello"),
    # -- chunk-size forms (RFC 9112 §7.1: chunk-size = 1*HEXDIG) --------------------------------
    "chunk plain": Case(chunked(b"5\r\nhello\r\n0\r\n\r\n"), 200, b"hello"),
    "chunk upper-case hex, leading zeros": Case(
        chunked(b"00A\r\n0123456789\r\n000\r\n\r\n"), 200, b"0123456789"
    ),
    "chunk 0x prefix": Case(chunked(b"0x5\r\nhello\r\n0\r\n\r\n"), 400),
    "chunk underscore": Case(chunked(b"5_0\r\n" + b"a" * 80 + b"\r\n0\r\n\r\n"), 400),
    "last chunk 0_0": Case(chunked(b"0_0\r\n\r\n"), 400),
    "chunk negative": Case(chunked(b"-5\r\nhello\r\n0\r\n\r\n"), 400),
    "chunk plus sign": Case(chunked(b"+5\r\nhello\r\n0\r\n\r\n"), 400),
    "chunk size 2**64 (wraps to 0)": Case(chunked(b"10000000000000000\r\nhello\r\n0\r\n\r\n"), 400),
    "chunk size 72 bits": Case(chunked(b"ffffffffffffffffff\r\nhello\r\n0\r\n\r\n"), 400),
    "chunk size leading space": Case(chunked(b" 5\r\nhello\r\n0\r\n\r\n"), 400),
    "chunk size leading CR": Case(chunked(b"\r5\r\nhello\r\n0\r\n\r\n"), 400),
    "chunk size trailing space": Case(chunked(b"5 \r\nhello\r\n0\r\n\r\n"), 400),
    "chunk size trailing tab": Case(chunked(b"5\t\r\nhello\r\n0\r\n\r\n"), 400),
    "chunk size then junk": Case(chunked(b"5junk\r\nhello\r\n0\r\n\r\n"), 400),
    "chunk size empty": Case(chunked(b"\r\nhello\r\n0\r\n\r\n"), 400),
    "chunk data then two other bytes": Case(chunked(b"5\r\nhelloXX0\r\n\r\n"), 400),
    "chunk data longer than its size": Case(chunked(b"3\r\nhello\r\n0\r\n\r\n"), 400),
    "chunk size bare LF": Case(chunked(b"5\nhello\r\n0\r\n\r\n"), 400),
    "chunk size bare CR": Case(chunked(b"5\rhello\r\n0\r\n\r\n"), 400),
    "chunk data bare LF": Case(chunked(b"5\r\nhello\n0\r\n\r\n"), 400),
    "last chunk without blank line, then a request": Case(
        chunked(b"0\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"), 400
    ),
    # -- chunk extensions (RFC 9112 §7.1.1: tokens and quoted strings; no CTLs) --------------
    "chunk ext token": Case(chunked(b"5;a=b\r\nhello\r\n0\r\n\r\n"), 200, b"hello"),
    "chunk ext quoted with ;": Case(chunked(b'5;a="b;c"\r\nhello\r\n0\r\n\r\n'), 200, b"hello"),
    "chunk ext bare LF": Case(chunked(b"5;a\nb\r\nhello\r\n0\r\n\r\n"), 400),
    "chunk ext bare CR": Case(chunked(b"5;a\rb\r\nhello\r\n0\r\n\r\n"), 400),
    "chunk ext NUL": Case(chunked(b"5;a\x00b\r\nhello\r\n0\r\n\r\n"), 400),
    # -- trailers (RFC 9110 §6.5.1): never merged into the headers the app sees --------------
    "trailer plain": Case(chunked(b"5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n"), 200, b"hello"),
    "trailer host (ignored)": Case(
        chunked(b"5\r\nhello\r\n0\r\nHost: evil\r\n\r\n"), 200, b"hello"
    ),
    "trailer content-length": Case(chunked(b"5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n"), 400),
    "trailer transfer-encoding": Case(
        chunked(b"5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400
    ),
    "trailer bad name": Case(chunked(b"5\r\nhello\r\n0\r\nX (y): 1\r\n\r\n"), 400),
    "trailer NUL": Case(chunked(b"5\r\nhello\r\n0\r\nX-T: a\x00b\r\n\r\n"), 400),
    # -- line endings (RFC 9112 §2.2: a server may accept a bare LF; pounce refuses it under
    # both parsers, as a header hidden behind one is invisible to a CRLF-only proxy) -------
    "bare LF everywhere": Case(b"GET " + T + b" HTTP/1.1\nHost: x\n\n", 400),
    "bare LF ends a header": Case(get(headers=H + b"X-A: 1\n"), 400),
    "bare LF hides TE": Case(
        post(b"X-A: 1\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n", b"abc"), 400
    ),
    "bare CR ends the request line": Case(b"GET " + T + b" HTTP/1.1\rHost: x\r\n\r\n", 400),
    "bare CR in a header value hides TE": Case(
        post(b"X-A: \rTransfer-Encoding: chunked\r\n", b"1\r\nA\r\n0\r\n\r\n"), 400
    ),
    # -- header syntax (RFC 9112 §5, RFC 9110 §5.5) ------------------------------------------
    "obs-fold continuation": Case(get(headers=H + b"X-A: a\r\n b\r\n"), 400),
    "obs-fold on the first line": Case(get(headers=b" X-A: a\r\n" + H), 400),
    "space before colon": Case(get(headers=b"Host : x\r\n"), 400),
    "tab before colon": Case(get(headers=b"Host\t: x\r\n"), 400),
    "empty header name": Case(get(headers=H + b": v\r\n"), 400),
    "NUL in a header name": Case(get(headers=H + b"X\x00A: v\r\n"), 400),
    "non-token header name": Case(get(headers=H + b'X"A: v\r\n'), 400),
    "NUL in a header value": Case(get(headers=H + b"X-A: a\x00b\r\n"), 400),
    "CTL in a header value": Case(get(headers=H + b"X-A: a\x01b\r\n"), 400),
    "DEL in a header value": Case(get(headers=H + b"X-A: a\x7fb\r\n"), 400),
    "obs-text in a header value": Case(get(headers=H + b"X-A: caf\xe9\r\n"), 200),
    "missing Host": Case(get(headers=b""), 400),
    "two Hosts": Case(get(headers=b"Host: a\r\nHost: b\r\n"), 400),
    "empty Host": Case(get(headers=b"Host:\r\n"), 200),
    # -- request line and target (RFC 9112 §3) -----------------------------------------------
    "absolute-form": Case(get(target=b"http://x" + T), 200),
    # RFC 9112 §3.2.2: the target's authority wins over Host; pounce passes Host through
    # unchanged, as uvicorn does (the app sees Host: x and path /echo).
    "absolute-form with another host": Case(get(target=b"http://evil" + T), 200),
    "absolute-form without path": Case(get(target=b"http://x"), 200, keep_alive=True),
    "authority-form outside CONNECT": Case(get(target=b"x:80"), 400),
    "NUL in target": Case(get(target=T + b"\x00"), 400),
    "DEL in target": Case(get(target=T + b"\x7f"), 400),
    "tab in target": Case(get(target=T + b"\t"), 400),
    "space in target": Case(get(target=T + b" x"), 400),
    "non-ASCII target": Case(get(target=T + b"\xff"), 400),
    "fragment in target": Case(get(target=T + b"#frag"), 200),
    "method with CTL": Case(b"G\x01T " + T + b" HTTP/1.1\r\n" + H + b"\r\n", 400),
    "method with slash": Case(b"GE/T " + T + b" HTTP/1.1\r\n" + H + b"\r\n", 400),
    "empty method": Case(b" " + T + b" HTTP/1.1\r\n" + H + b"\r\n", 400),
    # llhttp knows a fixed list of methods; h11 takes any token (RFC 9110 §9.1: methods are
    # case-sensitive tokens, and an unknown one is the app's to answer, e.g. 405/501).
    "lower-case method": Case(b"get " + T + b" HTTP/1.1\r\n" + H + b"\r\n", 400, h11=(200, b"")),
    "unknown method": Case(b"FOO " + T + b" HTTP/1.1\r\n" + H + b"\r\n", 400, h11=(200, b"")),
    # RFC 9112 §3: a recipient may split on any whitespace; llhttp does, h11 refuses.
    "two spaces after method": Case(
        b"GET  " + T + b" HTTP/1.1\r\n" + H + b"\r\n", 200, h11=(400, b"")
    ),
    # RFC 9112 §2.2: a server SHOULD ignore a CRLF before the request line; h11 refuses it.
    "CRLF before the request line": Case(b"\r\n" + get(), 200, h11=(400, b"")),
    "space before the request line": Case(b" " + get(), 400),
    # -- versions (RFC 9112 §2.3) ----------------------------------------------------------
    "HTTP/0.9 request line": Case(b"GET " + T + b"\r\n\r\n", 400),
    "HTTP/0.9 version": Case(get().replace(b"HTTP/1.1", b"HTTP/0.9"), 400),
    "HTTP/1.2": Case(get().replace(b"HTTP/1.1", b"HTTP/1.2"), 505),
    "HTTP/2.0": Case(get().replace(b"HTTP/1.1", b"HTTP/2.0"), 505),
    "HTTP/3.0": Case(get().replace(b"HTTP/1.1", b"HTTP/3.0"), 505),
    "HTTP/1.10": Case(get().replace(b"HTTP/1.1", b"HTTP/1.10"), 400),
    "HTTP/11.1": Case(get().replace(b"HTTP/1.1", b"HTTP/11.1"), 400),
    "lower-case http/1.1": Case(get().replace(b"HTTP/1.1", b"http/1.1"), 400),
    "space after version": Case(get(line_rest=b" "), 400),
    # -- HTTP/1.0 (RFC 9112 §6.1: Transfer-Encoding in 1.0 means faulty framing) --------------
    "HTTP/1.0 with TE": Case(
        post(b"Transfer-Encoding: chunked\r\n", b"5\r\nhello\r\n0\r\n\r\n", b"1.0"), 400
    ),
    "HTTP/1.0 with CL": Case(
        post(b"Content-Length: 5\r\n", b"hello", b"1.0"), 200, b"hello", keep_alive=False
    ),
    # -- bodies where one might not be expected -----------------------------------------------
    "GET with a Content-Length body": Case(
        b"GET " + T + b" HTTP/1.1\r\n" + H + b"Content-Length: 3\r\n\r\nabc", 200, b"abc"
    ),
    # The body is exactly 0 bytes: the bytes after it are the next request (answered too).
    "CL 0 then a second request": Case(post(b"Content-Length: 0\r\n", get(target=b"/")), 200),
}


def _expected(case: Case, parser: str) -> tuple[int, bytes]:
    if parser == "h11" and case.h11 is not None:
        return case.h11
    return case.status, case.body


@pytest.fixture(scope="module", params=["httptools", "h11"])
def server(request: pytest.FixtureRequest) -> Iterator[tuple[PounceProcess, str]]:
    parser = str(request.param)
    proc = PounceProcess(
        "testapp:app",
        *("--http", parser, "--no-access-log", "--timeout-keep-alive", "2"),
        *("--timeout-request-header", "2"),
    )
    try:
        proc.wait_ready()
        yield proc, parser
    finally:
        proc.stop()


def _tracked(proc: PounceProcess) -> list[str]:
    return httpx.get(proc.url + "/events?id=tracked", timeout=5).json()


@pytest.mark.parametrize("name", list(CASES))
def test_smuggling_case(server: tuple[PounceProcess, str], name: str) -> None:
    proc, parser = server
    case = CASES[name]
    status, body = _expected(case, parser)
    marker = f"{parser}-{name}".replace(" ", "_").encode().hex()
    data = case.data.replace(b"@T", marker.encode())
    with RawClient(proc.port, timeout=5) as client:
        client.send(data)
        resp = client.read_response()
        assert resp.status == status, (resp.status, resp.body)
        if status != 200:
            assert resp.header("connection") == "close"
            assert client.is_closed()
        else:
            if b"/echo" in data.split(b"\r\n", 1)[0]:
                assert resp.body == body
            if b"second request" in name.encode():
                assert client.read_response().body == b"Hello, world!"
            if case.keep_alive:
                # Framing agreed: nothing of the first request is read as a second one.
                client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                follow = client.read_response()
                assert (follow.status, follow.body) == (200, b"Hello, world!")
            else:
                assert client.is_closed()
    seen = marker in _tracked(proc)
    assert seen == (status == 200 and b"@T" in case.data)


def test_valid_request_then_junk(server: tuple[PounceProcess, str]) -> None:
    """The first request is answered, then 400 for what follows, and the connection closes."""
    proc, _ = server
    with RawClient(proc.port, timeout=5) as client:
        client.send(get(target=b"/") + b"\x00\x01junk\r\n\r\n")
        first = client.read_response()
        assert (first.status, first.body) == (200, b"Hello, world!")
        second = client.read_response()
        assert second.status == 400
        assert second.header("connection") == "close"
        assert client.is_closed()


def test_valid_request_then_smuggled_prefix(server: tuple[PounceProcess, str]) -> None:
    """Bytes after a complete request are the next request, whole or not at all: an incomplete
    one is simply waited for, a malformed one is refused after the first is answered."""
    proc, _ = server
    with RawClient(proc.port, timeout=5) as client:
        client.send(post(b"Content-Length: 5\r\n", b"helloGET /?x HTTP/1.1\r\nHost: x\r\n"))
        first = client.read_response()
        assert (first.status, first.body) == (200, b"hello")
        client.send(b"\r\n")
        second = client.read_response()
        assert (second.status, second.body) == (200, b"Hello, world!")


def test_bare_cr_before_blank_line(server: tuple[PounceProcess, str]) -> None:
    """``\\r\\r\\n`` where the blank line should be: llhttp refuses it at once (400); h11 is
    still waiting for the end of the head, so --timeout-request-header (2 s here) answers 408."""
    proc, parser = server
    with RawClient(proc.port, timeout=5) as client:
        client.send(get(target=b"/")[:-2] + b"\r\r\n")
        resp = client.read_response()
        assert resp.status == (400 if parser == "httptools" else 408)
        assert client.is_closed(timeout=4)
