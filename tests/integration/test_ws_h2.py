"""WebSocket over HTTP/2 (RFC 8441): the h2 library plus wsproto frames as a raw client."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hyperframe.frame import DataFrame
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage

from tests.h2support import H2Client, goaway_frames, parse_frames
from tests.support import PounceProcess
from tests.wssupport import H2WebSocket, assert_ping_cadence, disconnects, timing_attempts

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def server() -> Iterator[PounceProcess]:
    proc = PounceProcess("ws_apps:app", "--no-access-log", "--ws-ping-interval", "0")
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.stop()


def messages(events: list[Any]) -> list[Any]:
    """Whole messages: wsproto hands out a large one in parts."""
    out: list[Any] = []
    parts: list[Any] = []
    for e in events:
        if isinstance(e, (TextMessage, BytesMessage)):
            parts.append(e.data)
            if e.message_finished:
                out.append("".join(parts) if isinstance(e, TextMessage) else b"".join(parts))
                parts = []
    return out


def test_extended_connect_echo_beside_ordinary_requests(server: PounceProcess) -> None:
    with H2Client(server.port) as client:
        sockets = [H2WebSocket(client, f"/echo?n={i}") for i in range(4)]
        plain = [client.request(f"/plain{i}") for i in range(3)]
        for ws in sockets:
            assert ws.wait_status() == 200  # RFC 8441 §5: 200, not 101
        for i, ws in enumerate(sockets):
            ws.send(TextMessage(data=f"hello {i}"))
            ws.send(BytesMessage(data=bytes([i]) * 100))
        for i, ws in enumerate(sockets):
            assert messages(ws.receive(2)) == [f"hello {i}", bytes([i]) * 100]
        for i, sid in enumerate(plain):
            result = client.response(sid)
            assert (result.status, bytes(result.body)) == (200, f"hello /plain{i}".encode())
        # More requests while the WebSockets stay open.
        assert bytes(client.get("/again").body) == b"hello /again"
        sockets[0].send(TextMessage(data="still open"))
        assert messages(sockets[0].receive()) == ["still open"]


def test_scope_over_h2(server: PounceProcess) -> None:
    with H2Client(server.port) as client:
        ws = H2WebSocket(client, "/scope", headers=[(b"sec-websocket-protocol", b"x, y")])
        assert ws.wait_status() == 200
        info = json.loads(messages(ws.receive())[0])
        assert info["type"] == "websocket"
        assert info["http_version"] == "2"
        assert info["scheme"] == "ws"
        assert info["subprotocols"] == ["x", "y"]
        assert info["has_method"] is False
        assert info["state"] == "pounce"


def test_large_messages_wait_on_flow_control(server: PounceProcess) -> None:
    big = os.urandom(1024 * 1024)  # several stream windows' worth, both directions
    with H2Client(server.port, timeout=20) as client:
        ws = H2WebSocket(client, "/echo")
        assert ws.wait_status() == 200
        ws.send(BytesMessage(data=big))
        events: list[Any] = []
        while not messages(events):
            events += ws.receive(timeout=20)
        assert messages(events) == [big]


def test_client_close_ends_the_stream(server: PounceProcess) -> None:
    with H2Client(server.port) as client:
        ws = H2WebSocket(client, "/h2-client-close")
        assert ws.wait_status() == 200
        ws.send(CloseConnection(code=4002, reason="done"))
        events = ws.receive()
        assert [(e.code, e.reason) for e in events if isinstance(e, CloseConnection)] == [
            (4002, "done")
        ]
        client.wait(lambda: ws.result.done)
        assert ws.result.ended or ws.result.reset == 0
        assert client.get("/after").status == 200
    seen = disconnects(server.url, "/h2-client-close")
    assert [m["code"] for m in seen] == [4002]


def test_app_close_and_denials(server: PounceProcess) -> None:
    with H2Client(server.port) as client:
        ws = H2WebSocket(client, "/close")
        assert ws.wait_status() == 200
        closes = [e for e in ws.receive() if isinstance(e, CloseConnection)]
        assert [(c.code, c.reason) for c in closes] == [(4001, "bye now")]
        ws.send(CloseConnection(code=4001), end_stream=True)
        client.wait(lambda: ws.result.done)
        denied = H2WebSocket(client, "/deny")
        assert denied.wait_status() == 403
        custom = H2WebSocket(client, "/custom-deny")
        assert custom.wait_status() == 401
        client.wait(lambda: custom.result.done)
        assert bytes(custom.result.body) == b"no entry"
        assert custom.result.header(b"x-why") == b"token"


def test_denial_response_without_a_body_message(server: PounceProcess) -> None:
    # websocket.http.response.start, then the app returns: its status and headers with an
    # empty body (END_STREAM), not a 500.
    with H2Client(server.port) as client:
        denied = H2WebSocket(client, "/deny-no-body")
        assert denied.wait_status() == 401
        client.wait(lambda: denied.result.done)
        assert denied.result.ended and bytes(denied.result.body) == b""
        assert denied.result.header(b"x-why") == b"token"
        assert denied.result.header(b"content-length") == b"0"
        assert client.get("/alive").status == 200


def test_stream_reset_disconnects_the_app_with_1006(server: PounceProcess) -> None:
    with H2Client(server.port) as client:
        ws = H2WebSocket(client, "/h2-reset")
        assert ws.wait_status() == 200
        ws.send(TextMessage(data="x"))
        assert messages(ws.receive()) == ["x"]
        client.conn.reset_stream(ws.stream_id, 8)  # CANCEL
        client.flush()
        assert client.get("/alive").status == 200
    seen = disconnects(server.url, "/h2-reset")
    assert [m["code"] for m in seen] == [1006]


def test_shutdown_sends_goaway_and_closes_1012(pounce_server: Any) -> None:
    proc = pounce_server(
        "ws_apps:app",
        "--no-access-log",
        "--ws-ping-interval",
        "0",
        "--timeout-graceful-shutdown",
        "5",
    )
    with H2Client(proc.port) as client:
        ws = H2WebSocket(client, "/echo")
        assert ws.wait_status() == 200
        proc.signal(signal.SIGTERM)
        frames: list[Any] = []

        def close_frame_seen() -> bool:
            frames[:] = [f for f in parse_frames(client.raw_in) if f.type == 0x0]
            data = b"".join(f.data for f in frames if f.stream_id == ws.stream_id)
            probe = Connection(ConnectionType.CLIENT)
            probe.receive_data(data)
            return any(isinstance(e, CloseConnection) for e in probe.events())

        client.wait(close_frame_seen)
        # RFC 9113 §6.8: no GOAWAY while the stream is open (H2Protocol.shutdown).
        assert goaway_frames(client.raw_in) == []
        data = b"".join(f.data for f in frames if f.stream_id == ws.stream_id)
        probe = Connection(ConnectionType.CLIENT)
        probe.receive_data(data)
        assert [e.code for e in probe.events() if isinstance(e, CloseConnection)] == [1012]
        # The client's close frame as a raw DATA frame with END_STREAM.
        reply = DataFrame(ws.stream_id, flags=["END_STREAM"])
        reply.data = ws.ws.send(CloseConnection(code=1012))
        client.send_raw(reply.serialize())
        assert client.wait_closed(10)
        # Then one GOAWAY naming the stream, and the connection closes.
        assert goaway_frames(client.raw_in) == [(ws.stream_id, 0)]
    assert proc.wait(10) == 0


def test_shutdown_answers_a_pending_handshake_503_and_exits(pounce_server: Any) -> None:
    # The app waits for more than websocket.connect; SIGTERM with the default (unlimited)
    # --timeout-graceful-shutdown: the extended CONNECT gets 503, then the one GOAWAY, and the
    # server exits.
    proc = pounce_server("ws_apps:app", "--no-access-log", "--ws-ping-interval", "0")
    with H2Client(proc.port) as client:
        ws = H2WebSocket(client, "/never-accept")
        proc.wait_for_log("never-accept: waiting")
        started = time.monotonic()
        proc.signal(signal.SIGTERM)
        assert ws.wait_status() == 503
        assert time.monotonic() - started < 1.0
        assert client.wait_closed(5)
        assert goaway_frames(client.raw_in) == [(ws.stream_id, 0)]
    started = time.monotonic()
    assert proc.wait(5) == 0
    assert time.monotonic() - started < 3.0
    assert "Traceback" not in proc.output()


def test_shutdown_of_an_unanswering_client_closes_1012_and_exits(pounce_server: Any) -> None:
    # An open RFC 8441 WebSocket whose client never answers the 1012 close frame, with the
    # default (unlimited) --timeout-graceful-shutdown: after CLOSE_TIMEOUT (5 s) the stream
    # ends (END_STREAM, then RST_STREAM(NO_ERROR)), the one GOAWAY follows, the server exits.
    proc = pounce_server("ws_apps:app", "--no-access-log", "--ws-ping-interval", "0")
    with H2Client(proc.port) as client:
        ws = H2WebSocket(client, "/echo")
        assert ws.wait_status() == 200
        started = time.monotonic()
        proc.signal(signal.SIGTERM)
        assert client.wait_closed(10)
        closed_after = time.monotonic() - started
        closes = [e for e in ws.receive(1) if isinstance(e, CloseConnection)]
        assert [c.code for c in closes] == [1012]
        assert ws.result.ended and ws.result.reset in (None, 0)
        assert goaway_frames(client.raw_in) == [(ws.stream_id, 0)]
    assert 4.5 < closed_after < 7.0
    assert proc.wait(5) == 0


def test_ping_timing_follows_the_options(pounce_server: Any) -> None:
    # RFC 8441 streams get the same keep-alive pings (the session is the same): every 0.1 s
    # (+-50 ms) while answered; a missing pong ends it with 1011 within interval + timeout +
    # 50 ms.
    proc = pounce_server(
        "ws_apps:app", "--no-access-log", "--ws-ping-interval", "0.1", "--ws-ping-timeout", "0.1"
    )
    with H2Client(proc.port) as client:

        def answering() -> None:
            ws = H2WebSocket(client, "/echo")
            assert ws.wait_status() == 200
            opened = time.monotonic()
            times: list[float] = []
            while len(times) < 12:
                for event in ws.receive(1, timeout=2.0):
                    assert isinstance(event, Ping), event
                    times.append(time.monotonic())
                    ws.send(event.response())
            ws.send(CloseConnection(code=1000), end_stream=True)
            assert abs(times[0] - opened - 0.1) <= 0.05
            assert_ping_cadence(times, 0.1)

        def silent() -> None:
            ws = H2WebSocket(client, "/echo")
            assert ws.wait_status() == 200
            opened = time.monotonic()
            events = ws.receive(2, timeout=2.0)
            closed_after = time.monotonic() - opened
            assert [type(e) for e in events] == [Ping, CloseConnection]
            assert events[1].code == 1011  # type: ignore[attr-defined]
            assert closed_after <= 0.1 + 0.1 + 0.05, closed_after

        timing_attempts(answering)
        timing_attempts(silent)


def test_tls_alpn_h2(pounce_server: Any, certs: Any) -> None:
    proc = pounce_server(
        "ws_apps:app",
        "--no-access-log",
        "--ws-ping-interval",
        "0",
        "--ssl-certfile",
        str(certs.cert),
        "--ssl-keyfile",
        str(certs.key),
    )
    with H2Client(proc.port, tls=certs.client_context(["h2"])) as client:
        assert client.sock.selected_alpn_protocol() == "h2"
        scope = H2WebSocket(client, "/scope", scheme=b"https")
        assert scope.wait_status() == 200
        info = json.loads(messages(scope.receive())[0])
        assert (info["scheme"], info["http_version"]) == ("wss", "2")
        sockets = [H2WebSocket(client, "/echo", scheme=b"https") for _ in range(3)]
        for i, ws in enumerate(sockets):
            assert ws.wait_status() == 200
            ws.send(TextMessage(data=f"tls {i}"))
        for i, ws in enumerate(sockets):
            assert messages(ws.receive()) == [f"tls {i}"]
        assert client.get("/plain").status == 200


def test_end_stream_without_close_frame_is_1006(server: PounceProcess) -> None:
    with H2Client(server.port) as client:
        ws = H2WebSocket(client, "/h2-half-close")
        assert ws.wait_status() == 200
        client.conn.end_stream(ws.stream_id)
        client.flush()
        client.wait(lambda: ws.result.done)  # the server ends its side too
        assert client.get("/alive").status == 200
    seen = disconnects(server.url, "/h2-half-close")
    assert [m["code"] for m in seen] == [1006]


def test_full_queue_withholds_the_stream_window(pounce_server: Any) -> None:
    """Backpressure over HTTP/2: while the app is not receiving and its queue is full, the
    stream's WINDOW_UPDATEs stop, so the client cannot send more than the window; the rest
    flows once the app reads."""
    proc = pounce_server(
        "ws_apps:app", "--no-access-log", "--ws-ping-interval", "0", "--ws-max-queue", "2"
    )
    chunk = BytesMessage(data=b"z" * 32 * 1024)
    with H2Client(proc.port, timeout=20) as client:
        ws = H2WebSocket(client, "/slow")  # the app sleeps 1 s before its first receive
        assert ws.wait_status() == 200
        frame = ws.ws.send(chunk)
        sent = 0
        started = time.monotonic()
        while time.monotonic() - started < 0.7:
            if client.conn.local_flow_control_window(ws.stream_id) >= len(frame):
                step = client.conn.max_outbound_frame_size
                for i in range(0, len(frame), step):
                    client.conn.send_data(ws.stream_id, frame[i : i + step])
                client.flush()
                sent += 1
            else:
                try:
                    client.receive_once(0.05)
                except TimeoutError:
                    pass
        # 256 KiB stream window, 32 KiB messages: about 8 fit, and no more until the app reads.
        assert 5 <= sent <= 10
        assert client.conn.local_flow_control_window(ws.stream_id) < len(frame)
        events: list[Any] = []
        while len(messages(events)) < sent:
            events += ws.receive(timeout=10)
        assert [len(m) for m in messages(events)] == [len(chunk.data)] * sent
        # Credit came back as the app read: more can be sent now.
        client.wait(lambda: client.conn.local_flow_control_window(ws.stream_id) >= len(frame))


def test_ws_none_answers_extended_connect_501(pounce_server: Any) -> None:
    proc = pounce_server("ws_apps:app", "--no-access-log", "--ws", "none")
    with H2Client(proc.port) as client:
        ws = H2WebSocket(client, "/echo")
        assert ws.wait_status() == 501
        assert client.get("/plain").status == 200
