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

permessage-deflate (RFC 7692) too: Hypothesis makes the client's offers (every parameter, with
and without values, out of range or not numbers, several offers, other extensions), both cores
must give the same answer, and then a client compressor from zlib (with the agreed window and
context takeover, or a wrong window) makes compressed messages, fragmented, with control frames
between the fragments, some inflating past ``max_size``, some corrupt, RSV1 where it may not be,
mixed with the streams above; after them the server's compressed messages must be identical.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pounce.websocket.core import WsprotoCore
from pounce.websocket.frames import ConnectionClosed, Failure, Ping, TextMessage
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


@settings(max_examples=100, deadline=None)
@given(data=st.one_of(st.binary(max_size=70_000), st.text(max_size=300)))
def test_message_parts_are_the_frame(data: Any) -> None:
    # send_message_parts: the frame in buffers to write in order (header and payload apart
    # for a binary message, the payload itself not copied), the same bytes as the twin's.
    fast, slow = FrameCoreC(1 << 20), WsprotoCore(1 << 20)
    parts = fast.send_message_parts(data)
    assert b"".join(parts) == b"".join(slow.send_message_parts(data)) == slow.send_message(data)
    if isinstance(data, bytes):
        assert len(parts) == 2 and parts[1] is data
    fast.send_close(1000, "")
    slow.send_close(1000, "")
    assert fast.send_message_parts(data) == slow.send_message_parts(data) == []


@pytest.mark.parametrize("size", [70_000, (1 << 20) + 5])
def test_a_large_frame_cut_by_reads(size: int) -> None:
    # A binary message in one frame that reads cut: the compiled core fills one bytes object of
    # its length up to 1 MiB (WHOLE_MAX in _ws.pyx), and grows a buffer as the bytes arrive
    # beyond; the same message either way, and the same as the twin's.
    payload = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    stream = frame(BINARY, payload, key=b"\x0f\xf0\x55\xaa")
    pieces = [stream[:3], stream[3:1000], stream[1000 : size // 2 + 1], stream[size // 2 + 1 :]]
    for core in (FrameCoreC(2 << 20), WsprotoCore(2 << 20)):
        events = [e for piece in pieces for e in core.receive_data(piece)]
        assert len(events) == 1 and events[0].data == payload


def test_receive_gives_messages_as_their_payloads() -> None:
    # frames.py's receive: a message is its payload alone (bytes, str), what the session reads;
    # receive_data wraps the same items in events (as_events), compared above.
    stream = frame(BINARY, b"one") + frame(PING, b"p") + frame(TEXT, "tw\u00f6".encode())
    for core in (FrameCoreC(100), WsprotoCore(100)):
        items = core.receive(stream[:5]) + core.receive(stream[5:])
        assert items == [b"one", Ping(b"p"), "tw\u00f6"]
        assert [type(i) for i in items] == [bytes, Ping, str]


def test_nothing_is_sent_after_the_client_close() -> None:
    close = frame(CLOSE, struct.pack("!H", 1000))
    for core in (FrameCoreC(100), WsprotoCore(100)):
        assert core.receive_data(close)[0].code == 1000
        assert core.send_message("late") == core.send_ping(b"") == core.send_pong(b"") == b""
        assert core.send_close(1000, "") == b"\x88\x02\x03\xe8"  # the echo (RFC 6455 §5.5.1)
        assert core.close_sent
        with pytest.raises(ConnectionClosed):
            core.receive_data(b"")


# permessage-deflate (RFC 7692) --------------------------------------------------------------

DEFLATE = "permessage-deflate"
# RFC 7692 §7.1 parameters, right and wrong: window bits out of 8..15 (wsproto takes 9..15),
# not numbers, a value where none belongs (wsproto ignores it), and a parameter it ignores.
PARAMETERS = [
    "client_no_context_takeover",
    "server_no_context_takeover",
    "client_max_window_bits",
    *(f"client_max_window_bits={b}" for b in (8, 9, 12, 15, 16)),
    "server_max_window_bits",
    *(f"server_max_window_bits={b}" for b in (8, 9, 11, 15, 16)),
    "client_max_window_bits=x",
    'server_max_window_bits="10"',
    "server_no_context_takeover=1",
    "unknown_parameter",
]
offer = st.lists(st.sampled_from(PARAMETERS), max_size=4).map(
    lambda params: "; ".join([DEFLATE, *params])
)
offer_lists = st.lists(
    st.one_of(
        offer,
        offer,
        st.just(DEFLATE),
        st.sampled_from(["x-webkit-deflate-frame", "permessage-deflat"]),
    ),
    min_size=1,
    max_size=3,
)


def agreement(core: WsprotoCore) -> Any:
    """The twin's extension with the agreed parameters (None without an agreement)."""
    return core._extensions[0] if core._extensions else None


class Client:
    """A client's compressor (RFC 7692 §7.2.1) for the agreed parameters; ``takeover`` keeps
    its window from one message to the next, which the client may unless it agreed
    client_no_context_takeover (§7.1.1.2)."""

    def __init__(self, bits: int, takeover: bool) -> None:
        self.bits = bits
        self.takeover = takeover
        self._compressor: Any = None

    def compress(self, data: bytes, *, strip: bool = True, bits: int | None = None) -> bytes:
        if bits is not None or self._compressor is None or not self.takeover:
            self._compressor = zlib.compressobj(wbits=-(bits or self.bits))
        body = self._compressor.compress(data) + self._compressor.flush(zlib.Z_SYNC_FLUSH)
        return body[:-4] if strip else body


@st.composite
def deflate_message(draw: Any, client: Client, max_size: int) -> list[bytes]:
    """A compressed message (RSV1 on its first frame), maybe fragmented with control frames
    between the fragments; some inflate past max_size (or to it, or one byte past), some are
    not UTF-8 or not deflate."""
    text = draw(st.booleans())
    kind = draw(st.integers(0, 11))
    if kind == 0:
        data = b"\x00" * draw(st.integers(60, 5000))  # a few bytes that inflate past max_size
    elif kind >= 7 and kind <= 9:  # the limit's edge: 1009 one byte past it (RFC 6455 §10.4)
        data = b"a" * (min(max_size, 200) + draw(st.integers(-1, 1)))
    elif text:
        data = draw(st.text(max_size=60)).encode("utf-8")
        if kind == 1:
            data += draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90"]))
    else:
        data = draw(st.binary(max_size=120))
    if kind == 2:
        body = draw(st.binary(min_size=1, max_size=30))  # not a deflate stream (mostly)
    elif kind == 3:
        body = client.compress(data, bits=15)  # a window larger than agreed: may not inflate
    else:
        body = client.compress(data, strip=kind != 4)  # the tail twice is an empty block
    cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=3)))
    pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    frames: list[bytes] = []
    for i, piece in enumerate(pieces):
        opcode = (TEXT if text else BINARY) if i == 0 else CONT
        # RSV1 on the first frame only (§6.1); now and then on a continuation too (1002).
        rsv = 4 if i == 0 or (kind == 5 and i == len(pieces) - 1) else 0
        frames.append(frame(opcode, piece, fin=i == len(pieces) - 1, rsv=rsv, key=draw(keys)))
        if i < len(pieces) - 1 and draw(st.booleans()):
            control = draw(st.sampled_from([PING, PONG]))
            frames.append(frame(control, draw(st.binary(max_size=8)), rsv=4 * (kind == 6)))
    return frames


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    offers=offer_lists,
    max_size=st.sampled_from([64, 100, 1 << 20]),
    takeover=st.booleans(),
    cuts=st.lists(st.integers(0, 3000), max_size=8),
)
def test_cores_agree_with_deflate(
    data: Any, offers: list[str], max_size: int, takeover: bool, cuts: list[int]
) -> None:
    fast, slow = FrameCoreC(max_size), WsprotoCore(max_size)
    agreed = slow.negotiate(offers)
    assert fast.negotiate(offers) == agreed
    extension = agreement(slow)
    assert (agreed is None) == (extension is None)
    parts: list[bytes] = []
    if extension is not None:
        takeover = takeover and not extension.client_no_context_takeover
        client = Client(extension.client_max_window_bits, takeover)
        for _ in range(data.draw(st.integers(1, 6))):
            chosen = data.draw(
                st.one_of(
                    deflate_message(client, max_size),
                    deflate_message(client, max_size),
                    message(),
                    close_frame(),
                    odd_frame(),
                )
            )
            parts.append(b"".join(chosen) if isinstance(chosen, list) else chosen)
    else:
        parts.append(data.draw(streams))  # without an agreement RSV1 is an error (1002)
    stream = b"".join(parts)
    points = sorted({c % (len(stream) + 1) for c in cuts})
    pieces = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    pieces.append(b"")
    assert feed(fast, pieces) == feed(slow, pieces)
    # The server's messages: compressed alike, with the agreed window and takeover (§7.1.1.1).
    for message_ in (b"", "twice " * 20, "twice " * 20, bytes(range(256)) * 3):
        assert fast.send_message(message_) == slow.send_message(message_)


def test_deflate_examples() -> None:
    """Compressed streams and the events or codes each must give (the test above compares)."""
    squeeze = zlib.compressobj(wbits=-15)
    hello = squeeze.compress(b"hello") + squeeze.flush(zlib.Z_SYNC_FLUSH)
    assert hello.endswith(b"\x00\x00\xff\xff")
    hello = hello[:-4]  # RFC 7692 §7.2.1
    zeros = zlib.compressobj(wbits=-15)
    bomb = (zeros.compress(b"\x00" * 100_000) + zeros.flush(zlib.Z_SYNC_FLUSH))[:-4]
    text = TextMessage("hello")
    # §6.1: RSV1 on the first frame covers the message, a ping between its fragments too.
    with_ping = frame(TEXT, hello[:2], rsv=4, fin=False) + frame(PING, b"p")
    cases: dict[bytes, Any] = {
        frame(TEXT, hello, rsv=4): [text],
        with_ping + frame(CONT, hello[2:]): [Ping(b"p"), text],
        frame(TEXT, hello[:2], rsv=4, fin=False) + frame(CONT, hello[2:], rsv=4): 1002,
        frame(PING, b"", rsv=4): 1002,  # §6.1: control frames are not compressed
        frame(BINARY, b"\xff\xff\xff", rsv=4): 1007,  # not a deflate stream
        frame(BINARY, bomb, rsv=4): 1009,  # 100,000 bytes from a few hundred (RFC 6455 §10.4)
        frame(BINARY, b"x", rsv=2): 1002,  # RSV2: no extension defines it
    }
    for stream, expected in cases.items():
        for core in (FrameCoreC(1000), WsprotoCore(1000)):
            assert core.negotiate([DEFLATE]) == DEFLATE.encode()
            events = core.receive_data(stream)
            if isinstance(expected, int):
                assert type(events[-1]) is Failure and events[-1].code == expected, events
            else:
                assert events == expected


def test_deflate_agreement() -> None:
    """The first acceptable offer (RFC 7692 §5), its parameters answered; an offer with a value
    that is not a number or out of range is declined (§7.1), not an exception."""
    cases = {
        (DEFLATE,): b"permessage-deflate",
        ("x-webkit-deflate-frame",): None,
        (f"{DEFLATE}; client_max_window_bits",): b"permessage-deflate; client_max_window_bits=15",
        (f"{DEFLATE}; client_max_window_bits=x",): None,
        (f"{DEFLATE}; server_max_window_bits=8",): None,  # zlib's raw deflate needs 9..15
        (
            f"{DEFLATE}; client_no_context_takeover; server_max_window_bits=16",
            f"{DEFLATE}; server_max_window_bits=10",
        ): b"permessage-deflate; server_max_window_bits=10",
        (f"{DEFLATE}; server_no_context_takeover", DEFLATE): (
            b"permessage-deflate; server_no_context_takeover"
        ),
    }
    for offers, expected in cases.items():
        for core in (FrameCoreC(100), WsprotoCore(100)):
            assert core.negotiate(list(offers)) == expected, (offers, core)
    # The declined first offer leaves nothing on the extension (wsproto's handshake kept its
    # client_no_context_takeover though the answer to the second did not name it).
    core = WsprotoCore(100)
    core.negotiate([f"{DEFLATE}; client_no_context_takeover; server_max_window_bits=16", DEFLATE])
    assert not agreement(core).client_no_context_takeover


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
