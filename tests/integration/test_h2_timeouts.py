"""Slow clients on HTTP/2, over real sockets: the request-head deadline (a header block that
trickles in, frame by frame or byte by byte) and the body progress timeout, on each stream,
with short configured timeouts. The compiled core and the h2-backed one both run them."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from hyperframe.frame import ContinuationFrame, HeadersFrame

from tests.conftest import SERVER_H2_CORES, server_h2_env
from tests.h2support import REQUEST_BASE, H2Client, decode_streams, goaway_frames
from tests.integration.test_h1_timeouts import SLOW_OPTIONS, TIMEOUT, wait_events
from tests.support import PounceProcess

pytestmark = pytest.mark.timeout(30)

NO_ERROR = 0x0
CANCEL = 0x8


@pytest.fixture(scope="module", params=SERVER_H2_CORES)
def slow_h2(request: pytest.FixtureRequest) -> Iterator[PounceProcess]:
    proc = PounceProcess("testapp:app", *SLOW_OPTIONS, env=server_h2_env(request.param))
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.stop()


def head_block(client: H2Client, path: str = "/", method: str = "GET") -> bytes:
    """A request's header block from the client's own encoder (the HPACK state stays
    shared), padded so that it can trickle in many small pieces."""
    fields = [(b":method", method.encode()), (b":path", path.encode()), *REQUEST_BASE]
    return client.conn.encoder.encode([*fields, (b"x-pad", b"p" * 400)])


def trickle(client: H2Client, pieces: list[bytes], interval: float) -> int:
    """Send one piece per interval until the server sends GOAWAY (or closes); returns how
    many pieces went."""
    client.broken = True  # the server answers streams the h2 client never opened
    for sent, piece in enumerate(pieces):
        try:
            client.send_raw(piece)
        except (BrokenPipeError, ConnectionResetError):
            return sent
        end = time.monotonic() + interval
        while (left := end - time.monotonic()) > 0:
            try:
                if not client.receive_once(left):
                    return sent + 1  # closed
            except TimeoutError:
                break
            if goaway_frames(client.raw_in):
                return sent + 1
    return len(pieces)


def assert_head_timed_out(client: H2Client, sid: int, started: float) -> None:
    assert client.wait_closed(timeout=TIMEOUT + 3)
    elapsed = time.monotonic() - started
    answered = decode_streams(client.raw_in)[sid]
    assert answered.status == 408
    assert answered.ended
    assert goaway_frames(client.raw_in) == [(sid, NO_ERROR)]
    assert TIMEOUT * 0.8 <= elapsed < TIMEOUT + 1.5, elapsed


def test_trickled_continuation_frames_get_408_at_the_absolute_deadline(slow_h2):
    with H2Client(slow_h2.port) as client:
        block = head_block(client)
        first = HeadersFrame(1, flags=["END_STREAM"])  # no END_HEADERS: CONTINUATION follows
        first.data = block[:8]
        started = time.monotonic()
        client.send_raw(first.serialize())
        pieces = []
        for pos in range(8, len(block) - 5, 5):  # a CONTINUATION every 0.1 s, never the last
            cont = ContinuationFrame(1)
            cont.data = block[pos : pos + 5]
            pieces.append(cont.serialize())
        # The pieces keep coming (about 5 before the deadline): they must not push it back.
        assert 3 <= trickle(client, pieces, 0.1) < len(pieces)
        assert_head_timed_out(client, 1, started)


def test_headers_frame_trickled_byte_by_byte_gets_408(slow_h2):
    with H2Client(slow_h2.port) as client:
        frame = HeadersFrame(1, flags=["END_HEADERS", "END_STREAM"])
        frame.data = head_block(client)
        wire = frame.serialize()
        client.send_raw(wire[:9])  # the frame header: the clock starts
        started = time.monotonic()
        assert trickle(client, [wire[i : i + 1] for i in range(9, len(wire) - 1)], 0.05) >= 5
        assert_head_timed_out(client, 1, started)


def test_streams_already_accepted_finish_after_a_head_timeout(slow_h2):
    with H2Client(slow_h2.port) as client:
        slow = client.request("/slow?t=1.2")  # answered after the head timeout
        stuck = HeadersFrame(3, flags=["END_STREAM"])
        stuck.data = head_block(client)[:20]
        started = time.monotonic()
        client.send_raw(stuck.serialize())
        client.broken = True
        assert client.wait_closed(timeout=5)
        streams = decode_streams(client.raw_in)
        assert (streams[3].status, streams[3].ended) == (408, True)
        assert (streams[slow].status, bytes(streams[slow].body)) == (200, b"slow done")
        assert streams[slow].ended
        assert goaway_frames(client.raw_in) == [(3, NO_ERROR)]
        assert time.monotonic() - started >= 1.0  # the close waited for the slow response


def test_stalled_body_gets_408_and_app_sees_disconnect(slow_h2):
    key = f"h2-stall-{time.monotonic_ns()}"
    with H2Client(slow_h2.port) as client:
        sid = client.request(
            f"/body-events?id={key}",
            method="POST",
            headers=[(b"content-length", b"10")],
            end_stream=False,
        )
        client.send_body(sid, b"abc", end_stream=False)
        started = time.monotonic()
        answered = client.response(sid, timeout=TIMEOUT + 3)
        elapsed = time.monotonic() - started
        assert (answered.status, answered.ended) == (408, True)
        assert TIMEOUT * 0.8 <= elapsed < TIMEOUT + 1.5, elapsed
        assert client.get("/").status == 200  # the connection and its other streams carry on
        assert client.goaway is None
    seen = wait_events(slow_h2.port, key, "http.disconnect")
    assert seen == ["http.request", "http.disconnect"]


def test_stalled_body_after_the_response_started_is_cancelled(slow_h2):
    key = f"h2-stall-started-{time.monotonic_ns()}"
    with H2Client(slow_h2.port) as client:
        sid = client.request(f"/body-events?id={key}&start=1", method="POST", end_stream=False)
        client.send_body(sid, b"abc", end_stream=False)
        answered = client.response(sid, timeout=TIMEOUT + 3)
        assert answered.status == 200
        assert bytes(answered.body) == b"started "
        assert answered.reset == CANCEL
        assert not answered.ended
        assert client.get("/").status == 200
    seen = wait_events(slow_h2.port, key, "http.disconnect")
    assert seen == ["http.request", "http.disconnect"]


def test_trickled_trailers_time_out_their_stream(slow_h2):
    key = f"h2-trailers-{time.monotonic_ns()}"
    with H2Client(slow_h2.port) as client:
        sid = client.request(f"/body-events?id={key}", method="POST", end_stream=False)
        client.send_body(sid, b"abc", end_stream=False)
        trailers = HeadersFrame(sid, flags=["END_STREAM"])  # no END_HEADERS, nothing follows
        trailers.data = client.conn.encoder.encode([(b"x-checksum", b"c" * 200)])[:10]
        started = time.monotonic()
        client.send_raw(trailers.serialize())
        client.broken = True
        assert client.wait_closed(timeout=TIMEOUT + 3)
        assert time.monotonic() - started < TIMEOUT + 1.5
        answered = decode_streams(client.raw_in)[sid]
        assert (answered.status, answered.ended) == (408, True)
        assert goaway_frames(client.raw_in) == [(sid, NO_ERROR)]
    seen = wait_events(slow_h2.port, key, "http.disconnect")
    assert seen == ["http.request", "http.disconnect"]


def test_slow_but_steady_body_is_not_cut_off(slow_h2):
    with H2Client(slow_h2.port) as client:
        sid = client.request("/echo", method="POST", end_stream=False)
        for byte in b"abcdefgh":  # 8 x 0.2 s: longer than the timeout in total, never idle
            time.sleep(TIMEOUT * 0.4)
            client.send_body(sid, bytes([byte]), end_stream=False)
        client.conn.end_stream(sid)
        client.flush()
        answered = client.response(sid)
        assert answered.status == 200
        assert bytes(answered.body) == b"abcdefgh"


def test_body_the_app_has_not_read_yet_is_not_timed_out(slow_h2):
    # 600 KB is more than the stream window (256 KiB): the client waits for the app, which
    # reads only after 1.2 s. That wait is the server's, not a stalled client.
    body = b"b" * 600_000
    with H2Client(slow_h2.port) as client:
        sid = client.request("/slow-reader?t=1.2", method="POST", body=body)
        answered = client.response(sid)
        assert answered.status == 200
        assert bytes(answered.body) == b"600000"


def test_idle_connection_still_closes_at_the_keep_alive_timeout(slow_h2):
    # Completed heads leave no clock behind: an idle connection is the keep-alive's business.
    with H2Client(slow_h2.port) as client:
        assert client.get("/").status == 200
        time.sleep(TIMEOUT * 2)
        assert client.get("/").status == 200
        assert client.goaway is None
        assert not client.closed


def test_body_held_up_by_other_streams_unread_bodies_is_not_timed_out(pounce_server):
    # Past the connection window of unread body in all, connection credit waits for the apps
    # (pounce.http2.connection): then a stream whose own app reads everything still cannot get
    # more, and that wait is the server's too.
    server = pounce_server(
        "testapp:app",
        *SLOW_OPTIONS,
        "--h2-initial-window-size",
        "65535",
        "--h2-initial-connection-window-size",
        "100000",
    )
    with H2Client(server.port) as client:
        readers = [
            client.request("/slow-reader?t=1.5", method="POST", body=b"r" * 65535) for _ in range(2)
        ]  # 131070 bytes that nobody reads for 1.5 s
        body = b"e" * 200_000
        sid = client.request("/echo", method="POST", body=body)
        answered = client.response(sid)
        assert answered.status == 200
        assert bytes(answered.body) == body
        for reader in readers:
            assert client.response(reader).status == 200
