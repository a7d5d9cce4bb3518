"""Fuzz the HTTP/2 frame path: the sans-I/O ``H2Connection`` (every class the
``h2_core`` fixture lists) fed a preface and generated frames, valid and not.

Invariant (``harness.run_h2``): events or one protocol error, never another exception.
"""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from pounce.http2.constants import PREFACE
from pounce.http2.events import H2ProtocolError, H2RequestReceived

from .conftest import FUZZ
from .h2_frames import h2_stream
from .harness import run_h2

pytestmark = pytest.mark.timeout(120)

SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


@FUZZ
@given(chunks=h2_stream())
@example(chunks=[PREFACE + SETTINGS])
def test_h2_frames(h2_core: type, chunks: list[bytes]) -> None:
    run_h2(h2_core, chunks)


@FUZZ
@given(junk=st.binary(max_size=300), with_preface=st.booleans())
def test_h2_random_bytes(h2_core: type, junk: bytes, with_preface: bool) -> None:
    run_h2(h2_core, [(PREFACE + SETTINGS if with_preface else b"") + junk])


def test_harness_sees_a_request(h2_core: type) -> None:
    import hpack
    from hyperframe.frame import HeadersFrame

    frame = HeadersFrame(1)
    frame.data = hpack.Encoder().encode(
        [(b":method", b"GET"), (b":path", b"/"), (b":scheme", b"http"), (b":authority", b"h")]
    )
    frame.flags.add("END_HEADERS")
    frame.flags.add("END_STREAM")
    events = run_h2(h2_core, [PREFACE + SETTINGS + frame.serialize()])
    assert [type(e) for e in events if isinstance(e, H2RequestReceived)] == [H2RequestReceived]


def test_harness_sees_a_protocol_error(h2_core: type) -> None:
    events = run_h2(h2_core, [PREFACE + b"\x00\x00\x01\x04\x00\x00\x00\x00\x00\x00"])
    assert any(isinstance(e, H2ProtocolError) and e.error_code == 6 for e in events)


def test_acknowledging_nothing_is_a_no_op(h2_core: type) -> None:
    """Found by the fuzzer: an empty DATA frame, then acknowledging 0 bytes, made h2 raise
    ValueError (a zero WINDOW_UPDATE increment) out of ``acknowledge_consumed``."""
    conn = h2_core()
    conn.initiate_connection()
    events = conn.receive_data(
        PREFACE
        + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"  # SETTINGS: the rest of the preface (§3.4)
        + b"\x00\x00\x06\x01\x04\x00\x00\x00\x01\x82\x84\x86A\x81\x9f"  # HEADERS, stream 1
        + b"\x00\x00\x00\x00\x00\x00\x00\x00\x01"  # empty DATA, stream 1
    )
    assert [type(e).__name__ for e in events] == ["H2RequestReceived", "H2BodyReceived"]
    conn.acknowledge_consumed(1, 0)
    assert b"\x08\x00\x00\x00\x00\x01" not in conn.data_to_send()  # no WINDOW_UPDATE on 1
