"""``bench/ws_client.py`` against wsproto as the oracle: the frames it pre-builds decode in a
wsproto server to the messages it means (plain and permessage-deflate), and its header-only
counter finds every message a wsproto server sends, split anywhere. Then one short run against a
real pounce, with and without permessage-deflate."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage
from wsproto.extensions import Extension, PerMessageDeflate

from bench.ws_client import (
    BATCHES_PER_WINDOW,
    WINDOW_BYTES,
    FrameCounter,
    ProtocolViolation,
    client_frame,
    close_frame,
    default_flow,
    message_frame,
    payload_for,
    run,
)
from tests.support import PounceProcess

pytestmark = pytest.mark.timeout(60)

# Every length encoding of RFC 6455 §5.2: 7-bit, 16-bit (126..65535) and 64-bit.
SIZES = [0, 1, 125, 126, 4096, 65535, 65536, 70_000]
OFFER = "permessage-deflate; client_no_context_takeover"


def server(deflate: bool) -> Connection:
    extensions: list[Extension] = []
    if deflate:
        pmd = PerMessageDeflate()
        assert pmd.accept(OFFER)  # enables it, as the server side of the handshake would
        extensions.append(pmd)
    return Connection(ConnectionType.SERVER, extensions=extensions)


def chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@pytest.mark.parametrize("deflate", [False, True], ids=["plain", "deflate"])
@pytest.mark.parametrize("size", SIZES)
def test_prebuilt_frames_decode_in_wsproto(size: int, deflate: bool) -> None:
    payload = payload_for(size)
    assert len(payload) == size
    conn = server(deflate)
    got: list[bytes] = []
    partial = b""
    # Three copies of one frame, as the client writes them, cut into uneven pieces.
    for piece in chunks(message_frame(payload, deflate) * 3, [1, 2, 7, 131, 4099, 65_540]):
        conn.receive_data(piece)
        for event in conn.events():
            assert isinstance(event, BytesMessage), event
            partial += event.data
            if event.message_finished:
                got.append(partial)
                partial = b""
    assert got == [payload] * 3


def test_close_frame_decodes_in_wsproto() -> None:
    conn = server(False)
    conn.receive_data(close_frame())
    (event,) = conn.events()
    assert event.code == 1000  # type: ignore[attr-defined]


# A message: its payload, whether text, and how many frames wsproto sends it in.
messages = st.lists(
    st.tuples(st.binary(max_size=70_000), st.booleans(), st.integers(1, 3)), max_size=6
)


@settings(max_examples=60, deadline=None)
@given(
    sent=messages,
    deflate=st.booleans(),
    ping_every=st.integers(1, 4),
    cuts=st.lists(st.integers(0, 10**6), max_size=12),
)
def test_counter_finds_every_message_wsproto_sends(
    sent: list[tuple[bytes, bool, int]], deflate: bool, ping_every: int, cuts: list[int]
) -> None:
    conn = server(deflate)
    wire = b""
    for i, (payload, text, frames) in enumerate(sent):
        step = len(payload) // frames + 1
        parts = [payload[j : j + step] for j in range(0, len(payload), step)] or [b""]
        for k, part in enumerate(parts):
            last = k == len(parts) - 1
            event = (
                TextMessage(data=part.decode("latin-1"), message_finished=last)
                if text
                else BytesMessage(data=part, message_finished=last)
            )
            wire += conn.send(event)
            if not last and i % ping_every == 0:
                wire += conn.send(Ping(b"between fragments"))  # RFC 6455 §5.4
    counter = FrameCounter()
    total = sum(counter.feed(piece) for piece in chunks(wire, cuts))
    assert total == len(sent)
    assert counter.close_code is None
    if not deflate:
        # Text was sent as latin-1 and goes out UTF-8 encoded: count the encoded bytes.
        expected = sum(len(p.decode("latin-1").encode()) if text else len(p) for p, text, _ in sent)
        assert counter.payload_bytes == expected


def test_counter_refuses_masked_frames_and_records_a_close() -> None:
    with pytest.raises(ProtocolViolation, match="masked"):
        FrameCounter().feed(client_frame(b"hello"))
    conn = server(False)
    counter = FrameCounter()
    wire = conn.send(TextMessage("a")) + conn.send(CloseConnection(code=1011))
    assert counter.feed(wire) == 1
    assert counter.close_code == 1011


@pytest.mark.parametrize("size", [0, 64, 4096, 65536, 1 << 20, 1 << 24])
def test_default_window_is_whole_batches_within_its_byte_budget(size: int) -> None:
    window, batch = default_flow(size)
    assert batch >= 1
    assert window % batch == 0
    # Within the byte budget, except that a window always holds BATCHES_PER_WINDOW messages.
    assert window * size <= WINDOW_BYTES or window == BATCHES_PER_WINDOW


@pytest.mark.parametrize("deflate", [False, True], ids=["plain", "deflate"])
@pytest.mark.parametrize("size", [64, 65536])
def test_short_run_against_pounce(size: int, deflate: bool) -> None:
    proc = PounceProcess("bench.apps.ws_echo:app", "--no-access-log").wait_ready()
    try:
        result = asyncio.run(
            run("127.0.0.1", proc.port, size=size, deflate=deflate, connections=2, window=8,
                batch=4, duration=0.3, warmup=0.1)
        )  # fmt: skip
    finally:
        proc.stop()
    assert result.messages > 0
    assert result.deflate_agreed is deflate
    assert result.bytes_ok is (None if deflate else True)
