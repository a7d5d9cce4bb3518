"""The known HTTP/2 attacks against a real server: each ends its own connection with GOAWAY
(ENHANCE_YOUR_CALM or PROTOCOL_ERROR) and leaves every other connection working."""

from __future__ import annotations

import contextlib
import time

import h2.settings
import hpack
import pytest
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    HeadersFrame,
    PingFrame,
    PriorityFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)

from tests.h2support import REQUEST_BASE, H2Client, goaway_frames, reset_frames

PROTOCOL_ERROR = 0x1
CANCEL = 0x8
ENHANCE_YOUR_CALM = 0xB
GET = [(b":method", b"GET"), (b":path", b"/"), *REQUEST_BASE]


def headers_frame(encoder: hpack.Encoder, stream_id: int, flags: list[str], extra=()) -> bytes:
    frame = HeadersFrame(stream_id, flags=flags)
    frame.data = encoder.encode([*GET, *extra])
    return frame.serialize()


def attack(port: int, payload: bytes) -> H2Client:
    """Send ``payload`` after the handshake; return the client once the server closed."""
    client = H2Client(port, timeout=10)
    client.wait(lambda: client.conn.remote_settings.max_concurrent_streams != 2**32 + 1)
    with contextlib.suppress(OSError):  # the server may close before all is sent
        client.send_raw(payload)
    assert client.wait_closed(10), "the server did not close the connection"
    client.close()
    return client


def assert_goaway(client: H2Client, codes: tuple[int, ...]) -> None:
    goaways = goaway_frames(client.raw_in)
    assert goaways, "no GOAWAY before the close"
    assert goaways[-1][1] in codes, goaways


def assert_others_fine(port: int) -> None:
    with H2Client(port) as other:
        for _ in range(3):
            result = other.get("/")
            assert (result.status, bytes(result.body)) == (200, b"Hello, world!")


def test_rapid_reset(h2c):
    """CVE-2023-44487: open and immediately reset streams, thousands of times."""
    encoder = hpack.Encoder()
    parts = []
    for i in range(2000):
        sid = 1 + 2 * i
        parts.append(headers_frame(encoder, sid, ["END_HEADERS", "END_STREAM"]))
        rst = RstStreamFrame(sid)
        rst.error_code = CANCEL
        parts.append(rst.serialize())
    client = attack(h2c.port, b"".join(parts))
    assert_goaway(client, (ENHANCE_YOUR_CALM,))
    assert_others_fine(h2c.port)


def test_continuation_flood(h2c):
    """2024 CONTINUATION flood: a header block that never ends."""
    first = HeadersFrame(1, flags=[])
    first.data = hpack.Encoder().encode(GET)
    cont = ContinuationFrame(1)
    cont.data = b"\x40\x01a\x01b" * 2000  # literal headers, never END_HEADERS
    client = attack(h2c.port, first.serialize() + cont.serialize() * 200)
    assert_goaway(client, (ENHANCE_YOUR_CALM, PROTOCOL_ERROR))
    assert_others_fine(h2c.port)


def test_hpack_bomb(h2c):
    """A small header block that decodes past SETTINGS_MAX_HEADER_LIST_SIZE."""
    encoder = hpack.Encoder()
    big = (b"x-bomb", b"a" * 4000)
    primer = headers_frame(encoder, 1, ["END_HEADERS", "END_STREAM"], [big])
    frame = HeadersFrame(3, flags=["END_HEADERS", "END_STREAM"])
    frame.data = encoder.encode([*GET, *([big] * 200)])  # 800 KB decoded, tiny encoded
    assert len(frame.data) < 2000
    client = attack(h2c.port, primer + frame.serialize())
    assert_goaway(client, (ENHANCE_YOUR_CALM, PROTOCOL_ERROR))
    assert_others_fine(h2c.port)


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(SettingsFrame(0, settings={}).serialize(), id="settings"),
        pytest.param(PingFrame(0, opaque_data=b"12345678").serialize(), id="ping"),
        pytest.param(WindowUpdateFrame(0, window_increment=1).serialize(), id="window-update"),
        pytest.param(PriorityFrame(1, depends_on=0, stream_weight=10).serialize(), id="priority"),
    ],
)
def test_control_frame_flood(h2c, frame):
    client = attack(h2c.port, frame * 5000)
    assert_goaway(client, (ENHANCE_YOUR_CALM,))
    assert_others_fine(h2c.port)


def test_empty_data_flood(h2c):
    encoder = hpack.Encoder()
    payload = headers_frame(encoder, 1, ["END_HEADERS"]) + DataFrame(1, b"").serialize() * 5000
    client = attack(h2c.port, payload)
    assert_goaway(client, (ENHANCE_YOUR_CALM,))
    assert_others_fine(h2c.port)


def test_garbage_frames_protocol_error(h2c):
    client = attack(h2c.port, b"\x00\x00\x01\x00\x00\x00\x00\x00\x00x")  # DATA on stream 0
    assert_goaway(client, (PROTOCOL_ERROR,))
    assert_others_fine(h2c.port)


def test_too_many_streams_refused_connection_lives(pounce_server):
    server = pounce_server("h2app:app", "--no-access-log", "--h2-max-concurrent-streams", "4")
    with H2Client(server.port) as client:
        client.wait(lambda: client.conn.remote_settings.max_concurrent_streams == 4)
        encoder = client.conn.encoder
        slow = [(b":method", b"GET"), (b":path", b"/slow?t=1"), *REQUEST_BASE]
        payload = b""
        for i in range(10):
            frame = HeadersFrame(1 + 2 * i, flags=["END_HEADERS", "END_STREAM"])
            frame.data = encoder.encode(slow)
            payload += frame.serialize()
        client.broken = True  # the h2 client does not know these streams; read raw frames
        client.send_raw(payload)
        deadline = time.monotonic() + 10
        while len([f for f in reset_frames(client.raw_in)]) < 6 and time.monotonic() < deadline:
            client.receive_once()
        assert sorted(reset_frames(client.raw_in)) == [(1 + 2 * i, 7) for i in range(4, 10)]
        assert goaway_frames(client.raw_in) == []
    assert_others_fine(server.port)


def test_zero_window_reader_is_timed_out(pounce_server):
    """A client that opens no window: the stalled response is reset after the write timeout;
    one that lets the connection window run dry loses the connection."""
    server = pounce_server("h2app:app", "--no-access-log", "--h2-write-timeout", "1")
    zero = {h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0}
    with H2Client(server.port, settings=zero) as client:
        sid = client.request("/download?size=100000")
        start = time.monotonic()
        result = client.response(sid, timeout=10)
        assert result.reset == CANCEL
        assert 0.8 < time.monotonic() - start < 5
        assert not client.closed
    with H2Client(server.port, auto_ack=False) as client:  # never returns any credit
        client.request("/download?size=4000000")
        start = time.monotonic()
        assert client.wait_closed(10)
        assert time.monotonic() - start < 6
        assert_goaway(client, (ENHANCE_YOUR_CALM,))
    assert_others_fine(server.port)


def test_zz_attacks_left_no_server_errors(h2c):
    """Bad client input is answered with frames, never with a traceback of ours."""
    log = h2c.output()
    assert "Unexpected error" not in log
    assert h2c.proc.poll() is None
