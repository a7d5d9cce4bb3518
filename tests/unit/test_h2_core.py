"""The compiled HTTP/2 core alone: the RFC 9113 rules where it answers differently from h2 (see
test_h2_differential.py), its framing limits, and random bytes (never anything but events or
a protocol error)."""

from __future__ import annotations

import struct

import hpack
from hypothesis import given, settings
from hypothesis import strategies as st

from pounce.http2.constants import CONNECTION_HEADERS, PREFACE, PROTOCOL_ERROR, STREAM_CLOSED
from pounce.http2.events import (
    H2BodyReceived,
    H2ProtocolError,
    H2RequestReceived,
    H2Settings,
    H2StreamReset,
    H2WebSocketRequest,
    H2WindowUpdated,
    RequestReceived,
)
from tests.conftest import compiled_module
from tests.h2support import frame

H2Connection = compiled_module("_h2").H2Connection

FLOW_CONTROL_ERROR = 0x3
FRAME_SIZE_ERROR = 0x6
COMPRESSION_ERROR = 0x9
GET = [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/"), (b":authority", b"x")]
POST = [(b":method", b"POST"), (b":scheme", b"http"), (b":path", b"/")]


def frames(data: bytes) -> list[tuple[int, int, int, bytes]]:
    out = []
    while len(data) >= 9:
        length = int.from_bytes(data[:3], "big")
        out.append((data[3], data[4], int.from_bytes(data[5:9], "big"), data[9 : 9 + length]))
        data = data[9 + length :]
    return out


class Client:
    def __init__(self, settings: H2Settings | None = None, client_settings: bytes = b"") -> None:
        self.server = H2Connection(settings)
        self.server.initiate_connection()
        self.server.data_to_send()
        self.encoder = hpack.Encoder()
        assert not any(
            isinstance(e, H2ProtocolError)
            for e in self.send(PREFACE + frame(0x4, 0, 0, client_settings))
        )

    def send(self, data: bytes) -> list[object]:
        return self.server.receive_data(data)

    def headers(self, sid: int, headers: list[tuple[bytes, bytes]], flags: int = 0x5) -> bytes:
        return frame(0x1, flags, sid, self.encoder.encode(headers))

    def sent(self) -> list[tuple[int, int, int, bytes]]:
        return frames(self.server.data_to_send())

    def resets(self) -> list[tuple[int, int]]:
        return [(sid, int.from_bytes(p, "big")) for t, _, sid, p in self.sent() if t == 0x3]


def error_code(events: list[object]) -> int:
    assert events and isinstance(events[-1], H2ProtocolError), events
    return events[-1].error_code


def test_request_and_body() -> None:
    c = Client()
    (req,) = c.send(c.headers(1, POST, flags=0x4))
    assert isinstance(req, H2RequestReceived) and not req.end_stream
    (body,) = c.send(frame(0x0, 0x1, 1, b"hello"))
    assert body == H2BodyReceived(1, b"hello", True)


def test_events_are_the_python_dataclasses_with_every_field_set() -> None:
    # The core fills the events' slots itself (no __init__ call): they must be complete.
    c = Client()
    (req,) = c.send(c.headers(1, [*GET, (b"cookie", b"a=1"), (b"x-a", b"b")]))
    assert type(req) is H2RequestReceived and type(req.request) is RequestReceived
    assert req == H2RequestReceived(
        1,
        RequestReceived(b"GET", b"/", b"http", b"x", [(b"x-a", b"b"), (b"cookie", b"a=1")]),
        True,
    )
    assert "stream_id=1" in repr(req)
    (ws,) = c.send(
        c.headers(3, [(b":method", b"CONNECT"), (b":protocol", b"websocket"), *GET[1:]], 0x4)
    )
    assert ws == H2WebSocketRequest(
        3, RequestReceived(b"CONNECT", b"/", b"http", b"x", [], b"websocket"), b"/", False
    )
    assert c.send(frame(0x3, 0, 3, b"\x00\x00\x00\x08")) == [H2StreamReset(3, 8)]


def test_closed_streams_are_remembered_up_to_a_limit() -> None:
    # §5.1 "closed": frames on a stream this side reset are dropped (they may have been in
    # flight), frames on a stream the client reset are a stream error STREAM_CLOSED, HEADERS
    # on a stream closed by END_STREAM both ways a connection error STREAM_CLOSED. Only the
    # last 1024 closed streams are remembered: an older one is answered as a stream that was
    # implicitly closed (DATA: RST_STREAM(STREAM_CLOSED), §6.1).
    c = Client()
    c.send(c.headers(1, POST, flags=0x4) + c.headers(3, POST, flags=0x4))
    c.server.reset_stream(1, 0x8)  # this side resets stream 1
    c.send(frame(0x3, 0, 3, b"\x00\x00\x00\x08"))  # the client resets stream 3
    c.sent()
    assert c.send(frame(0x0, 0, 1, b"late")) == []
    assert c.resets() == []
    assert c.send(frame(0x0, 0, 3, b"late")) == []
    assert c.resets() == [(3, STREAM_CLOSED)]
    for sid in range(5, 5 + 2 * 1024, 2):
        c.send(c.headers(sid, GET))
        c.server.send_response_headers(sid, 204, [], end_stream=True)
        c.server.remove_stream(sid)
    c.sent()
    # Streams 1 and 3 are forgotten now: DATA on them is a stream error STREAM_CLOSED.
    assert c.send(frame(0x0, 0, 1, b"late") + frame(0x0, 0, 3, b"late")) == []
    assert c.resets() == [(1, STREAM_CLOSED), (3, STREAM_CLOSED)]
    # Streams closed normally and still remembered, the newest (2051) and the oldest (5: found
    # only after the lookup wraps around the ring): DATA is a stream error STREAM_CLOSED
    # (§6.1), HEADERS a connection error STREAM_CLOSED (§5.1).
    assert c.send(frame(0x0, 0, 2051, b"late")) == []
    assert c.resets() == [(2051, STREAM_CLOSED)]
    assert error_code(c.send(c.headers(5, GET))) == STREAM_CLOSED
    # Forgotten: HEADERS on it is a reused stream id (§5.1.1), a connection error.
    c = Client()
    c.send(c.headers(1, POST, flags=0x4) + frame(0x3, 0, 1, b"\x00\x00\x00\x08"))
    for sid in range(3, 3 + 2 * 1024, 2):
        c.send(c.headers(sid, GET))
        c.server.reset_stream(sid, 0x8)
    c.sent()
    assert c.send(c.headers(3, GET)) == []  # the oldest one remembered: reset here, dropped
    assert c.resets() == []
    assert error_code(c.send(c.headers(1, GET))) == PROTOCOL_ERROR


def test_stray_continuation_is_a_connection_error() -> None:
    c = Client()
    assert error_code(c.send(frame(0x9, 0x4, 1, b"\x82"))) == PROTOCOL_ERROR  # §6.10


def test_interrupted_header_block_is_a_connection_error() -> None:
    c = Client()
    events = c.send(c.headers(1, GET, flags=0x1) + frame(0x6, 0, 0, b"12345678"))
    assert error_code(events) == PROTOCOL_ERROR  # §6.10: CONTINUATION must follow


def test_invalid_repeated_setting() -> None:
    c = Client()
    payload = struct.pack(">HIHI", 0x4, 2**31, 0x4, 65535)
    assert error_code(c.send(frame(0x4, 0, 0, payload))) == FLOW_CONTROL_ERROR  # §6.5.2


def test_self_dependency_is_a_stream_error() -> None:
    c = Client()
    block = c.encoder.encode(GET)
    events = c.send(frame(0x1, 0x25, 1, struct.pack(">IB", 1, 15) + block))
    assert events == []
    assert c.resets() == [(1, PROTOCOL_ERROR)]  # §5.3.1; the connection lives on
    assert isinstance(c.send(c.headers(3, GET))[0], H2RequestReceived)
    # A PRIORITY frame making an open stream depend on itself: the same stream error (h2
    # ends the connection); on a stream that is not open, see test_h2connection.py.
    c.send(c.headers(5, POST, flags=0x4))
    c.sent()
    assert c.send(frame(0x2, 0, 5, struct.pack(">IB", 5, 15))) == [H2StreamReset(5, PROTOCOL_ERROR)]
    assert c.resets() == [(5, PROTOCOL_ERROR)]


def test_trailers_without_end_stream_reset_the_stream() -> None:
    c = Client()
    c.send(c.headers(1, POST, flags=0x4))
    events = c.send(c.headers(3, POST, flags=0x4) + c.headers(1, [(b"x", b"y")], flags=0x4))
    assert events[-1] == H2StreamReset(1, PROTOCOL_ERROR)  # §8.1
    assert c.server.active_stream_count == 1


def test_content_length_mismatch_resets_the_stream() -> None:
    c = Client()
    c.send(c.headers(1, [*POST, (b"content-length", b"3")], flags=0x4))
    events = c.send(frame(0x0, 0x1, 1, b"toolong"))
    assert events == [H2StreamReset(1, PROTOCOL_ERROR)]  # §8.1.1


def test_connection_specific_fields_from_the_shared_constant() -> None:
    # §8.2.2: the core checks the names of pounce.http2.constants.CONNECTION_HEADERS (a table built
    # at import, filtered by first byte plus length): each of them resets the request; a name
    # that shares a length, a first byte and length, or only a prefix with one does not.
    c = Client()
    sid = 1
    for name in sorted(CONNECTION_HEADERS):
        assert c.send(c.headers(sid, [*GET, (name, b"x")])) == [], name
        assert c.resets() == [(sid, PROTOCOL_ERROR)], name
        sid += 2
    near = [b"connectiom", b"user-agent", b"keep-alivf", b"bbbbbbbbbbb", b"upgrad", b"upgrades"]
    near += [b"te-" + name for name in sorted(CONNECTION_HEADERS)]
    for name in near:
        (req,) = c.send(c.headers(sid, [*GET, (name, b"x")]))
        assert isinstance(req, H2RequestReceived) and req.request.headers == [(name, b"x")], name
        sid += 2


def test_data_on_half_closed_stream() -> None:
    c = Client()
    c.send(c.headers(1, GET))
    assert c.send(frame(0x0, 0, 1, b"x")) == [H2StreamReset(1, STREAM_CLOSED)]  # §5.1


def test_frame_after_error_goaway() -> None:
    c = Client()
    c.send(frame(0x7, 0, 0, struct.pack(">II", 0, 2)))
    assert error_code(c.send(frame(0x6, 0, 0, b"12345678"))) == PROTOCOL_ERROR


def test_bad_hpack_is_a_compression_error() -> None:
    c = Client()
    assert error_code(c.send(frame(0x1, 0x5, 1, b"\xff\xff\xff\xff"))) == COMPRESSION_ERROR


def test_oversized_frame() -> None:
    c = Client()
    assert error_code(c.send(frame(0x0, 0, 1, b"x" * 16385))) == FRAME_SIZE_ERROR  # §4.2


def test_window_overflow() -> None:
    c = Client()
    inc = struct.pack(">I", 2**31 - 1)
    assert error_code(c.send(frame(0x8, 0, 0, inc))) == FLOW_CONTROL_ERROR  # §6.9.1


def test_stream_window_overflow_and_zero_increment_are_stream_errors() -> None:
    c = Client()
    c.send(c.headers(1, GET) + c.headers(3, GET))
    c.sent()
    events = c.send(
        frame(0x8, 0, 1, struct.pack(">I", 2**31 - 1)) + frame(0x8, 0, 3, struct.pack(">I", 0))
    )
    assert events == [H2StreamReset(1, FLOW_CONTROL_ERROR), H2StreamReset(3, PROTOCOL_ERROR)]


def test_initial_window_change_moves_open_streams() -> None:
    c = Client(client_settings=struct.pack(">HI", 0x4, 100))
    c.send(c.headers(1, GET))
    assert c.server.local_flow_control_window(1) == 100
    events = c.send(frame(0x4, 0, 0, struct.pack(">HI", 0x4, 300)))
    assert events == [H2WindowUpdated(0)]
    assert c.server.local_flow_control_window(1) == 300  # §6.9.2
    c.server.send_response_headers(1, 200, [])
    assert c.server.send_data(1, b"x" * 1000) == 300


def test_large_response_headers_use_continuation() -> None:
    c = Client()
    c.send(c.headers(1, GET))
    c.sent()
    c.server.send_response_headers(1, 200, [(b"x-big", b"v" * 40000)], end_stream=True)
    kinds = [(t, flags) for t, flags, _, _ in c.sent()]
    assert kinds[0] == (0x1, 0x1) and kinds[-1] == (0x9, 0x4)  # §6.10
    assert all(t == 0x9 for t, _ in kinds[1:])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=8))
def test_random_frames_give_events_or_a_protocol_error(chunks: list[bytes]) -> None:
    c = Client()
    for chunk in chunks:
        for event in c.send(chunk):
            assert type(event).__module__ == "pounce.http2.events"
    c.server.data_to_send()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 12), st.integers(0, 255), st.binary(max_size=40))))
def test_random_well_framed_input(parts: list[tuple[int, int, bytes]]) -> None:
    c = Client()
    for ftype, flags, payload in parts:
        sid = 1 if ftype in (0, 1, 2, 3, 9) else 0
        for event in c.send(frame(ftype, flags, sid, payload)):
            assert type(event).__module__ == "pounce.http2.events"
    c.server.data_to_send()
