"""Hypothesis strategies for HTTP/2 client byte streams: the preface, then frames (valid and
invalid) built with hyperframe and HPACK, sometimes raw bytes, cut at random points."""

from __future__ import annotations

import struct

import hpack
from hyperframe import frame as hf
from hypothesis import strategies as st

from pounce.http2.constants import PREFACE

STREAM_IDS = st.sampled_from([0, 1, 1, 3, 3, 5, 2, 7, 2**31 - 1])
REQUEST_HEADERS = [
    [(b":method", b"GET"), (b":path", b"/"), (b":scheme", b"http"), (b":authority", b"h")],
    [(b":method", b"POST"), (b":path", b"/p"), (b":scheme", b"https"), (b"content-length", b"3")],
    [
        (b":method", b"CONNECT"),
        (b":protocol", b"websocket"),
        (b":path", b"/ws"),
        (b":scheme", b"http"),
        (b":authority", b"h"),
        (b"sec-websocket-version", b"13"),
    ],
    [(b":method", b"GET"), (b":path", b"/")],  # missing :scheme
    [(b":path", b"/"), (b":method", b"GET"), (b":scheme", b"http"), (b":method", b"GET")],
    [(b":method", b"GET"), (b":path", b"/"), (b":scheme", b"http"), (b"connection", b"close")],
    [(b":method", b"GET"), (b":path", b"/"), (b":scheme", b"http"), (b"Upper", b"x")],
    [(b":method", b"GET"), (b":path", b"/"), (b":scheme", b"http"), (b"x", b"a\r\nb")],
    [(b"x", b"1"), (b":method", b"GET"), (b":path", b"/"), (b":scheme", b"http")],
    [(b":method", b"GET"), (b":path", b""), (b":scheme", b"http"), (b"te", b"gzip")],
    [(b"x-trailer", b"1")],
    [(b":status", b"200")],
]
FLAGS = st.sets(st.sampled_from(["END_STREAM", "END_HEADERS", "ACK", "PADDED", "PRIORITY"]))


def _raw_frame(ftype: int, flags: int, stream_id: int, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))[1:]
        + bytes([ftype, flags])
        + struct.pack(">I", stream_id)
        + payload
    )


@st.composite
def frame(draw: st.DrawFn, encoder: hpack.Encoder) -> bytes:
    kind = draw(
        st.sampled_from(
            [
                "headers",
                "headers",
                "data",
                "data",
                "settings",
                "window",
                "rst",
                "ping",
                "priority",
                "goaway",
                "continuation",
                "push",
                "raw",
                "unknown",
            ]
        )
    )
    sid = draw(STREAM_IDS)
    flags = draw(FLAGS)
    try:
        if kind == "headers":
            block = encoder.encode(draw(st.sampled_from(REQUEST_HEADERS)))
            if draw(st.integers(0, 9)) == 0:
                block = draw(st.binary(max_size=30))  # not HPACK at all
            f = hf.HeadersFrame(sid)
            f.data = block
            for flag in flags & {"END_STREAM", "END_HEADERS", "PRIORITY", "PADDED"}:
                f.flags.add(flag)
            if "END_HEADERS" not in flags and draw(st.booleans()):
                f.flags.add("END_HEADERS")
            if "PADDED" in f.flags:
                f.pad_length = draw(st.integers(0, 20))
            return f.serialize()
        if kind == "continuation":
            f = hf.ContinuationFrame(sid)
            f.data = encoder.encode([(b"x-more", b"1")])
            if draw(st.booleans()):
                f.flags.add("END_HEADERS")
            return f.serialize()
        if kind == "data":
            f = hf.DataFrame(sid)
            f.data = draw(st.binary(max_size=40))
            for flag in flags & {"END_STREAM", "PADDED"}:
                f.flags.add(flag)
            if "PADDED" in f.flags:
                f.pad_length = draw(st.integers(0, 20))
            return f.serialize()
        if kind == "settings":
            f = hf.SettingsFrame(0 if draw(st.integers(0, 5)) else sid)
            if "ACK" in flags:
                f.flags.add("ACK")
            else:
                f.settings = draw(
                    st.dictionaries(
                        st.sampled_from([1, 2, 3, 4, 5, 6, 8, 9, 0x99]),
                        st.sampled_from([0, 1, 100, 65535, 2**31, 2**32 - 1, 16383, 16384]),
                        max_size=3,
                    )
                )
            return f.serialize()
        if kind == "window":
            f = hf.WindowUpdateFrame(sid)
            f.window_increment = draw(st.sampled_from([0, 1, 1000, 2**31 - 1]))
            return f.serialize()
        if kind == "rst":
            f = hf.RstStreamFrame(sid)
            f.error_code = draw(st.sampled_from([0, 1, 8, 0xFFFF]))
            return f.serialize()
        if kind == "ping":
            f = hf.PingFrame(0 if draw(st.integers(0, 5)) else sid)
            f.opaque_data = b"12345678"
            if "ACK" in flags:
                f.flags.add("ACK")
            return f.serialize()
        if kind == "priority":
            f = hf.PriorityFrame(sid)
            f.depends_on = draw(st.sampled_from([0, 1, sid]))
            f.stream_weight = draw(st.integers(0, 255))
            return f.serialize()
        if kind == "goaway":
            f = hf.GoAwayFrame(0)
            f.last_stream_id = draw(st.sampled_from([0, 1, 2**31 - 1]))
            f.error_code = draw(st.sampled_from([0, 1, 2]))
            return f.serialize()
        if kind == "push":
            f = hf.PushPromiseFrame(sid)
            f.promised_stream_id = 2
            f.data = encoder.encode(REQUEST_HEADERS[0])
            f.flags.add("END_HEADERS")
            return f.serialize()
    except (ValueError, hf.InvalidDataError, struct.error):
        pass
    if kind == "unknown":
        return _raw_frame(0x42, 0, sid, draw(st.binary(max_size=10)))
    # Raw: any type, flags, stream id and payload, including lengths the frame type forbids.
    return _raw_frame(
        draw(st.integers(0, 10)), draw(st.integers(0, 255)), sid, draw(st.binary(max_size=20))
    )


@st.composite
def h2_stream(draw: st.DrawFn) -> list[bytes]:
    """The preface (usually intact), SETTINGS, then up to 12 frames, cut at random points."""
    encoder = hpack.Encoder()
    preface = PREFACE if draw(st.integers(0, 9)) else draw(st.binary(min_size=1, max_size=24))
    parts = [preface]
    if draw(st.integers(0, 4)):
        parts.append(hf.SettingsFrame(0).serialize())
    next_id = 1
    for _ in range(draw(st.integers(0, 12))):
        if draw(st.integers(0, 2)):
            parts.append(draw(frame(encoder)))
            continue
        # A well-formed request on the next client stream, so that streams get far enough
        # for the invalid frames around them to hit open, half-closed and closed states.
        head = hf.HeadersFrame(next_id)
        head.data = encoder.encode(draw(st.sampled_from(REQUEST_HEADERS[:3])))
        head.flags.add("END_HEADERS")
        body = draw(st.lists(st.binary(max_size=20), max_size=2))
        if not body:
            head.flags.add("END_STREAM")
        parts.append(head.serialize())
        for i, chunk in enumerate(body):
            data = hf.DataFrame(next_id)
            data.data = chunk
            if i == len(body) - 1:
                data.flags.add("END_STREAM")
            parts.append(data.serialize())
        next_id += 2
    if draw(st.integers(0, 9)) == 0:
        parts.append(draw(st.binary(max_size=40)))
    data = b"".join(parts)
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=4)))
    chunks, pos = [], 0
    for cut in [*cuts, len(data)]:
        if cut > pos:
            chunks.append(data[pos:cut])
            pos = cut
    return chunks
