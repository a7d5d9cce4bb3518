"""HTTP/2 graceful shutdown with real clients: a stream in flight when pounce gets SIGTERM
completes without an error, for httpx (http2=True) and curl (nghttp2), over TLS and h2c, on
each HTTP/2 core; and the frame sequence itself, seen by a raw h2 client (RFC 9113 §6.8).

Every case starts its own pounce (SIGTERM ends it), on tests/apps/h2shutdown_app.py, whose
``/slow`` prints ``app saw TAG`` when a request reaches it."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.apps.h2shutdown_app import body
from tests.conftest import SERVER_H2_CORES, server_h2_env
from tests.h2support import H2Client, decode_streams, goaway_frames, parse_frames
from tests.integration.conftest import Certs
from tests.support import PounceProcess

pytestmark = pytest.mark.timeout(40)

NO_ERROR = 0x0
GOAWAY = 0x7
SIZE = 200_000  # over the 65535-byte initial windows: the client's WINDOW_UPDATEs take part
needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")


def start(core: str, tls: Certs | None) -> PounceProcess:
    args = ["--no-access-log"]
    if tls is not None:
        args += ["--ssl-certfile", str(tls.cert), "--ssl-keyfile", str(tls.key)]
    return PounceProcess("h2shutdown_app:app", *args, env=server_h2_env(core)).wait_ready()


@pytest.fixture(params=SERVER_H2_CORES)
def core(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@dataclass
class Served:
    proc: PounceProcess
    ca: Path | None  # TLS: the CA for the client; None: h2c

    @property
    def url(self) -> str:
        if self.ca is None:
            return self.proc.url
        return f"https://localhost:{self.proc.port}"


@pytest.fixture(params=["h2c", "tls"])
def server(request: pytest.FixtureRequest, core: str, certs: Certs) -> Iterator[Served]:
    tls = certs if request.param == "tls" else None
    proc = start(core, tls)
    try:
        yield Served(proc, certs.ca if tls else None)
    finally:
        proc.stop()


def sigterm_once_in_flight(proc: PounceProcess, tag: str) -> None:
    """SIGTERM as soon as the app has the request tagged ``tag``."""
    proc.wait_for_log(f"app saw {tag}", timeout=10)
    proc.signal(signal.SIGTERM)


def assert_clean_exit(proc: PounceProcess) -> None:
    assert proc.wait(timeout=15) == 0, proc.output()
    assert "lifespan shutdown" in proc.output()


def test_httpx_stream_in_flight_survives_sigterm(server: Served, certs: Certs) -> None:
    tls = server.ca is not None
    verify: Any = certs.client_context() if tls else False
    result: dict[str, Any] = {}

    def client() -> None:
        # h2c: HTTP/2 by prior knowledge (http1=False); TLS: ALPN.
        with httpx.Client(http1=tls, http2=True, verify=verify, timeout=15) as c:
            try:
                result["response"] = c.get(f"{server.url}/slow?t=1&size={SIZE}&tag=one")
            except Exception as exc:  # the failure this test is about
                result["error"] = exc

    thread = threading.Thread(target=client)
    thread.start()
    try:
        sigterm_once_in_flight(server.proc, "one")
    finally:
        thread.join(20)
    assert "error" not in result, repr(result.get("error"))
    response = result["response"]
    assert response.http_version == "HTTP/2"
    assert response.status_code == 200
    assert response.content == body(SIZE)
    assert_clean_exit(server.proc)


def test_httpx_concurrent_streams_survive_sigterm(core: str) -> None:
    """Streams in flight at SIGTERM and streams the client opens right after (before any
    GOAWAY) are all answered."""
    proc = start(core, None)
    try:

        async def main() -> list[httpx.Response]:
            async with httpx.AsyncClient(http1=False, http2=True, timeout=15) as c:
                url = f"{proc.url}/slow?size={SIZE}"
                first = [asyncio.ensure_future(c.get(f"{url}&t=1&tag=a{i}")) for i in range(3)]
                for i in range(3):
                    await asyncio.to_thread(proc.wait_for_log, f"app saw a{i}", 10)
                proc.signal(signal.SIGTERM)
                await asyncio.to_thread(proc.wait_for_log, "Shutting down", 10)
                later = [asyncio.ensure_future(c.get(f"{url}&t=0.3&tag=b{i}")) for i in range(2)]
                return list(await asyncio.gather(*first, *later))

        responses = asyncio.run(main())
        assert [r.status_code for r in responses] == [200] * 5
        assert all(r.http_version == "HTTP/2" for r in responses)
        assert all(r.content == body(SIZE) for r in responses)
        assert_clean_exit(proc)
    finally:
        proc.stop()


@needs_curl
def test_curl_stream_in_flight_survives_sigterm(server: Served, tmp_path: Path) -> None:
    out = tmp_path / "body"
    args = ["curl", "-sS", "--max-time", "15", "-o", str(out), "-w", "%{http_version} %{http_code}"]
    if server.ca is not None:
        args += ["--http2", "--cacert", str(server.ca)]
    else:
        args += ["--http2-prior-knowledge"]
    args.append(f"{server.url}/slow?t=1&size={SIZE}&tag=one")
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        sigterm_once_in_flight(server.proc, "one")
        stdout, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert proc.returncode == 0, stderr
    assert stdout == b"2 200"  # HTTP/2 negotiated, status 200
    assert out.read_bytes() == body(SIZE)
    assert_clean_exit(server.proc)


# The frame sequence, seen by a raw h2 client ---------------------------------------------------


def read_until_goaway(client: H2Client, timeout: float = 10.0) -> None:
    """Read (acknowledging DATA, so that large responses flow) until a GOAWAY arrives."""
    client.wait(lambda: bool(goaway_frames(client.raw_in)), timeout)


def frame_index(frames: list[Any], stream_id: int, ftype: int) -> list[int]:
    return [i for i, f in enumerate(frames) if f.stream_id == stream_id and f.type == ftype]


@pytest.mark.parametrize("core", SERVER_H2_CORES)
def test_raw_frames_in_flight_and_concurrent_streams_finish_before_goaway(core: str) -> None:
    """RFC 9113 §6.8 with a raw h2 client: the stream in flight at SIGTERM and one opened
    after it are answered completely (HEADERS, DATA, END_STREAM) before the only GOAWAY,
    which names the last of them with NO_ERROR; a stream opened after that GOAWAY is not
    processed (the app never sees it), and the server exits 0."""
    proc = start(core, None)
    try:
        with H2Client(proc.port) as client:
            first = client.request(f"/slow?t=1&size={SIZE}&tag=first")
            sigterm_once_in_flight(proc, "first")
            proc.wait_for_log("Shutting down", 10)
            time.sleep(0.1)
            # No GOAWAY yet: the client cannot know not to open a stream.
            with contextlib.suppress(TimeoutError):
                client.wait(lambda: bool(goaway_frames(client.raw_in)), 0.3)
            assert goaway_frames(client.raw_in) == []
            second = client.request(f"/slow?t=0.3&size={SIZE}&tag=second")
            read_until_goaway(client)
            frames = parse_frames(client.raw_in)
            (goaway,) = [i for i, f in enumerate(frames) if f.type == GOAWAY]
            assert goaway_frames(client.raw_in) == [(second, NO_ERROR)]
            for sid in (first, second):
                assert frame_index(frames, sid, 0x1), f"no HEADERS on stream {sid}"
                data = frame_index(frames, sid, 0x0)
                assert data and max(data) < goaway, f"stream {sid}: DATA after the GOAWAY"
                assert "END_STREAM" in frames[max(data)].flags
                # Between the last response and the GOAWAY, a PING (acknowledged by the client
                # before the GOAWAY was sent: see H2Protocol.shutdown).
                pings = [i for i, f in enumerate(frames) if f.type == 0x6 and not f.flags]
                assert [i for i in pings if max(data) < i < goaway]
            streams = decode_streams(client.raw_in)
            assert (streams[first].status, bytes(streams[first].body)) == (200, body(SIZE))
            assert (streams[second].status, bytes(streams[second].body)) == (200, body(SIZE))
            # A stream opened after the GOAWAY (above its last stream id) is not processed.
            try:
                client.raw_request(second + 2, "/slow?tag=late")
            except OSError:
                pass  # the server may already have closed the connection
            assert client.wait_closed(timeout=5)
            # Nothing follows the GOAWAY, and the h2 client (httpx's) took it all without error.
            assert parse_frames(client.raw_in)[-1].type == GOAWAY
            assert not client.broken
        assert_clean_exit(proc)
        assert "app saw late" not in proc.output()
    finally:
        proc.stop()


@pytest.mark.parametrize("core", SERVER_H2_CORES)
def test_raw_client_that_keeps_opening_streams_is_bounded(core: str) -> None:
    """The bound: once the streams in flight at SIGTERM are done, a stream opened later that
    is still running finishes, but newer ones are held, never started; the GOAWAY, after the
    last started stream's response, names that stream, so the held one is above it (not
    processed: the client may retry it) and the app never sees it."""
    proc = start(core, None)
    try:
        with H2Client(proc.port) as client:
            first = client.request("/slow?t=0.5&tag=first")
            sigterm_once_in_flight(proc, "first")
            proc.wait_for_log("Shutting down", 10)
            second = client.request("/slow?t=2&size=100&tag=second")  # outlives the first
            proc.wait_for_log("app saw second", 10)
            client.wait(lambda: first in decode_streams(client.raw_in), 5)
            assert client.response(first, 5).ended
            third = client.request("/slow?tag=late")  # after the first is done: held
            read_until_goaway(client)
            assert goaway_frames(client.raw_in) == [(second, NO_ERROR)]
            assert client.wait_closed(timeout=5)
            frames = parse_frames(client.raw_in)
            assert frames[-1].type == GOAWAY  # nothing after it
            assert not [f for f in frames if f.stream_id == third]
            streams = decode_streams(client.raw_in)
            assert (streams[second].status, bytes(streams[second].body)) == (200, body(100))
            assert streams[second].ended
            # What an h2 client (httpx's) makes of it: no error; the held stream is above the
            # GOAWAY's last stream id, so httpcore would retry it on a new connection.
            assert not client.broken
            assert client.goaway is not None and client.goaway.last_stream_id < third
        assert_clean_exit(proc)
        assert "app saw late" not in proc.output()
    finally:
        proc.stop()


def test_graceful_shutdown_timeout_still_bounds_an_h2_stream(core: str) -> None:
    """--timeout-graceful-shutdown: a stream still running when it passes is cancelled and
    the worker exits 0 anyway."""
    proc = PounceProcess(
        "h2shutdown_app:app",
        "--no-access-log",
        "--timeout-graceful-shutdown",
        "1",
        env=server_h2_env(core),
    ).wait_ready()
    try:
        with H2Client(proc.port) as client:
            client.request("/slow?t=30&tag=stuck")
            started = time.monotonic()
            sigterm_once_in_flight(proc, "stuck")
            assert proc.wait(timeout=15) == 0
            assert time.monotonic() - started < 6
    finally:
        proc.stop()
