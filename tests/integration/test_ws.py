"""WebSocket over HTTP/1.1 with a real client (the ``websockets`` library) and raw sockets.

One server per HTTP/1.1 parser runs ``tests/apps/ws_apps.py``; the path picks the app's
behaviour, and ``/log`` (plain HTTP) reports the ``websocket.disconnect`` messages it saw.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import signal
import socket
import struct
import time
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage

from tests.support import PounceProcess, RawClient, run_pounce
from tests.wssupport import assert_ping_cadence, timing_attempts
from tests.wssupport import disconnects as _disconnects

pytestmark = pytest.mark.timeout(60)

WS_OPTIONS = ("--no-access-log", "--ws-ping-interval", "0")


@pytest.fixture(scope="module", params=["httptools", "h11"])
def ws_server(request: pytest.FixtureRequest) -> Iterator[PounceProcess]:
    proc = PounceProcess("ws_apps:app", "--http", request.param, *WS_OPTIONS)
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.stop()


def run(coro: Any, timeout: float = 30.0) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


def ws_url(proc: PounceProcess, path: str) -> str:
    return f"ws://127.0.0.1:{proc.port}{path}"


def disconnects(proc: PounceProcess, path: str, count: int = 1) -> list[dict[str, Any]]:
    return _disconnects(proc.url, path, count)


def test_text_binary_fragmented_and_large_messages(ws_server: PounceProcess) -> None:
    async def main() -> None:
        async with connect(ws_url(ws_server, "/echo"), max_size=None) as ws:
            await ws.send("héllo")
            assert await ws.recv() == "héllo"
            await ws.send(b"\x00\xff" * 32)
            assert await ws.recv() == b"\x00\xff" * 32
            # A fragmented message (RFC 6455 §5.4) reaches the app as one message.
            await ws.send(["frag", "ment", "ed"])
            assert await ws.recv() == "fragmented"
            await ws.send([b"ab", b"cd"])
            assert await ws.recv() == b"abcd"
            big = os.urandom(1024) * (10 * 1024)  # 10 MiB
            await ws.send(big)
            assert await ws.recv() == big

    run(main())


def test_scope(ws_server: PounceProcess) -> None:
    async def main() -> dict[str, Any]:
        async with connect(ws_url(ws_server, "/scope?x=1"), subprotocols=["a", "b"]) as ws:
            return json.loads(await ws.recv())

    info = run(main())
    assert info == {
        "type": "websocket",
        "scheme": "ws",
        "http_version": "1.1",
        "subprotocols": ["a", "b"],
        "path": "/scope",
        "query_string": "x=1",
        "has_method": False,
        "state": "pounce",
        "extensions": ["websocket.http.response"],
    }


def test_subprotocol_and_accept_headers(ws_server: PounceProcess) -> None:
    async def main() -> tuple[str | None, str | None]:
        async with connect(ws_url(ws_server, "/echo"), subprotocols=["chat.v1", "chat.v2"]) as ws:
            return ws.subprotocol, ws.response.headers.get("x-ws")

    assert run(main()) == ("chat.v2", "yes")


def test_permessage_deflate(ws_server: PounceProcess) -> None:
    async def main() -> str | None:
        async with connect(ws_url(ws_server, "/echo")) as ws:
            text = "compressible " * 2000
            await ws.send(text)
            assert await ws.recv() == text
            return ws.response.headers.get("sec-websocket-extensions")

    assert run(main()).startswith("permessage-deflate")


def test_permessage_deflate_can_be_disabled(pounce_server: Any) -> None:
    proc = pounce_server("ws_apps:app", *WS_OPTIONS, "--ws-per-message-deflate", "false")

    async def main() -> str | None:
        async with connect(ws_url(proc, "/echo")) as ws:
            await ws.send("x")
            assert await ws.recv() == "x"
            return ws.response.headers.get("sec-websocket-extensions")

    assert run(main()) is None


def test_close_before_accept_is_403(ws_server: PounceProcess) -> None:
    async def main() -> None:
        async with connect(ws_url(ws_server, "/deny")):
            pass

    with pytest.raises(InvalidStatus) as info:
        run(main())
    assert info.value.response.status_code == 403


def test_denial_response_extension(ws_server: PounceProcess) -> None:
    async def main() -> None:
        async with connect(ws_url(ws_server, "/custom-deny")):
            pass

    with pytest.raises(InvalidStatus) as info:
        run(main())
    response = info.value.response
    assert response.status_code == 401
    assert response.headers["x-why"] == "token"
    assert bytes(response.body) == b"no entry"


def test_app_without_accept_or_failing_before_accept_is_500(ws_server: PounceProcess) -> None:
    for path in ("/no-accept", "/crash-before-accept"):

        async def main(path: str = path) -> None:
            async with connect(ws_url(ws_server, path)):
                pass

        with pytest.raises(InvalidStatus) as info:
            run(main())
        assert info.value.response.status_code == 500


def test_denial_response_without_a_body_message(ws_server: PounceProcess) -> None:
    # The app sends websocket.http.response.start and returns: its status and headers with
    # an empty body (the extension's messages are an HTTP response's), not a 500.
    async def main() -> None:
        async with connect(ws_url(ws_server, "/deny-no-body")):
            pass

    with pytest.raises(InvalidStatus) as info:
        run(main())
    response = info.value.response
    assert response.status_code == 401
    assert response.headers["x-why"] == "token"
    assert response.headers["content-length"] == "0"
    assert bytes(response.body) == b""
    # The same on the wire: exactly one response, then the connection closes.
    with handshake(ws_server.port, "/deny-no-body") as client:
        raw = client.read_response()
        assert (raw.status, raw.header("content-length"), raw.body) == (401, "0", b"")
        assert raw.header("x-why") == "token"
        assert client.read_all() == b""


def test_app_close_code_and_reason(ws_server: PounceProcess) -> None:
    async def main() -> tuple[int | None, str | None]:
        async with connect(ws_url(ws_server, "/close")) as ws:
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            return ws.close_code, ws.close_reason

    assert run(main()) == (4001, "bye now")
    seen = disconnects(ws_server, "/close")
    assert seen and seen[-1]["code"] == 4001


def test_client_close_code_reaches_app(ws_server: PounceProcess) -> None:
    async def main() -> None:
        async with connect(ws_url(ws_server, "/client-close")) as ws:
            await ws.send("x")
            assert await ws.recv() == "x"
            await ws.close(code=4003, reason="client done")

    run(main())
    seen = disconnects(ws_server, "/client-close")
    assert [(m["code"], m["reason"]) for m in seen] == [(4003, "client done")]


def handshake(port: int, path: str, extra: bytes = b"", timeout: float = 10.0) -> RawClient:
    """A raw-socket WebSocket handshake; returns the client with the 101 read."""
    client = RawClient(port, timeout=timeout)
    key = base64.b64encode(os.urandom(16))
    client.send(
        b"GET " + path.encode() + b" HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: " + key + b"\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n" + extra
    )
    return client


def read_head(client: RawClient) -> bytes:
    return client._read_until(b"\r\n\r\n")


def test_lost_connection_is_1006(ws_server: PounceProcess) -> None:
    client = handshake(ws_server.port, "/lost")
    assert read_head(client).startswith(b"HTTP/1.1 101 ")
    client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()  # a reset, no close frame
    seen = disconnects(ws_server, "/lost")
    assert [m["code"] for m in seen] == [1006]


def test_app_exception_closes_1011(ws_server: PounceProcess) -> None:
    async def main() -> int | None:
        async with connect(ws_url(ws_server, "/crash")) as ws:
            await ws.send("go")
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            return ws.close_code

    assert run(main()) == 1011


def test_frames_sent_with_the_handshake_are_not_lost(ws_server: PounceProcess) -> None:
    ws = Connection(ConnectionType.CLIENT)
    frames = ws.send(TextMessage(data="early")) + ws.send(BytesMessage(data=b"bird"))
    client = handshake(ws_server.port, "/echo", extra=frames)
    head = read_head(client)
    assert head.startswith(b"HTTP/1.1 101 ")
    received: list[Any] = []
    ws.receive_data(client.buf)  # frames that came in the same read as the head
    received += [e.data for e in ws.events() if isinstance(e, (TextMessage, BytesMessage))]
    while len(received) < 2:
        data = client.sock.recv(65536)
        assert data
        ws.receive_data(data)
        received += [e.data for e in ws.events() if isinstance(e, (TextMessage, BytesMessage))]
    assert received == ["early", b"bird"]
    client.send(ws.send(CloseConnection(code=1000)))
    client.close()


def test_bad_handshakes(ws_server: PounceProcess) -> None:
    with RawClient(ws_server.port) as client:
        client.send(
            b"GET /echo HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n"
        )
        response = client.read_response()
        assert response.status == 426
        assert response.header("sec-websocket-version") == "13"
    with RawClient(ws_server.port) as client:
        client.send(
            b"GET /echo HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        assert client.read_response().status == 400


def test_unmasked_frame_is_protocol_error_1002(ws_server: PounceProcess) -> None:
    client = handshake(ws_server.port, "/echo", extra=b"\x81\x02hi")  # RFC 6455 §5.1: unmasked
    assert read_head(client).startswith(b"HTTP/1.1 101 ")
    data = client.read_all()
    # A close frame (opcode 8) with code 1002, then the connection closes.
    assert data[:1] == b"\x88" and int.from_bytes(data[2:4], "big") == 1002


def test_many_concurrent_connections(ws_server: PounceProcess) -> None:
    async def one(i: int) -> int:
        async with connect(ws_url(ws_server, "/echo"), compression=None) as ws:
            for j in range(5):
                await ws.send(f"{i}-{j}")
                assert await ws.recv() == f"{i}-{j}"
            return i

    async def main() -> list[int]:
        return await asyncio.gather(*(one(i) for i in range(100)))

    assert sorted(run(main(), timeout=45)) == list(range(100))


def test_oversized_message_closes_1009(pounce_server: Any) -> None:
    proc = pounce_server("ws_apps:app", *WS_OPTIONS, "--ws-max-size", "1000")

    async def main() -> int | None:
        async with connect(ws_url(proc, "/echo"), compression=None) as ws:
            await ws.send("x" * 1000)
            assert await ws.recv() == "x" * 1000
            await ws.send([b"y" * 600, b"y" * 600])  # fragmented: the total counts
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            return ws.close_code

    assert run(main()) == 1009


@pytest.mark.parametrize("announced", [300, 2**40], ids=["frame", "huge-length"])
def test_oversized_message_byte_by_byte_closes_1009(pounce_server: Any, announced: int) -> None:
    # --ws-max-size holds when the frame arrives one byte per TCP segment, and a frame that
    # announces a huge length is refused once the limit is crossed, not buffered.
    proc = pounce_server("ws_apps:app", *WS_OPTIONS, "--ws-max-size", "200")
    client = handshake(proc.port, "/echo")
    assert read_head(client).startswith(b"HTTP/1.1 101 ")
    mask = b"\x01\x02\x03\x04"
    if announced < 2**16:
        header = b"\x82" + bytes([0x80 | 126]) + struct.pack(">H", announced)
    else:
        header = b"\x82" + bytes([0x80 | 127]) + struct.pack(">Q", announced)
    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(b"z" * 300))
    client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    data = header + mask + payload
    for i in range(len(data)):
        try:
            client.send(data[i : i + 1])
        except (BrokenPipeError, ConnectionResetError):
            break
        time.sleep(0.0005)
    received = client.read_all()  # (with what followed the 101 head)
    ws = Connection(ConnectionType.CLIENT)
    ws.receive_data(received)
    closes = [e for e in ws.events() if isinstance(e, CloseConnection)]
    assert [c.code for c in closes] == [1009]


def test_server_pings_and_missing_pong_closes_1011(pounce_server: Any) -> None:
    proc = pounce_server(
        "ws_apps:app",
        "--no-access-log",
        "--ws-ping-interval",
        "0.3",
        "--ws-ping-timeout",
        "0.5",
        "--timeout-keep-alive",
        "0.4",  # a 0.1 s tick
    )

    async def answering() -> None:
        # websockets answers pings itself: the connection stays up across several intervals.
        async with connect(ws_url(proc, "/echo")) as ws:
            await asyncio.sleep(1.5)
            await ws.send("still here")
            assert await ws.recv() == "still here"

    run(answering())
    # A raw client that never answers the ping.
    client = handshake(proc.port, "/echo")
    assert read_head(client).startswith(b"HTTP/1.1 101 ")
    ws = Connection(ConnectionType.CLIENT)
    ws.receive_data(client.buf)
    events: list[Any] = list(ws.events())
    started = time.monotonic()
    while True:
        data = client.sock.recv(65536)
        if not data:
            break
        ws.receive_data(data)
        events += list(ws.events())
    elapsed = time.monotonic() - started
    assert any(isinstance(e, Ping) for e in events)
    closes = [e for e in events if isinstance(e, CloseConnection)]
    assert closes and closes[0].code == 1011
    assert elapsed < 5


def test_shutdown_closes_1012(pounce_server: Any) -> None:
    proc = pounce_server("ws_apps:app", *WS_OPTIONS, "--timeout-graceful-shutdown", "5")

    async def main() -> int | None:
        async with connect(ws_url(proc, "/echo")) as ws:
            await ws.send("x")
            assert await ws.recv() == "x"
            started = time.monotonic()
            proc.signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            assert time.monotonic() - started < 5
            return ws.close_code

    assert run(main()) == 1012
    assert proc.wait(10) == 0


@pytest.mark.parametrize("http", ["httptools", "h11"])
def test_shutdown_answers_a_pending_handshake_503_and_exits(pounce_server: Any, http: str) -> None:
    # The app has websocket.connect and waits for more before it accepts; SIGTERM with the
    # default (unlimited) --timeout-graceful-shutdown. The handshake gets 503 and the server
    # exits at once, rather than waiting for the client to hang up.
    proc = pounce_server("ws_apps:app", "--http", http, *WS_OPTIONS)

    async def main() -> tuple[int, float]:
        attempt = asyncio.ensure_future(connect(ws_url(proc, "/never-accept")))
        await asyncio.to_thread(proc.wait_for_log, "never-accept: waiting")
        started = time.monotonic()
        proc.signal(signal.SIGTERM)
        with pytest.raises(InvalidStatus) as info:
            await attempt
        return info.value.response.status_code, time.monotonic() - started

    status, answered_after = run(main())
    assert status == 503
    assert answered_after < 1.0
    started = time.monotonic()
    assert proc.wait(5) == 0
    assert time.monotonic() - started < 3.0
    output = proc.output()
    assert "Traceback" not in output and "Finished server process" in output


def test_shutdown_of_an_unanswering_client_closes_1012_and_exits(pounce_server: Any) -> None:
    # An open WebSocket whose client never answers the 1012 close frame: the server waits
    # CLOSE_TIMEOUT (5 s) for it, then drops the connection and exits, with the default
    # unlimited --timeout-graceful-shutdown.
    proc = pounce_server("ws_apps:app", *WS_OPTIONS)
    with handshake(proc.port, "/echo") as client:
        assert read_head(client).startswith(b"HTTP/1.1 101 ")
        started = time.monotonic()
        proc.signal(signal.SIGTERM)
        ws = Connection(ConnectionType.CLIENT)
        ws.receive_data(client.buf)
        client.buf = b""
        data = client.read_all()
        closed_after = time.monotonic() - started
        ws.receive_data(data)
        assert [e.code for e in ws.events() if isinstance(e, CloseConnection)] == [1012]
    assert 4.5 < closed_after < 7.0
    assert proc.wait(5) == 0


def ping_arrivals(client: RawClient, count: int, answer: bool) -> tuple[list[float], list[Any]]:
    """Read frames after the 101: the arrival time of each ping (answered with a pong when
    ``answer``), until ``count`` pings or the server closes; and every event."""
    ws = Connection(ConnectionType.CLIENT)
    ws.receive_data(client.buf)
    client.buf = b""
    times: list[float] = []
    events: list[Any] = []
    while len(times) < count:
        for event in ws.events():
            events.append(event)
            if isinstance(event, Ping):
                times.append(time.monotonic())
                if answer:
                    client.send(ws.send(event.response()))
        if len(times) >= count:
            break
        data = client.sock.recv(65536)
        if not data:
            break
        ws.receive_data(data)
    return times, events


WS_PING_FAST = ("--no-access-log", "--ws-ping-interval", "0.1", "--ws-ping-timeout", "0.1")


def test_ping_timing_follows_the_options(pounce_server: Any) -> None:
    # --ws-ping-interval 0.1 --ws-ping-timeout 0.1: pings every 0.1 s (+-50 ms), and a missing
    # pong closes with 1011 within interval + timeout + 50 ms. (Before: the 1 s sweep.)
    proc = pounce_server("ws_apps:app", *WS_PING_FAST)

    def answering() -> None:
        with handshake(proc.port, "/echo") as client:
            assert read_head(client).startswith(b"HTTP/1.1 101 ")
            opened = time.monotonic()
            times, _ = ping_arrivals(client, 12, answer=True)
            assert len(times) == 12
            assert abs(times[0] - opened - 0.1) <= 0.05
            assert_ping_cadence(times, 0.1)

    def silent() -> None:
        # A raw client that never answers.
        with handshake(proc.port, "/echo") as client:
            assert read_head(client).startswith(b"HTTP/1.1 101 ")
            opened = time.monotonic()
            times, events = ping_arrivals(client, 2, answer=False)
            closed_after = time.monotonic() - opened
            closes = [e for e in events if isinstance(e, CloseConnection)]
            assert [(c.code, c.reason) for c in closes] == [(1011, "keepalive ping timeout")]
            assert len(times) == 1 and abs(times[0] - opened - 0.1) <= 0.05
            assert closed_after <= 0.1 + 0.1 + 0.05, closed_after

    timing_attempts(answering)
    timing_attempts(silent)


def test_ws_none_hands_the_upgrade_to_the_app_as_http(pounce_server: Any) -> None:
    proc = pounce_server("ws_apps:app", "--ws", "none", "--no-access-log")
    with RawClient(proc.port) as client:
        client.send(
            b"GET /plain HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        response = client.read_response()
        assert response.status == 200
        assert response.body == b"hello /plain"


def test_garbage_frames_get_a_close_code_not_a_traceback(pounce_server: Any) -> None:
    proc = pounce_server("ws_apps:app", *WS_OPTIONS)
    rng = random.Random(8441)
    for i in range(30):
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
        client = handshake(proc.port, f"/junk{i}", extra=junk, timeout=5)
        try:
            assert read_head(client).startswith(b"HTTP/1.1 101 ")
            client.send(bytes(rng.randrange(256) for _ in range(50)))
        except (OSError, EOFError):
            pass
        finally:
            client.close()
    with RawClient(proc.port) as client:  # the worker is alive and well
        client.send(b"GET /ok HTTP/1.1\r\nHost: t\r\n\r\n")
        assert client.read_response().status == 200
    assert "Traceback" not in proc.output()


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--ws", "tornado"], "--ws"),  # websockets names: test_ws_names.py
        (["--ws-max-size", "0"], "--ws-max-size"),
        (["--ws-max-queue", "0"], "--ws-max-queue"),
        (["--ws-ping-interval", "-1"], "--ws-ping-interval"),
        (["--ws-ping-timeout", "-1"], "--ws-ping-timeout"),
    ],
)
def test_ws_option_errors_name_the_option(args: list[str], option: str) -> None:
    result = run_pounce(*args, "ws_apps:app")
    assert result.returncode == 2
    assert option in result.stderr


def test_limit_concurrency_refuses_with_503(pounce_server: Any) -> None:
    proc = pounce_server("ws_apps:app", *WS_OPTIONS, "--limit-concurrency", "1")

    async def main() -> None:
        async with connect(ws_url(proc, "/echo")) as ws:
            await ws.send("one")
            assert await ws.recv() == "one"
            with pytest.raises(InvalidStatus) as info:
                async with connect(ws_url(proc, "/echo")):
                    pass
            assert info.value.response.status_code == 503
        # Once the first one is gone, a new WebSocket is accepted again.
        for _ in range(50):
            try:
                async with connect(ws_url(proc, "/echo")) as ws:
                    await ws.send("two")
                    assert await ws.recv() == "two"
                    return
            except InvalidStatus:
                await asyncio.sleep(0.1)
        raise AssertionError("never accepted again")

    run(main())


def test_access_log_lines(pounce_server: Any) -> None:
    proc = pounce_server("ws_apps:app", "--ws-ping-interval", "0")

    async def main() -> None:
        async with connect(ws_url(proc, "/echo?q=1")) as ws:
            await ws.send("x")
            assert await ws.recv() == "x"
        with pytest.raises(InvalidStatus):
            async with connect(ws_url(proc, "/deny")):
                pass

    run(main())
    # Handshakes are access records shaped as HTTP responses (pounce/access_log.py; more in
    # tests/integration/test_logging.py).
    proc.wait_for_log('"GET /deny HTTP/1.1" 403', timeout=5)
    assert '"GET /echo?q=1 HTTP/1.1" 101' in proc.output()
