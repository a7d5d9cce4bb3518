"""Sans-I/O tests of pounce's H2Connection, driven by an h2 client and hand-made frames."""

from __future__ import annotations

import h2.config
import h2.connection
import h2.events
import h2.settings
import hpack
import pytest
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    PriorityFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)

from pounce.http2.connection import H2Connection, H2ConnectionPy
from pounce.http2.constants import (
    CANCEL,
    ENHANCE_YOUR_CALM,
    PREFACE,
    PROTOCOL_ERROR,
    REFUSED_STREAM,
    STREAM_CLOSED,
)
from pounce.http2.events import (
    FloodLimits,
    H2BodyReceived,
    H2GoAway,
    H2ProtocolError,
    H2RequestReceived,
    H2Settings,
    H2StreamReset,
    H2TrailersReceived,
    H2WebSocketRequest,
    H2WindowUpdated,
)

REQUEST = [
    (b":method", b"POST"),
    (b":scheme", b"http"),
    (b":authority", b"example.com"),
    (b":path", b"/upload?x=1"),
    (b"user-agent", b"test"),
]


def parse_frames(data: bytes) -> list[Frame]:
    frames = []
    while len(data) >= 9:
        frame, length = Frame.parse_frame_header(memoryview(data[:9]))
        frame.parse_body(memoryview(data[9 : 9 + length]))
        frames.append(frame)
        data = data[9 + length :]
    return frames


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Pair:
    """An h2 client connected to a pounce server connection in memory."""

    def __init__(self, settings: H2Settings | None = None, **client_settings: int) -> None:
        self.clock = Clock()
        self.server = H2Connection(settings, clock=self.clock)
        self.client = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding=None)
        )
        self.client.local_settings = h2.settings.Settings(
            client=True,
            initial_values={
                getattr(h2.settings.SettingCodes, k.upper()): v for k, v in client_settings.items()
            },
        )
        self.server.initiate_connection()
        self.client.initiate_connection()
        self.client_events: list[h2.events.Event] = []
        self.server_frames: list[Frame] = []
        self.pump()

    def pump(self) -> list[object]:
        """Move bytes both ways until quiet; returns the server's events."""
        events: list[object] = []
        for _ in range(20):
            to_server = self.client.data_to_send()
            if to_server:
                events += self.server.receive_data(to_server)
            to_client = self.server.data_to_send()
            if to_client:
                self.client_events += self.client.receive_data(to_client)
            if not to_server and not to_client:
                break
        return events

    def raw(self, data: bytes) -> list[object]:
        """Send raw bytes to the server; the client library does not see them."""
        events = self.server.receive_data(data)
        out = self.server.data_to_send()
        self.server_frames += parse_frames(out)
        if out:
            try:
                self.client_events += self.client.receive_data(out)
            except h2.exceptions.ProtocolError:
                pass
        return events

    def of(self, kind: type) -> list[h2.events.Event]:
        return [e for e in self.client_events if isinstance(e, kind)]


def test_preface_advertises_settings_and_extended_connect() -> None:
    pair = Pair(H2Settings(max_concurrent_streams=7, initial_window_size=100_000))
    changed = pair.of(h2.events.RemoteSettingsChanged)[0].changed_settings
    codes = h2.settings.SettingCodes
    assert changed[codes.MAX_CONCURRENT_STREAMS].new_value == 7
    assert changed[codes.INITIAL_WINDOW_SIZE].new_value == 100_000
    assert changed[codes.ENABLE_CONNECT_PROTOCOL].new_value == 1  # RFC 8441 §3
    # The connection window was opened beyond the 65535 default.
    assert pair.client.outbound_flow_control_window == H2Settings().connection_window_size
    assert PREFACE == b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def test_request_headers_split_pseudo_fields() -> None:
    pair = Pair()
    pair.client.send_headers(1, REQUEST, end_stream=True)
    (event,) = pair.pump()
    assert isinstance(event, H2RequestReceived)
    assert event.stream_id == 1 and event.end_stream
    req = event.request
    assert (req.method, req.path, req.scheme, req.authority) == (
        b"POST",
        b"/upload?x=1",
        b"http",
        b"example.com",
    )
    assert req.headers == [(b"user-agent", b"test")]
    assert pair.server.active_stream_count == 1
    assert pair.server.stream_ended(1)


def test_body_connection_window_prompt_stream_window_on_consumption() -> None:
    pair = Pair(H2Settings(initial_window_size=65535))
    pair.client.send_headers(1, REQUEST)
    pair.pump()
    conn_before = pair.client.outbound_flow_control_window
    for _ in range(4):
        pair.client.send_data(1, b"x" * 10000)
    events = pair.pump()
    assert [type(e) for e in events] == [H2BodyReceived] * 4
    assert b"".join(e.data for e in events) == b"x" * 40000
    assert not any(e.end_stream for e in events)
    # Connection window refilled at once (RFC 9113 §6.9), the stream's not yet.
    assert pair.client.outbound_flow_control_window == conn_before
    assert pair.client.local_flow_control_window(1) == 65535 - 40000
    pair.server.acknowledge_consumed(1, 40000)
    pair.pump()
    assert pair.client.local_flow_control_window(1) == 65535
    pair.client.send_data(1, b"end", end_stream=True)
    (last,) = pair.pump()
    assert isinstance(last, H2BodyReceived) and last.end_stream and last.data == b"end"


def test_trailers_are_a_separate_event() -> None:
    pair = Pair()
    pair.client.send_headers(1, REQUEST)
    pair.client.send_data(1, b"body")
    pair.client.send_headers(1, [(b"x-checksum", b"abc")], end_stream=True)
    events = pair.pump()
    assert [type(e) for e in events] == [H2RequestReceived, H2BodyReceived, H2TrailersReceived]
    assert events[0].request.headers == [(b"user-agent", b"test")]
    assert events[2].headers == [(b"x-checksum", b"abc")]
    assert pair.server.stream_ended(1)


def test_send_data_respects_peer_window() -> None:
    pair = Pair(initial_window_size=1000)
    pair.client.send_headers(1, REQUEST, end_stream=True)
    pair.pump()
    pair.server.send_response_headers(1, 200, [(b"content-type", b"text/plain")])
    assert pair.server.local_flow_control_window(1) == 1000
    assert pair.server.send_data(1, b"a" * 5000, end_stream=True) == 1000
    pair.pump()
    received = b"".join(e.data for e in pair.of(h2.events.DataReceived))
    assert received == b"a" * 1000
    assert not pair.of(h2.events.StreamEnded)
    pair.client.increment_flow_control_window(4000, 1)
    events = pair.pump()
    assert H2WindowUpdated(1) in events
    assert pair.server.send_data(1, b"a" * 4000, end_stream=True) == 4000
    pair.pump()
    assert b"".join(e.data for e in pair.of(h2.events.DataReceived)) == b"a" * 5000
    assert pair.of(h2.events.StreamEnded)


def test_client_reset() -> None:
    pair = Pair()
    pair.client.send_headers(1, REQUEST)
    pair.pump()
    pair.client.reset_stream(1, 8)
    events = pair.pump()
    assert events == [H2StreamReset(1, 8)]
    assert pair.server.active_stream_count == 0


def test_streams_beyond_the_limit_are_refused() -> None:
    pair = Pair(H2Settings(max_concurrent_streams=2))
    encoder = hpack.Encoder()
    for stream_id in (1, 3, 5):
        frame = HeadersFrame(stream_id, flags=["END_HEADERS", "END_STREAM"])
        frame.data = encoder.encode(REQUEST)
        events = pair.raw(frame.serialize())
        if stream_id < 5:
            assert isinstance(events[0], H2RequestReceived)
    assert events == []
    resets = [f for f in pair.server_frames if isinstance(f, RstStreamFrame)]
    assert [(r.stream_id, r.error_code) for r in resets] == [(5, REFUSED_STREAM)]
    # The connection lives on: stream 1 still answers.
    pair.server.send_response_headers(1, 200, [], end_stream=True)
    frames = parse_frames(pair.server.data_to_send())
    assert [(type(f), f.stream_id) for f in frames] == [(HeadersFrame, 1)]


def test_graceful_goaway_refuses_new_streams_and_finishes_old() -> None:
    pair = Pair()
    pair.client.send_headers(1, REQUEST)
    pair.pump()
    pair.server.close_connection()
    assert pair.server.is_closed
    pair.pump()
    (goaway,) = pair.of(h2.events.ConnectionTerminated)
    assert goaway.last_stream_id == 1 and goaway.error_code == 0
    # A stream the client opens anyway (raw frame: h2 would refuse after GOAWAY) is refused.
    frame = HeadersFrame(3, flags=["END_HEADERS", "END_STREAM"])
    frame.data = pair.client.encoder.encode(REQUEST)
    assert pair.raw(frame.serialize()) == []
    # Stream 1 still completes in both directions.
    body = DataFrame(1, b"late body", flags=["END_STREAM"])
    (event,) = pair.raw(body.serialize())
    assert isinstance(event, H2BodyReceived) and event.end_stream
    pair.server.send_response_headers(1, 200, [], end_stream=False)
    assert pair.server.send_data(1, b"ok", end_stream=True) == 2
    out = pair.server.data_to_send()
    assert b"ok" in out


def test_remote_goaway_event() -> None:
    pair = Pair()
    pair.client.close_connection()
    assert pair.pump() == [H2GoAway(0, 0)]
    assert pair.server.is_closed


def test_extended_connect_is_a_websocket_request() -> None:
    pair = Pair()
    pair.client.send_headers(
        1,
        [
            (b":method", b"CONNECT"),
            (b":protocol", b"websocket"),
            (b":scheme", b"http"),
            (b":path", b"/chat"),
            (b":authority", b"example.com"),
            (b"sec-websocket-version", b"13"),
        ],
    )
    (event,) = pair.pump()
    assert isinstance(event, H2WebSocketRequest)
    assert event.ws_path == b"/chat" and event.request.protocol == b"websocket"


def test_garbage_is_a_protocol_error() -> None:
    server = H2Connection()
    server.initiate_connection()
    server.data_to_send()
    (event,) = server.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert isinstance(event, H2ProtocolError) and event.error_code == PROTOCOL_ERROR
    assert server.receive_data(b"more") == []


def test_invalid_frame_gets_goaway_protocol_error() -> None:
    pair = Pair()
    # RFC 9113 §6.1: DATA on stream 0 is a connection error of type PROTOCOL_ERROR.
    (event,) = pair.raw(b"\x00\x00\x01\x00\x00\x00\x00\x00\x00x")
    assert isinstance(event, H2ProtocolError) and event.error_code == PROTOCOL_ERROR
    goaways = [f for f in pair.server_frames if isinstance(f, GoAwayFrame)]
    assert [g.error_code for g in goaways] == [PROTOCOL_ERROR]


def _assert_calm(pair: Pair, events: list[object]) -> None:
    assert events and isinstance(events[-1], H2ProtocolError), events
    assert events[-1].error_code == ENHANCE_YOUR_CALM
    (goaway,) = pair.of(h2.events.ConnectionTerminated)
    assert goaway.error_code == ENHANCE_YOUR_CALM


def test_rapid_reset_is_stopped() -> None:
    pair = Pair(H2Settings(max_concurrent_streams=10))
    limit = FloodLimits().resets
    encoder = hpack.Encoder()
    events: list[object] = []
    for i in range(limit + 5):
        stream_id = 1 + 2 * i
        frame = HeadersFrame(stream_id, flags=["END_HEADERS"])
        frame.data = encoder.encode(REQUEST)
        rst = RstStreamFrame(stream_id)
        rst.error_code = 8
        events = pair.raw(frame.serialize() + rst.serialize())
        if events and isinstance(events[-1], H2ProtocolError):
            break
    assert i == limit  # the first reset over the limit
    _assert_calm(pair, events)


def test_resets_spread_over_time_are_fine() -> None:
    pair = Pair()
    encoder = hpack.Encoder()
    for i in range(600):
        pair.clock.now += 0.01  # 100 resets per second
        stream_id = 1 + 2 * i
        frame = HeadersFrame(stream_id, flags=["END_HEADERS"])
        frame.data = encoder.encode(REQUEST)
        rst = RstStreamFrame(stream_id)
        rst.error_code = 8
        events = pair.raw(frame.serialize() + rst.serialize())
        assert not any(isinstance(e, H2ProtocolError) for e in events)


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(lambda: SettingsFrame(0, settings={}), id="settings"),
        pytest.param(lambda: PingFrame(0, opaque_data=b"12345678"), id="ping"),
        pytest.param(lambda: WindowUpdateFrame(0, window_increment=1), id="window-update"),
        pytest.param(lambda: PriorityFrame(1, depends_on=0, stream_weight=10), id="priority"),
    ],
)
def test_control_frame_floods(frame) -> None:
    pair = Pair()
    events = pair.raw(frame().serialize() * 3000)
    _assert_calm(pair, events)


def test_moderate_control_frames_are_fine() -> None:
    pair = Pair()
    events = pair.raw(PingFrame(0, opaque_data=b"12345678").serialize() * 50)
    assert not any(isinstance(e, H2ProtocolError) for e in events)
    assert len(pair.of(h2.events.PingAckReceived)) == 50


def test_empty_data_flood() -> None:
    pair = Pair()
    pair.client.send_headers(1, REQUEST)
    pair.pump()
    events = pair.raw(DataFrame(1, b"").serialize() * 500)
    _assert_calm(pair, events)


def test_hpack_bomb() -> None:
    """A header block that decodes past SETTINGS_MAX_HEADER_LIST_SIZE (RFC 9113 §10.5.1)."""
    pair = Pair(H2Settings(max_header_list_size=4096))
    encoder = hpack.Encoder()
    # One big value, indexed once, then referenced many times: small on the wire.
    block = encoder.encode([*REQUEST, (b"x-bomb", b"a" * 3000)])
    frame = HeadersFrame(1, flags=["END_HEADERS", "END_STREAM"])
    frame.data = block
    pair.raw(frame.serialize())
    bomb = encoder.encode([*REQUEST, *([(b"x-bomb", b"a" * 3000)] * 100)])
    assert len(bomb) < 1000
    frame = HeadersFrame(3, flags=["END_HEADERS", "END_STREAM"])
    frame.data = bomb
    events = pair.raw(frame.serialize())
    assert isinstance(events[-1], H2ProtocolError)
    assert events[-1].error_code == ENHANCE_YOUR_CALM


def test_continuation_flood() -> None:
    pair = Pair(H2Settings(max_header_list_size=8192))
    frame = HeadersFrame(1)  # no END_HEADERS: CONTINUATION frames follow
    frame.data = hpack.Encoder().encode(REQUEST)
    data = frame.serialize()
    cont = ContinuationFrame(1)
    cont.data = b"\x00" * 1000
    events = pair.raw(data + cont.serialize() * 20)
    assert isinstance(events[-1], H2ProtocolError)
    assert events[-1].error_code in (ENHANCE_YOUR_CALM, PROTOCOL_ERROR)
    assert pair.of(h2.events.ConnectionTerminated)


def test_continuation_flood_frame_count() -> None:
    pair = Pair()
    frame = HeadersFrame(1)
    frame.data = hpack.Encoder().encode(REQUEST)
    cont = ContinuationFrame(1)
    events = pair.raw(frame.serialize() + cont.serialize() * 100)
    assert isinstance(events[-1], H2ProtocolError)
    assert pair.of(h2.events.ConnectionTerminated)


def test_upgrade_settings_header() -> None:
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    header = client.initiate_upgrade_connection()
    server = H2Connection()
    assert server.initiate_upgrade_connection(header)
    assert server.active_stream_count == 1 and server.stream_ended(1)
    assert not H2Connection().initiate_upgrade_connection(b"!!not base64!!")


def test_connection_credit_held_while_too_much_is_unread() -> None:
    """Stalled streams together may not buffer more than the connection window."""
    pair = Pair(H2Settings(initial_window_size=65535, connection_window_size=100_000))
    start = pair.client.outbound_flow_control_window
    for sid in (1, 3):
        pair.client.send_headers(sid, REQUEST)
        for _ in range(4):
            pair.client.send_data(sid, b"x" * 16000)
        pair.pump()
    # 128000 bytes unread: credit for the last 32000 (past 100000) is held back.
    assert pair.client.outbound_flow_control_window == start - 32000
    assert pair.server.credit_held  # (a stalled body is then not the client's fault)
    pair.server.acknowledge_consumed(1, 64000)
    pair.pump()
    assert pair.client.outbound_flow_control_window == start
    assert not pair.server.credit_held
    # A reset stream's unread body is forgotten as well.
    pair.client.send_data(1, b"y" * 1000)
    pair.pump()
    pair.server.reset_stream(3, 8)
    pair.pump()
    assert pair.client.outbound_flow_control_window == start


# The header block in progress (--timeout-request-header) --------------------------------------


def _opened(core: type) -> object:
    server = core(H2Settings())
    server.initiate_connection()
    server.data_to_send()
    assert server.receive_data(PREFACE + SettingsFrame(0).serialize()) == []
    server.data_to_send()
    return server


def test_head_pending_names_the_stream_of_an_unfinished_header_block(h2_core) -> None:
    server = _opened(h2_core)
    encoder = hpack.Encoder()
    block = encoder.encode(REQUEST)
    first = HeadersFrame(1, flags=["END_STREAM"])  # no END_HEADERS: CONTINUATION follows
    first.data = block[:5]
    last = ContinuationFrame(1, flags=["END_HEADERS"])
    last.data = block[5:]
    wire = first.serialize() + last.serialize()
    assert server.head_pending == 0
    server.receive_data(wire[:8])  # not yet a whole frame header: type and stream unknown
    assert server.head_pending == 0
    server.receive_data(wire[8:12])  # a HEADERS frame in part
    assert server.head_pending == 1
    split = len(first.serialize())
    server.receive_data(wire[12:split])  # HEADERS without END_HEADERS, whole
    assert server.head_pending == 1
    server.receive_data(wire[split : split + 10])  # a CONTINUATION in part
    assert server.head_pending == 1
    events = server.receive_data(wire[split + 10 :])
    assert server.head_pending == 0
    assert [type(e) for e in events] == [H2RequestReceived]
    # A DATA frame in part is no header block, nor is a HEADERS frame on an even stream (a
    # connection error once it is whole, RFC 9113 §5.1.1).
    data = DataFrame(3, data=b"x" * 20)
    server.receive_data(data.serialize()[:15])
    assert server.head_pending == 0
    server = _opened(h2_core)
    even = HeadersFrame(4, flags=["END_HEADERS"])
    even.data = hpack.Encoder().encode(REQUEST)
    assert server.receive_data(even.serialize()[:12]) == []
    assert server.head_pending == 0


def test_abandoned_head_gets_its_status_and_goaway_then_nothing_is_read(h2_core) -> None:
    server = _opened(h2_core)
    encoder = hpack.Encoder()
    done = HeadersFrame(1, flags=["END_HEADERS"])  # stream 1 stays open (a body follows)
    done.data = encoder.encode(REQUEST)
    assert [type(e) for e in server.receive_data(done.serialize())] == [H2RequestReceived]
    server.data_to_send()
    stuck = HeadersFrame(3)
    stuck.data = encoder.encode(REQUEST)
    server.receive_data(stuck.serialize())
    assert server.head_pending == 3
    server.abandon_head(408)
    assert server.head_pending == 0
    out = parse_frames(server.data_to_send())
    assert [type(f) for f in out] == [HeadersFrame, GoAwayFrame]
    assert out[0].stream_id == 3
    assert out[0].flags == {"END_STREAM", "END_HEADERS"}
    assert hpack.Decoder().decode(out[0].data, raw=True) == [(b":status", b"408")]
    assert (out[1].last_stream_id, out[1].error_code) == (3, 0)
    assert server.is_closed
    # The rest of the block, and anything after it, is not read.
    cont = ContinuationFrame(3, flags=["END_HEADERS"])
    assert server.receive_data(cont.serialize()) == []
    # Stream 1 may still finish its response.
    server.send_response_headers(1, 200, [])
    server.send_data(1, b"ok", end_stream=True)
    assert [type(f) for f in parse_frames(server.data_to_send())] == [HeadersFrame, DataFrame]


def test_abandoned_trailers_block_gets_only_goaway(h2_core) -> None:
    server = _opened(h2_core)
    encoder = hpack.Encoder()
    head = HeadersFrame(1, flags=["END_HEADERS"])
    head.data = encoder.encode(REQUEST)
    server.receive_data(head.serialize())
    server.data_to_send()
    trailers = HeadersFrame(1, flags=["END_STREAM"])  # trailers, unfinished
    trailers.data = encoder.encode([(b"x-checksum", b"1")])
    server.receive_data(trailers.serialize())
    assert server.head_pending == 1
    server.abandon_head(408)  # (the protocol answers stream 1 itself)
    out = parse_frames(server.data_to_send())
    assert [type(f) for f in out] == [GoAwayFrame]
    assert (out[0].last_stream_id, out[0].error_code) == (1, 0)


# Frames on closed streams and self-dependencies (h2spec 5.1 closed / 8, 9, 12; 5.3.1 / 2) -----


def _answers(server: object, data: bytes) -> tuple[list[object], list[tuple[str, int, int]]]:
    """The server's events for ``data`` and the frames it sends back, as (type, stream,
    error code or increment)."""
    events = server.receive_data(data)  # type: ignore[attr-defined]
    out = []
    for f in parse_frames(server.data_to_send()):  # type: ignore[attr-defined]
        if isinstance(f, RstStreamFrame):
            out.append(("RST_STREAM", f.stream_id, f.error_code))
        elif isinstance(f, GoAwayFrame):
            out.append(("GOAWAY", f.last_stream_id, f.error_code))
        elif isinstance(f, WindowUpdateFrame):
            out.append(("WINDOW_UPDATE", f.stream_id, f.window_increment))
        else:
            out.append((type(f).__name__, f.stream_id, 0))
    return events, out


def _headers(encoder: hpack.Encoder, stream_id: int, end_stream: bool) -> bytes:
    frame = HeadersFrame(stream_id, flags=["END_HEADERS"] + (["END_STREAM"] if end_stream else []))
    frame.data = encoder.encode(REQUEST)
    return frame.serialize()


def _reset_by_client(core: type) -> tuple[object, hpack.Encoder]:
    """Stream 1 opened (its body not ended), then reset by the client."""
    server = _opened(core)
    encoder = hpack.Encoder()
    assert [type(e) for e in server.receive_data(_headers(encoder, 1, False))] == [
        H2RequestReceived
    ]
    rst = RstStreamFrame(1)
    rst.error_code = CANCEL
    assert _answers(server, rst.serialize()) == ([H2StreamReset(1, CANCEL)], [])
    return server, encoder


def test_data_after_the_clients_rst_stream_is_a_stream_error(h2_core) -> None:
    # h2spec 5.1 closed / 8. RFC 9113 §5.1 "closed" (RFC 7540 §5.1: a frame other than
    # PRIORITY after RST_STREAM is a stream error STREAM_CLOSED; §6.1 for DATA).
    server, encoder = _reset_by_client(h2_core)
    events, sent = _answers(server, DataFrame(1, data=b"test", flags=["END_STREAM"]).serialize())
    assert events == []
    # The DATA still counts against the connection window (§6.9): the compiled h2_core returns
    # that credit at once, h2 once half its window is used.
    credit = [("WINDOW_UPDATE", 0, 4)] if h2_core is not H2ConnectionPy else []
    assert sent == [("RST_STREAM", 1, STREAM_CLOSED), *credit]
    # The connection lives on.
    assert [type(e) for e in server.receive_data(_headers(encoder, 3, True))] == [H2RequestReceived]


def test_headers_after_the_clients_rst_stream_is_a_stream_error(h2_core) -> None:
    # h2spec 5.1 closed / 9: the same rule for HEADERS (its block still updates the HPACK
    # state, §4.3: the next request decodes).
    server, encoder = _reset_by_client(h2_core)
    assert _answers(server, _headers(encoder, 1, True)) == (
        [],
        [("RST_STREAM", 1, STREAM_CLOSED)],
    )
    assert [type(e) for e in server.receive_data(_headers(encoder, 3, True))] == [H2RequestReceived]


def test_frames_after_crossing_resets_are_a_stream_error(h2_core) -> None:
    # The server answered stream 1 in full and reset it (RST_STREAM(NO_ERROR), RFC 9113 §8.1:
    # the request body is not needed) while the client's RST_STREAM was on its way. Once that
    # has arrived, the client has closed the stream itself, and a later frame is a stream
    # error STREAM_CLOSED as in the two tests above, not a frame in flight to be dropped.
    server = _opened(h2_core)
    encoder = hpack.Encoder()
    server.receive_data(_headers(encoder, 1, False))
    server.send_response_headers(1, 200, [], end_stream=True)
    server.reset_stream(1, 0)
    server.remove_stream(1)
    assert _answers(server, b"")[1] == [("HeadersFrame", 1, 0), ("RST_STREAM", 1, 0)]
    # A frame the client sent before it saw the reset is dropped (§5.1 "closed").
    assert _answers(server, DataFrame(1, data=b"in flight").serialize())[1] in (
        [("WINDOW_UPDATE", 0, 9)],  # compiled: the connection credit, at once
        [("RST_STREAM", 1, STREAM_CLOSED)],  # h2 answers it as well
    )
    rst = RstStreamFrame(1)
    rst.error_code = CANCEL
    assert _answers(server, rst.serialize()) == ([], [])
    assert _answers(server, _headers(encoder, 1, True)) == ([], [("RST_STREAM", 1, STREAM_CLOSED)])


def test_headers_on_a_stream_closed_normally_is_a_connection_error(h2_core) -> None:
    # h2spec 5.1 closed / 12: END_STREAM both ways closed stream 1; HEADERS on it is a
    # connection error STREAM_CLOSED (RFC 9113 §5.1 "closed" allows it, RFC 7540 required it).
    server = _opened(h2_core)
    encoder = hpack.Encoder()
    server.receive_data(_headers(encoder, 1, True))
    server.send_response_headers(1, 200, [], end_stream=True)
    server.remove_stream(1)
    server.data_to_send()
    events, sent = _answers(server, _headers(encoder, 1, True))
    assert len(events) == 1 and isinstance(events[0], H2ProtocolError)
    assert events[0].error_code == STREAM_CLOSED
    assert sent == [("GOAWAY", 1, STREAM_CLOSED)]


def test_priority_making_an_idle_stream_depend_on_itself_is_an_error(h2_core) -> None:
    # h2spec 5.3.1 / 2. §5.3.1: a stream error PROTOCOL_ERROR; for an idle stream (no
    # RST_STREAM may name one, §6.4) both cores make it a connection error (§5.4.1).
    server = _opened(h2_core)
    events, sent = _answers(server, PriorityFrame(1, depends_on=1, stream_weight=255).serialize())
    assert len(events) == 1 and isinstance(events[0], H2ProtocolError)
    assert events[0].error_code == PROTOCOL_ERROR
    assert sent == [("GOAWAY", 0, PROTOCOL_ERROR)]


def test_drain_ping_is_a_ping_alone_and_only_its_ack_counts(h2_core) -> None:
    """Shutdown's PING before the GOAWAY (H2Protocol.shutdown): a PING and no GOAWAY; only
    the ACK of that PING sets drain_acked, and a new drain_ping() clears it."""
    server = _opened(h2_core)
    assert not server.drain_acked
    server.drain_ping()
    (ping,) = parse_frames(server.data_to_send())
    assert isinstance(ping, PingFrame) and "ACK" not in ping.flags
    assert not server.is_closed
    other = PingFrame(0, opaque_data=b"otherone", flags=["ACK"]).serialize()
    assert server.receive_data(other) == []
    assert not server.drain_acked
    ack = PingFrame(0, opaque_data=ping.opaque_data, flags=["ACK"]).serialize()
    assert server.receive_data(ack) == []
    assert server.drain_acked
    assert server.data_to_send() == b""  # an ACK is not answered
    server.drain_ping()
    assert not server.drain_acked
    assert [type(f) for f in parse_frames(server.data_to_send())] == [PingFrame]
