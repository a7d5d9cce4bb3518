"""HTTP/2 streams against a real server through a raw h2 client: big bodies both ways, flow
control, trailers, resets, GOAWAY on shutdown, the idle timeout and the stream limit."""

from __future__ import annotations

import hashlib
import json
import signal
import socket
import threading
import time

import h2.settings
import pytest
from hyperframe.frame import DataFrame, HeadersFrame

from tests.h2support import H2Client, StreamResult, goaway_frames, parse_frames, reset_frames
from tests.integration.test_h1_errors import wait_logged

MiB = 1024 * 1024
PATTERN = bytes(range(256))


def expected_download(size: int, chunk: int = 65536) -> bytes:
    block = (PATTERN * (chunk // 256 + 1))[:chunk]
    return (block * (size // chunk + 1))[:size]


def events(client: H2Client, key: str) -> list[object]:
    return json.loads(bytes(client.get(f"/events?id={key}").body))


def test_8mib_upload(h2c):
    body = bytes(range(256)) * (8 * MiB // 256)
    with H2Client(h2c.port, timeout=30) as client:
        sid = client.request("/upload", "POST", body)
        result = client.response(sid)
    assert result.status == 200
    assert json.loads(bytes(result.body)) == {
        "size": 8 * MiB,
        "sha256": hashlib.sha256(body).hexdigest(),
    }


def test_8_concurrent_1mib_uploads_one_connection(h2c):
    bodies = [bytes([i]) * MiB for i in range(8)]
    with H2Client(h2c.port, timeout=30) as client:
        sids = [client.request("/upload", "POST", end_stream=False) for _ in bodies]
        left = {sid: memoryview(body) for sid, body in zip(sids, bodies, strict=True)}
        deadline = time.monotonic() + 30
        while left:
            progressed = False
            for sid in list(left):  # interleave: one frame per stream in turn
                view = left[sid]
                n = min(client.conn.local_flow_control_window(sid), 16384, len(view))
                if n > 0:
                    client.conn.send_data(sid, bytes(view[:n]))
                    left[sid] = view = view[n:]
                    progressed = True
                if not view:
                    client.conn.end_stream(sid)
                    del left[sid]
            client.flush()
            if not progressed:
                assert time.monotonic() < deadline
                client.receive_once()
        results = [client.response(sid) for sid in sids]
    for body, result in zip(bodies, results, strict=True):
        assert result.status == 200
        assert json.loads(bytes(result.body)) == {
            "size": MiB,
            "sha256": hashlib.sha256(body).hexdigest(),
        }


def test_16mib_download_with_64k_window(h2c):
    settings = {h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 65535}
    with H2Client(h2c.port, timeout=60, settings=settings) as client:
        result = client.get(f"/download?size={16 * MiB}", timeout=60)
        assert client.conn.remote_flow_control_window(1) <= 65535  # our window stayed small
    assert result.status == 200
    assert result.header(b"content-length") == str(16 * MiB).encode()
    assert len(result.body) == 16 * MiB
    assert bytes(result.body) == expected_download(16 * MiB)


def test_stalled_stream_does_not_block_other_streams(h2c):
    settings = {h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 65535}
    with H2Client(h2c.port, settings=settings) as client:
        slow = client.request("/download?size=4194304&id=stall1")
        client.stalled.add(slow)  # never WINDOW_UPDATE this stream
        client.wait(lambda: len(client.streams[slow].body) >= 65535)
        for i in range(5):
            result = client.get(f"/stream?n=4&size=1000&i={i}")
            assert result.status == 200 and len(result.body) == 4000
        assert len(client.streams[slow].body) == 65535
        assert not client.streams[slow].done
        client.stalled.discard(slow)
        client.conn.increment_flow_control_window(4 * MiB, slow)
        client.flush()
        result = client.response(slow, timeout=30)
    assert bytes(result.body) == expected_download(4 * MiB)


def test_client_not_reading_does_not_block_other_connections(h2c):
    stuck = H2Client(h2c.port, auto_ack=False)
    try:
        stuck.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        for _ in range(4):
            stuck.request(f"/download?size={16 * MiB}")
        # ... and never reads again. Other connections are served promptly.
        start = time.monotonic()
        for _ in range(3):
            with H2Client(h2c.port, timeout=10) as other:
                for i in range(10):
                    assert other.get(f"/?i={i}").status == 200
        assert time.monotonic() - start < 10
    finally:
        stuck.close()


def test_stream_window_opens_only_as_app_consumes(pounce_server):
    server = pounce_server("h2app:app", "--no-access-log", "--h2-initial-window-size", "65535")
    with H2Client(server.port) as client:
        client.wait(lambda: client.conn.remote_settings.initial_window_size == 65535)
        sid = client.request("/consume-slowly?t=1.5&id=c1", "POST", end_stream=False)
        client.conn.send_data(sid, b"a" * 16384)
        client.conn.send_data(sid, b"a" * 16384)
        client.conn.send_data(sid, b"a" * 16384)
        client.conn.send_data(sid, b"a" * 16383)
        client.flush()
        # The stream window is spent and stays so while the app sleeps; the connection
        # window was given back right away, so another stream uploads meanwhile.
        echo = client.request("/upload", "POST", b"b" * 100_000)
        assert client.response(echo).status == 200
        assert client.conn.local_flow_control_window(sid) == 0
        assert not client.streams[sid].done
        client.send_body(sid, b"c" * 100_000)  # waits for the app to read, then flows
        result = client.response(sid, timeout=15)
    assert (result.status, bytes(result.body)) == (200, b"165535")


def test_response_trailers(h2c):
    with H2Client(h2c.port) as client:
        result = client.get("/trailers")
    assert result.status == 200
    assert bytes(result.body) == b"part1,part2"
    assert result.trailers == [(b"x-checksum", b"abc123")]
    assert result.ended


def test_request_trailers_reach_the_app_apart_from_headers(h2c):
    with H2Client(h2c.port) as client:
        sid = client.request(
            "/req-trailers", "POST", b"hello", headers=[(b"x-head", b"1")], end_stream=False
        )
        client.conn.send_headers(sid, [(b"x-checksum", b"c0ffee")], end_stream=True)
        client.flush()
        result = client.response(sid)
    data = json.loads(bytes(result.body))
    assert data["body"] == "hello"
    assert data["trailers"] == [["x-checksum", "c0ffee"]]
    assert ["x-head", "1"] in data["headers"]
    assert not any(k == "x-checksum" for k, _ in data["headers"])
    assert "http.response.trailers" in data["extensions"]


def test_client_reset_gives_http_disconnect(h2c):
    with H2Client(h2c.port) as client:
        sid = client.request("/wait-receive?id=rst1", "POST", end_stream=False)
        client.conn.send_data(sid, b"x")
        client.flush()
        time.sleep(0.3)
        client.conn.reset_stream(sid, 8)  # CANCEL
        client.flush()
        busy = client.request("/busy?id=rst2")
        time.sleep(0.3)
        client.conn.reset_stream(busy, 8)
        client.flush()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            seen = events(client, "rst1"), events(client, "rst2")
            if "http.disconnect" in seen[0] and "cancelled" in seen[1]:
                break
            time.sleep(0.1)
    assert seen[0] == ["started", "http.request", "http.disconnect"]
    assert seen[1] == ["started", "cancelled"]


def test_head_and_errors(h2c):
    with H2Client(h2c.port) as client:
        head = client.response(client.request("/", "HEAD"))
        error = client.get("/raise")
        broken = client.get("/raise-after")
        after = client.get("/")
    assert head.status == 200 and head.header(b"content-length") == b"13" and not head.body
    assert error.status == 500
    assert broken.reset == 2  # INTERNAL_ERROR: part of the response was already sent
    assert after.status == 200  # the connection is still fine


def test_graceful_shutdown_of_an_idle_connection(pounce_server):
    """RFC 9113 §6.8: an idle connection gets one GOAWAY naming the last stream processed and
    is closed at once. (Streams in flight: tests/integration/test_h2_shutdown.py.)"""
    server = pounce_server("h2app:app", "--no-access-log")
    with H2Client(server.port) as client:
        client.get("/")
        start = time.monotonic()
        server.signal(signal.SIGTERM)
        assert client.wait_closed(10)
        assert time.monotonic() - start < 2
    assert goaway_frames(client.raw_in) == [(1, 0)]
    assert server.wait(10) == 0


def test_client_goaway_lets_open_streams_finish(h2c):
    with H2Client(h2c.port) as client:
        sid = client.request("/slow?t=0.5")
        client.conn.close_connection()  # graceful GOAWAY from the client
        client.flush()
        client.broken = True  # the h2 client will not read after its own GOAWAY
        assert client.wait_closed(10)
    data = [f for f in parse_frames(client.raw_in) if f.type == 0x0 and f.stream_id == sid]
    assert b"".join(f.data for f in data) == b"slow done"


def test_idle_timeout_spares_active_streams(pounce_server):
    server = pounce_server("h2app:app", "--no-access-log", "--timeout-keep-alive", "1")
    with H2Client(server.port) as idle, H2Client(server.port) as busy:
        sid = busy.request("/slow?t=2.5")
        start = time.monotonic()
        assert idle.wait_closed(5)
        assert time.monotonic() - start < 4
        assert goaway_frames(idle.raw_in) == [(0, 0)]
        result = busy.response(sid, timeout=10)
        assert result.status == 200 and not busy.closed
        assert busy.wait_closed(5)  # idle again after the response: closed in turn


def test_max_concurrent_streams_refused(pounce_server):
    server = pounce_server("h2app:app", "--no-access-log", "--h2-max-concurrent-streams", "2")
    with H2Client(server.port) as client:
        client.wait(lambda: client.conn.remote_settings.max_concurrent_streams == 2)
        a = client.request("/slow?t=1")
        b = client.request("/slow?t=1")
        client.raw_request(5, "/")
        ra, rb = client.response(a), client.response(b)
        assert (ra.status, rb.status) == (200, 200)
        assert (5, 7) in reset_frames(client.raw_in)
        assert goaway_frames(client.raw_in) == []


def test_many_streams_in_parallel_threads(h2c):
    """Several connections from threads, 32 streams each, all answered correctly."""
    failures: list[str] = []

    def run(n: int) -> None:
        try:
            with H2Client(h2c.port) as client:
                sids = [
                    client.request(f"/echo?c={n}&i={i}", "POST", b"%d-%d" % (n, i))
                    for i in range(32)
                ]
                for i, sid in enumerate(sids):
                    r = client.response(sid)
                    if r.status != 200 or bytes(r.body) != b"%d-%d" % (n, i):
                        failures.append(f"{n}/{i}: {r.status} {bytes(r.body)!r}")
        except Exception as exc:  # pragma: no cover - reported below
            failures.append(repr(exc))

    threads = [threading.Thread(target=run, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert failures == []


@pytest.mark.parametrize("path", ["/", "/stream?n=3"])
def test_http_version_and_scope(h2c, path):
    with H2Client(h2c.port) as client:
        scope = json.loads(bytes(client.get("/scope?x=1").body))
    assert scope["http_version"] == "2" and scope["scheme"] == "http"
    assert scope["headers"][0] == ["host", "test"]


def test_expect_100_continue(h2c):
    with H2Client(h2c.port) as client:
        sid = client.request(
            "/echo", "POST", headers=[(b"expect", b"100-continue")], end_stream=False
        )
        client.wait(lambda: client.streams[sid].informational == [100])
        client.send_body(sid, b"after continue")
        result = client.response(sid)
    assert (result.status, bytes(result.body)) == (200, b"after continue")


def test_malformed_request_is_a_stream_error(h2c):
    """RFC 9113 §8.1.1: a malformed request resets its stream; the connection lives on."""
    with H2Client(h2c.port) as client:
        sid = client.request("/bad path with spaces")
        result = client.response(sid)
        assert result.reset == 1  # PROTOCOL_ERROR
        assert client.get("/").status == 200


def test_extended_connect_is_advertised_and_answered(h2c):
    """RFC 8441: SETTINGS_ENABLE_CONNECT_PROTOCOL=1; the extended CONNECT reaches the app as a
    WebSocket. This app fails on the websocket scope before accepting: 500, and the connection
    carries on (tests/integration/test_ws_h2.py has the working sessions)."""
    with H2Client(h2c.port) as client:
        client.wait(lambda: client.conn.remote_settings.enable_connect_protocol == 1)
        sid = client.conn.get_next_available_stream_id()
        client.streams[sid] = StreamResult()
        client.conn.send_headers(
            sid,
            [
                (b":method", b"CONNECT"),
                (b":protocol", b"websocket"),
                (b":scheme", b"http"),
                (b":path", b"/ws"),
                (b":authority", b"test"),
                (b"sec-websocket-version", b"13"),
            ],
        )
        client.flush()
        result = client.response(sid)
        assert result.status == 500
        assert client.get("/").status == 200


def test_stalled_uploads_are_bounded_per_connection(h2c):
    """20 streams whose apps do not read yet: together they may not buffer more than the
    connection window on top of the server's buffering cap (2 MiB), not 20 x 256 KiB."""
    with H2Client(h2c.port, timeout=20) as client:
        sids = [
            client.request(f"/consume-slowly?t=2&id=cap{i}", "POST", end_stream=False)
            for i in range(20)
        ]
        left = {sid: 300_000 for sid in sids}
        sent = 0
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:  # push as much as the windows allow for 1 s
            for sid in sids:
                n = min(client.conn.local_flow_control_window(sid), 16384, left[sid])
                if n > 0:
                    client.conn.send_data(sid, b"u" * n)
                    left[sid] -= n
                    sent += n
            client.flush()
            try:
                client.receive_once(0.05)
            except TimeoutError:
                pass
        assert 1 * MiB <= sent <= 2 * MiB + 65536
        for sid in sids:
            client.send_body(sid, b"u" * left[sid])
        results = [client.response(sid, timeout=20) for sid in sids]
    assert [(r.status, bytes(r.body)) for r in results] == [(200, b"300000")] * 20


def test_settings_change_resumes_blocked_response(h2c):
    """RFC 9113 §6.9.2: a larger SETTINGS_INITIAL_WINDOW_SIZE reopens every stream window."""
    zero = {h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0}
    with H2Client(h2c.port, settings=zero) as client:
        sid = client.request("/download?size=300000")
        client.wait(lambda: client.streams[sid].status == 200)
        time.sleep(0.3)
        assert len(client.streams[sid].body) == 0
        client.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1 << 20})
        client.flush()
        result = client.response(sid)
    assert bytes(result.body) == expected_download(300000)


def test_write_timeout_when_the_peer_stops_reading(pounce_server):
    """Windows wide open but the socket is never read: the transport stays paused, and the
    connection is aborted after --h2-write-timeout; the server keeps serving others."""
    server = pounce_server(
        "h2app:app", "--no-access-log", "--log-level", "debug", "--h2-write-timeout", "1"
    )
    big = {h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 2**31 - 1}
    client = H2Client(server.port, settings=big)
    try:
        client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client.conn.increment_flow_control_window(2**31 - 1 - 65535)
        client.flush()
        client.request(f"/download?size={64 * MiB}")
        server.wait_for_log("HTTP/2 write timeout (transport)", timeout=15)
        with H2Client(server.port) as other:
            assert other.get("/").status == 200
    finally:
        client.close()


def test_trailers_wait_for_a_blocked_body(h2c):
    small = {h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1000}
    with H2Client(h2c.port, settings=small) as client:
        result = client.get("/trailers?size=50000")
        empty = client.get("/trailers?empty=1")
    assert bytes(result.body) == b"part1,part2" + b"." * 50000
    assert result.trailers == [(b"x-checksum", b"abc123")] and result.ended
    assert bytes(empty.body) == b"part1,part2" and empty.trailers == [] and empty.ended


def test_cookie_crumbs_are_joined(h2c):
    """RFC 9113 §8.2.3: split cookie fields reach the app as one ``cookie`` header."""
    with H2Client(h2c.port) as client:
        sid = client.request("/scope", headers=[(b"cookie", b"a=1"), (b"cookie", b"b=2")])
        scope = json.loads(bytes(client.response(sid).body))
    assert [v for k, v in scope["headers"] if k == "cookie"] == ["a=1; b=2"]


def test_malformed_headers_reset_only_their_stream(h2c):
    """RFC 9113 §8.1.1: upper-case names, connection-specific fields, bad trailers: each is
    RST_STREAM(PROTOCOL_ERROR) for its stream; the connection and other streams go on."""
    with H2Client(h2c.port) as client:
        slow = client.request("/slow?t=0.5")
        client.raw_request(3, "/")  # fine; shares the HPACK state
        bad = [
            (b":method", b"GET"),
            (b":path", b"/"),
            (b":scheme", b"http"),
            (b":authority", b"t"),
            (b"Upper", b"x"),
        ]
        frame = HeadersFrame(5, flags=["END_HEADERS", "END_STREAM"])
        frame.data = client.conn.encoder.encode(bad)
        client.send_raw(frame.serialize())
        frame = HeadersFrame(7, flags=["END_HEADERS", "END_STREAM"])
        frame.data = client.conn.encoder.encode([*bad[:4], (b"connection", b"close")])
        client.send_raw(frame.serialize())
        client.broken = True  # the h2 client does not know streams 3-7: read raw frames
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            frames = parse_frames(client.raw_in)
            if any(f.type == 0 and f.stream_id == slow and "END_STREAM" in f.flags for f in frames):
                break
            client.receive_once()
    assert (5, 1) in reset_frames(client.raw_in) and (7, 1) in reset_frames(client.raw_in)
    assert goaway_frames(client.raw_in) == []
    data = {f.stream_id: f.data for f in parse_frames(client.raw_in) if f.type == 0}
    assert data[slow] == b"slow done" and data[3] == b"Hello, world!"


def test_malformed_trailers_reset_the_stream(h2c):
    with H2Client(h2c.port) as client:
        sid = client.request("/wait-receive?id=badtr", "POST", end_stream=False)
        time.sleep(0.2)  # the app waits in receive(); body and bad trailers come in one write
        data = DataFrame(sid, b"x").serialize()
        frame = HeadersFrame(sid, flags=["END_HEADERS", "END_STREAM"])
        frame.data = client.conn.encoder.encode([(b":path", b"/x")])  # pseudo in trailers
        client.send_raw(data + frame.serialize())
        result = client.response(sid)
        assert result.reset == 1
        assert client.get("/").status == 200
        deadline = time.monotonic() + 5
        while "http.disconnect" not in events(client, "badtr") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert events(client, "badtr") == ["started", "http.request", "http.disconnect"]


def test_proxy_headers_and_limit_concurrency(pounce_server):
    server = pounce_server("h2app:app", "--no-access-log", "--limit-concurrency", "2")
    forwarded = [(b"x-forwarded-for", b"203.0.113.7"), (b"x-forwarded-proto", b"https")]
    with H2Client(server.port) as client:
        scope = json.loads(bytes(client.response(client.request("/scope", headers=forwarded)).body))
        assert scope["client"][0] == "203.0.113.7" and scope["scheme"] == "https"
        slow = [client.request("/slow?t=1") for _ in range(3)]
        statuses = sorted(client.response(s).status for s in slow)
    assert 503 in statuses and 200 in statuses


def test_content_length_mismatch(h2c):
    with H2Client(h2c.port) as client:
        longer = client.get("/cl-mismatch?declared=3&actual=10&id=h2cl")
        shorter = client.get("/cl-mismatch?declared=10&actual=3&id=h2cl2")
        after = client.get("/")
    assert longer.status == 500  # nothing of the response was sent yet
    assert shorter.status == 200 and bytes(shorter.body) == b"xxx"
    assert shorter.reset == 2 and not shorter.ended  # cut short: RST_STREAM(INTERNAL_ERROR)
    assert after.status == 200


@pytest.mark.parametrize("where", ["value", "name", "nul"])
def test_invalid_response_header_gives_500_and_nothing_of_it(h2c, where):
    logged = h2c.output().count("InvalidHeader")
    with H2Client(h2c.port) as client:
        answered = client.get(f"/bad-header?where={where}")
        assert answered.status == 500
        assert answered.ended
        assert client.get("/").status == 200  # the connection carries on
        # Nothing of the bad field, nor the body sent after it (the wire is HPACK-coded: the
        # decoded head is what to check).
        assert answered.header(b"x-bad") is None
        assert answered.header(b"set-cookie") is None
        assert b"should not be sent" not in client.raw_in
    wait_logged(h2c, "InvalidHeader", logged + 1)
