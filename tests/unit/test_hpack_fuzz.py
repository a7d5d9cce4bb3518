"""Hypothesis against the compiled HPACK codec: any input decodes to a list or raises
HPACKError, and it agrees with the ``hpack`` library on everything hpack encodes."""

from __future__ import annotations

import hpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import compiled_module

_hpack = compiled_module("_hpack")
Decoder, Encoder, HPACKError = _hpack.Decoder, _hpack.Encoder, _hpack.HPACKError

pytestmark = pytest.mark.timeout(60)

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

names = st.one_of(
    st.sampled_from([b":status", b"content-type", b"server", b"set-cookie", b"date", b"x-a"]),
    st.binary(max_size=24),
)
values = st.one_of(st.sampled_from([b"", b"200", b"text/plain", b"pounce"]), st.binary(max_size=90))
header_lists = st.lists(st.tuples(names, values), max_size=12)
# Between blocks: the peer's table size setting changes (None: unchanged).
table_sizes = st.one_of(st.none(), st.sampled_from([0, 50, 256, 4096]), st.integers(0, 5000))


def primed_decoder() -> Decoder:
    """A decoder with entries in its dynamic table, so random indexes can hit something."""
    dec = Decoder(max_header_list_size=16384)
    dec.decode(hpack.Encoder().encode([(b"x-one", b"1"), (b"x-two", b"22"), (b"x-3", b"333")]))
    return dec


def decode_or_error(dec: Decoder, data: bytes) -> list[tuple[bytes, bytes]] | None:
    """The only outcomes allowed: a list of bytes pairs, or HPACKError."""
    try:
        result = dec.decode(data)
    except HPACKError:
        return None
    assert isinstance(result, list)
    for field in result:
        assert type(field) is tuple
        assert len(field) == 2
        assert type(field[0]) is bytes
        assert type(field[1]) is bytes
    return result


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    decode_or_error(Decoder(), data)
    decode_or_error(primed_decoder(), data)


@FUZZ
@given(
    header_lists,
    st.booleans(),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=4),
    st.sampled_from(["replace", "insert", "delete", "truncate"]),
)
def test_mutated_valid_blocks(
    headers: list[tuple[bytes, bytes]],
    huffman: bool,
    edits: list[tuple[int, int]],
    how: str,
) -> None:
    block = bytearray(hpack.Encoder().encode(headers, huffman=huffman))
    for where, byte in edits:
        at = where % (len(block) + 1)
        if how == "replace" and at < len(block):
            block[at] = byte
        elif how == "insert":
            block.insert(at, byte)
        elif how == "delete" and at < len(block):
            del block[at]
        elif how == "truncate":
            del block[at:]
    dec = primed_decoder()
    decode_or_error(dec, bytes(block))
    # Whatever happened, a well-formed block from a fresh encoder state still decodes when
    # it does not reference the dynamic table.
    assert dec.decode(b"\x82") == [(b":method", b"GET")]


@FUZZ
@given(st.lists(st.tuples(table_sizes, header_lists, st.booleans()), min_size=1, max_size=6))
def test_hpack_encoder_decodes_identically(
    blocks: list[tuple[int | None, list[tuple[bytes, bytes]], bool]],
) -> None:
    """Blocks from hpack.Encoder on one connection: ours and hpack.Decoder agree on every
    list and on the dynamic table after every block."""
    enc = hpack.Encoder()
    ours = Decoder(max_header_list_size=None)
    theirs = hpack.Decoder(max_header_list_size=1 << 30)
    for size, headers, huffman in blocks:
        if size is not None:
            enc.header_table_size = min(size, 4096)
        block = enc.encode(headers, huffman=huffman)
        expected = theirs.decode(block, raw=True)
        assert ours.decode(block) == [tuple(f) for f in expected] == headers
        assert ours.table_entries() == list(theirs.header_table.dynamic_entries)


@FUZZ
@given(st.lists(st.tuples(table_sizes, st.integers(100, 999), header_lists), max_size=6))
def test_our_encoder_decodes_identically(
    blocks: list[tuple[int | None, int, list[tuple[bytes, bytes]]]],
) -> None:
    """Our encoder's blocks decode to the same list with hpack.Decoder and ours, tables in
    sync, through table size changes."""
    enc = Encoder()
    ours = Decoder(max_header_list_size=None)
    theirs = hpack.Decoder(max_header_list_size=1 << 30)
    for size, status, headers in blocks:
        if size is not None:
            enc.header_table_size = size
        block = enc.encode_response(status, headers)
        expected = [(b":status", b"%d" % status), *headers]
        assert ours.decode(block) == expected
        assert theirs.decode(block, raw=True) == expected
        assert ours.table_entries() == enc.table_entries()
        assert list(theirs.header_table.dynamic_entries) == enc.table_entries()
