"""Fuzz the WebSocket frame path: a session (pounce/websocket/_session.py) fed client frames.

A stream is a few valid messages followed by at most one faulty frame of a known kind, cut at
random points. The oracle is RFC 6455: the valid messages reach the app in order (and are
echoed), then the server closes with the code the fault calls for, and the app's
``websocket.disconnect`` carries the same code. Random bytes must end in messages or a close
with one of the protocol's codes; never an exception, a logged error or a hanging app.

The same with permessage-deflate agreed (RFC 7692): the messages compressed by a client
compressor that keeps its context, with the faults of compression added; the echoes, which the
server compresses, must inflate to the messages sent.
"""

from __future__ import annotations

import base64
import zlib
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from .conftest import FUZZ
from .harness import run_ws, ws_close_code_ok, ws_frame

pytestmark = pytest.mark.timeout(120)

MAX_SIZE = 64
TEXT, BINARY, CONT, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA

# (frame bytes, close code the server must send) per fault, RFC 6455 sections in the names.
FAULTS: dict[str, tuple[bytes, int]] = {
    "unmasked client frame (§5.1)": (ws_frame(TEXT, b"hi", mask=False), 1002),
    "reserved opcode 0x3 (§5.2)": (ws_frame(0x3, b""), 1002),
    "reserved control opcode 0xB (§5.2)": (ws_frame(0xB, b""), 1002),
    "RSV1 without an extension (§5.2)": (ws_frame(TEXT, b"hi", rsv=4), 1002),
    "RSV3 (§5.2)": (ws_frame(BINARY, b"hi", rsv=1), 1002),
    "fragmented ping (§5.5)": (ws_frame(PING, b"p", fin=False), 1002),
    "ping payload over 125 bytes (§5.5)": (ws_frame(PING, b"p" * 126), 1002),
    "continuation without a start (§5.4)": (ws_frame(CONT, b"x"), 1002),
    "new message inside a fragmented one (§5.4)": (
        ws_frame(TEXT, b"a", fin=False) + ws_frame(TEXT, b"b"),
        1002,
    ),
    "invalid UTF-8 text (§8.1)": (ws_frame(TEXT, b"\xff\xfe"), 1007),
    "invalid UTF-8 across fragments (§8.1)": (
        ws_frame(TEXT, b"\xe2\x82", fin=False) + ws_frame(CONT, b"\x41"),
        1007,
    ),
    "message over --ws-max-size (§7.4.1)": (ws_frame(BINARY, b"x" * (MAX_SIZE + 1)), 1009),
    "fragments over --ws-max-size": (
        ws_frame(BINARY, b"x" * 40, fin=False) + ws_frame(CONT, b"x" * 40),
        1009,
    ),
    "close with a one-byte payload (§5.5.1)": (ws_frame(CLOSE, b"\x03"), 1002),
    "close with code 1005 (§7.4.1)": (ws_frame(CLOSE, b"\x03\xed"), 1002),
    "close with code 999 (§7.4.2)": (ws_frame(CLOSE, b"\x03\xe7"), 1002),
    "close with a bad UTF-8 reason (§5.5.1)": (ws_frame(CLOSE, b"\x03\xe8\xff"), 1007),
    "normal close 1000": (ws_frame(CLOSE, b"\x03\xe8bye"), 1000),
    "close 4000 (private use)": (ws_frame(CLOSE, b"\x0f\xa0"), 4000),
}

messages = st.lists(
    st.one_of(
        st.text(max_size=20),
        st.binary(max_size=20),
    ),
    max_size=4,
)


def encode(message: str | bytes, fragments: int) -> bytes:
    opcode, data = (TEXT, message.encode()) if isinstance(message, str) else (BINARY, message)
    if fragments <= 1 or len(data) < 2:
        return ws_frame(opcode, data)
    cut = len(data) // 2
    # A ping between the fragments: control frames may be interleaved (§5.4).
    return (
        ws_frame(opcode, data[:cut], fin=False) + ws_frame(PING, b"") + ws_frame(CONT, data[cut:])
    )


@FUZZ
@given(
    sent=messages,
    fragments=st.integers(1, 2),
    fault=st.one_of(st.none(), st.sampled_from(sorted(FAULTS))),
    cuts=st.lists(st.integers(0, 400), max_size=5),
)
def test_ws_messages_then_fault(
    sent: list[str | bytes], fragments: int, fault: str | None, cuts: list[int]
) -> None:
    data = b"".join(encode(m, fragments) for m in sent)
    if fault is not None:
        data += FAULTS[fault][0]
    chunks, pos = [], 0
    for cut in [*sorted(c for c in cuts if c < len(data)), len(data)]:
        if cut > pos:
            chunks.append(data[pos:cut])
            pos = cut
    outcome = run_ws(chunks, max_size=MAX_SIZE)
    assert outcome.messages == sent
    assert outcome.echoed == sent[: outcome.echoes]
    # Echoes race the fault: one the session failed on first is not sent after the close.
    assert outcome.echoes <= len(sent)
    if fault is None:
        assert outcome.echoes == len(sent)
        assert outcome.close_code is None
        assert outcome.disconnect_code == 1006  # the connection was lost without a close
    else:
        code = FAULTS[fault][1]
        assert outcome.close_code == code
        assert outcome.disconnect_code == code


@FUZZ
@given(junk=st.binary(max_size=200), prefix=st.sampled_from([b"", ws_frame(TEXT, b"ok")]))
# Found by ci/fuzz_atheris.py: an empty close frame is echoed empty (no status code).
@example(junk=base64.b64decode("iIKCgoiAM4IJiIAzAPn4+IKCgoIJiIAzAPn4"), prefix=b"")
# And a client's 1012 (Service Restart, IANA registry) is echoed as sent.
@example(junk=base64.b64decode("iII3+iE9NA4ODg4ODg4ODg4ODg4ODg4ODg4ODg4ODg4ODg4d"), prefix=b"")
def test_ws_random_bytes(junk: bytes, prefix: bytes) -> None:
    outcome = run_ws([prefix + junk], max_size=MAX_SIZE)
    assert ws_close_code_ok(outcome.close_code), outcome


def squeeze(data: bytes) -> bytes:
    """``data`` compressed alone (RFC 7692 §7.2.1: a sync flush, its empty block's tail cut)."""
    compressor = zlib.compressobj(wbits=-15)
    return (compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]


_HI = squeeze(b"hi there")
# With permessage-deflate agreed: the faults above but RSV1's (a compressed frame now), and
# those of compression. A compressed fault after messages compressed with context takeover still
# inflates: a sync flush ends on a byte boundary and a fresh compressor refers to nothing before.
DEFLATE_FAULTS: dict[str, tuple[bytes, int]] = {
    **{name: fault for name, fault in FAULTS.items() if not name.startswith("RSV1")},
    "RSV1 on a continuation frame (RFC 7692 §6.1)": (
        ws_frame(TEXT, _HI[:2], fin=False, rsv=4) + ws_frame(CONT, _HI[2:], rsv=4),
        1002,
    ),
    "RSV1 on a control frame (RFC 7692 §6.1)": (ws_frame(PING, b"", rsv=4), 1002),
    "RSV2, no extension defines it (RFC 6455 §5.2)": (ws_frame(BINARY, b"hi", rsv=2), 1002),
    "not a deflate stream (RFC 7692 §7.2.2)": (ws_frame(BINARY, b"\xff\xff\xff", rsv=4), 1007),
    "inflates past --ws-max-size (RFC 6455 §10.4)": (
        ws_frame(BINARY, squeeze(b"\x00" * 1000), rsv=4),
        1009,
    ),
    "compressed text not UTF-8 (RFC 6455 §8.1)": (
        ws_frame(TEXT, squeeze(b"ok\xff"), rsv=4),
        1007,
    ),
}


def encode_compressed(
    message: str | bytes, compressor: Any, fragments: int, compress: bool
) -> bytes:
    """``message`` as the client sends it, compressed (RSV1 on its first frame, RFC 7692 §6.1)
    with the client's ``compressor`` unless ``compress`` is false (§6: a message may go
    uncompressed), split in two with a ping between when ``fragments`` is 2."""
    opcode, data = (TEXT, message.encode()) if isinstance(message, str) else (BINARY, message)
    rsv = 0
    if compress:
        data = (compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]
        rsv = 4
    if fragments <= 1 or len(data) < 2:
        return ws_frame(opcode, data, rsv=rsv)
    cut = len(data) // 2
    return (
        ws_frame(opcode, data[:cut], fin=False, rsv=rsv)
        + ws_frame(PING, b"")
        + ws_frame(CONT, data[cut:])
    )


@FUZZ
@given(
    sent=messages,
    fragments=st.integers(1, 2),
    compress=st.lists(st.booleans(), min_size=4, max_size=4),
    fault=st.one_of(st.none(), st.sampled_from(sorted(DEFLATE_FAULTS))),
    cuts=st.lists(st.integers(0, 400), max_size=5),
)
def test_ws_deflate_messages_then_fault(
    sent: list[str | bytes],
    fragments: int,
    compress: list[bool],
    fault: str | None,
    cuts: list[int],
) -> None:
    # One compressor for the connection: the context is kept from message to message (the
    # default agreement, RFC 7692 §7.1.1), so the server's inflater must keep it too.
    compressor = zlib.compressobj(wbits=-15)
    data = b"".join(
        encode_compressed(m, compressor, fragments, compress[i]) for i, m in enumerate(sent)
    )
    if fault is not None:
        data += DEFLATE_FAULTS[fault][0]
    chunks, pos = [], 0
    for cut in [*sorted(c for c in cuts if c < len(data)), len(data)]:
        if cut > pos:
            chunks.append(data[pos:cut])
            pos = cut
    outcome = run_ws(chunks, max_size=MAX_SIZE, deflate=True)
    assert outcome.messages == sent
    assert outcome.echoed == sent[: outcome.echoes]  # inflated with the server's context
    assert outcome.echoes <= len(sent)
    if fault is None:
        assert outcome.echoes == len(sent)
        assert outcome.close_code is None
        assert outcome.disconnect_code == 1006
    else:
        code = DEFLATE_FAULTS[fault][1]
        assert outcome.close_code == code
        assert outcome.disconnect_code == code


@FUZZ
@given(junk=st.binary(max_size=200), prefix=st.sampled_from([b"", ws_frame(TEXT, _HI, rsv=4)]))
def test_ws_deflate_random_bytes(junk: bytes, prefix: bytes) -> None:
    outcome = run_ws([prefix + junk], max_size=MAX_SIZE, deflate=True)
    assert ws_close_code_ok(outcome.close_code), outcome
