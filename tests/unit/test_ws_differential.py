"""The compiled WebSocket frame core and the wsproto-backed twin, fed identical client bytes,
agree.

Hypothesis generates client byte streams (RFC 6455 §5): messages in one frame or fragmented,
text split inside its UTF-8 characters, control frames between the fragments, and frames that
break a rule: bad opcodes, RSV bits without an extension, unmasked frames, fragmented or
oversize control frames, lengths not minimally encoded or with the high bit set, continuation
without a message, a new message inside one, text that is not UTF-8, close frames with one
byte, with codes that may not be sent or with a reason that is not UTF-8, and messages over
``max_size`` (some announced by a header alone). The stream is cut at random points and each
piece goes to both cores: each call must return the same events, and a failure the same close
code (the reason is each core's own text). Frames the server sends are compared byte for byte.
permessage-deflate is not compared: the compiled core declines it (see ``core.open_core``).
"""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pounce.websocket.core import WsprotoCore
from pounce.websocket.frames import ConnectionClosed, Failure
from tests.conftest import compiled_module

FrameCoreC = compiled_module("_ws").FrameCore

pytestmark = pytest.mark.timeout(120)

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
# RFC 6455 §7.4: codes a client may send, and codes it may not (1004 reserved, 1005/1006/1015
# local-only, 1014 and 1016-2999 unassigned, under 1000 and over 4999 out of range).
GOOD_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 3000, 4999]
BAD_CODES = [0, 999, 1004, 1005, 1006, 1014, 1015, 1016, 2999, 5000, 65535]


def frame(
    opcode: int,
    payload: bytes,
    *,
    fin: bool = True,
    rsv: int = 0,
    masked: bool = True,
    key: bytes = b"\x01\x02\x03\x04",
    wide: int = 0,
    length: int | None = None,
) -> bytes:
    """A client frame; ``wide`` 2 or 8 forces that many length bytes (not minimal when the
    payload is short); ``length`` announces a length other than the payload's."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    mask_bit = 0x80 if masked else 0
    if wide == 8 or n > 0xFFFF:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", n)
    elif wide == 2 or n > 125:
        head += bytes([mask_bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mask_bit | n])
    if not masked:
        return head + payload
    return head + key + bytes(b ^ key[i & 3] for i, b in enumerate(payload))


keys = st.binary(min_size=4, max_size=4)


@st.composite
def message(draw: Any) -> list[bytes]:
    """One message, maybe fragmented, with control frames between its fragments."""
    text = draw(st.booleans())
    if text:
        data = draw(st.text(max_size=40)).encode("utf-8")
        if draw(st.integers(0, 9)) == 0:
            data += draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90"]))
    else:
        data = draw(st.binary(max_size=90))
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=3)))
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    frames: list[bytes] = []
    for i, piece in enumerate(pieces):
        opcode = (TEXT if text else BINARY) if i == 0 else CONT
        frames.append(frame(opcode, piece, fin=i == len(pieces) - 1, key=draw(keys)))
        if i < len(pieces) - 1 and draw(st.booleans()):
            frames.append(frame(draw(st.sampled_from([PING, PONG])), draw(st.binary(max_size=8))))
    return frames


@st.composite
def close_frame(draw: Any) -> bytes:
    kind = draw(st.integers(0, 5))
    if kind == 0:
        payload = b""
    elif kind == 1:
        payload = b"\x03"  # one byte: no room for a code
    else:
        code = draw(st.sampled_from(GOOD_CODES if kind < 4 else BAD_CODES))
        reason = draw(st.text(max_size=20)).encode("utf-8")[:100]
        if kind == 3:
            reason += b"\xc0\xaf"  # not UTF-8
        payload = struct.pack("!H", code) + reason
    return frame(CLOSE, payload, key=draw(keys))


@st.composite
def odd_frame(draw: Any) -> bytes:
    """A frame that is wrong on its own, or right but out of place."""
    kind = draw(st.integers(0, 10))
    payload = draw(st.binary(max_size=20))
    if kind == 0:
        return frame(draw(st.sampled_from([3, 4, 5, 6, 7, 11, 12, 13, 14, 15])), payload)
    if kind == 1:
        rsv = draw(st.integers(1, 7))
        return frame(draw(st.sampled_from([TEXT, BINARY, PING])), payload, rsv=rsv)
    if kind == 2:
        return frame(draw(st.sampled_from([BINARY, PING])), payload, masked=False)
    if kind == 3:
        return frame(draw(st.sampled_from([PING, PONG])), payload, fin=False)
    if kind == 4:
        return frame(PING, draw(st.binary(min_size=126, max_size=130)))
    if kind == 5:
        return frame(BINARY, payload, wide=draw(st.sampled_from([2, 8])))
    if kind == 6:  # a header alone announcing a huge payload, or one with the top bit set
        n = draw(st.sampled_from([1 << 40, (1 << 63) + 5, 70_000]))
        return frame(BINARY, b"", length=n)
    if kind == 7:
        return frame(CONT, payload, fin=draw(st.booleans()))
    if kind == 8:  # an unfinished message start (a new message after it is an error)
        return frame(draw(st.sampled_from([TEXT, BINARY])), payload.hex().encode(), fin=False)
    if kind == 9:
        return frame(BINARY, draw(st.binary(min_size=60, max_size=200)))  # around max_size
    return frame(draw(st.sampled_from([PING, PONG])), payload)


streams = st.lists(
    st.one_of(message(), message(), close_frame(), odd_frame()).map(
        lambda f: b"".join(f) if isinstance(f, list) else f
    ),
    max_size=8,
).map(b"".join)


def feed(core: Any, pieces: list[bytes]) -> list[list[Any]]:
    """The events of each piece; after the core stops reading, "closed"."""
    out: list[list[Any]] = []
    for piece in pieces:
        try:
            events = core.receive_data(piece)
        except ConnectionClosed:
            out.append(["closed"])
            break
        # A failure's reason is each core's own wording: compare its code.
        out.append([("failure", e.code) if type(e) is Failure else e for e in events])
    return out


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    stream=streams,
    cuts=st.lists(st.integers(0, 2000), max_size=8),
    max_size=st.sampled_from([64, 100, 1 << 20]),
)
def test_cores_agree_on_client_streams(stream: bytes, cuts: list[int], max_size: int) -> None:
    points = sorted({c % (len(stream) + 1) for c in cuts})
    pieces = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    pieces.append(b"")  # one more call: after a close or failure it must raise
    assert feed(FrameCoreC(max_size), pieces) == feed(WsprotoCore(max_size), pieces)


@settings(max_examples=200, deadline=None)
@given(
    data=st.one_of(st.binary(max_size=70_000), st.text(max_size=300)),
    ping=st.binary(max_size=125),
    code=st.sampled_from([1000, 1001, 1005, 1006, 1009, 1011, 1015, 4000]),
    reason=st.text(max_size=80),
)
def test_cores_build_the_same_frames(data: Any, ping: bytes, code: int, reason: str) -> None:
    fast, slow = FrameCoreC(1 << 20), WsprotoCore(1 << 20)
    assert fast.send_message(data) == slow.send_message(data)
    assert fast.send_ping(ping) == slow.send_ping(ping)
    assert fast.send_pong(ping) == slow.send_pong(ping)
    if code == 1005:
        reason = ""  # a close without a code has no reason (RFC 6455 §5.5.1)
    assert not fast.close_sent and not slow.close_sent
    assert fast.send_close(code, reason) == slow.send_close(code, reason)
    assert fast.close_sent and slow.close_sent
    assert fast.send_close(code, reason) == slow.send_close(code, reason) == b""
    assert fast.send_pong(ping) == slow.send_pong(ping) == b""
    assert fast.send_message(data) == slow.send_message(data) == b""


def test_nothing_is_sent_after_the_client_close() -> None:
    close = frame(CLOSE, struct.pack("!H", 1000))
    for core in (FrameCoreC(100), WsprotoCore(100)):
        assert core.receive_data(close)[0].code == 1000
        assert core.send_message("late") == core.send_ping(b"") == core.send_pong(b"") == b""
        assert core.send_close(1000, "") == b"\x88\x02\x03\xe8"  # the echo (RFC 6455 §5.5.1)
        assert core.close_sent
        with pytest.raises(ConnectionClosed):
            core.receive_data(b"")


def test_compiled_core_declines_deflate() -> None:
    offer = ["permessage-deflate; client_max_window_bits"]
    assert FrameCoreC(100).negotiate(offer) is None
    assert WsprotoCore(100).negotiate(offer) is not None


def test_examples_fail_with_the_rfc_code() -> None:
    """A few streams with the code each must fail with (the test above only compares)."""
    cases = {
        frame(BINARY, b"x", rsv=4): 1002,  # §5.2: RSV1 without an extension
        frame(PING, b"", fin=False): 1002,  # §5.5: a fragmented control frame
        frame(PING, b"p" * 126): 1002,  # §5.5: a control frame over 125 bytes
        frame(CLOSE, struct.pack("!H", 1005)): 1002,  # §7.4.1: a local-only code
        frame(TEXT, b"\xff"): 1007,  # §8.1: not UTF-8
        frame(TEXT, b"ok\xed", fin=False) + frame(CONT, b"\xa0\x80"): 1007,  # a surrogate
        frame(BINARY, b"", length=1 << 40): 1009,  # from the header, no payload needed
        frame(BINARY, b"a" * 40, fin=False) + frame(CONT, b"b" * 40): 1009,
    }
    for stream, code in cases.items():
        for core in (FrameCoreC(64), WsprotoCore(64)):
            events = core.receive_data(stream)
            assert type(events[-1]) is Failure and events[-1].code == code, (stream, events)
