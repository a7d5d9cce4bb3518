"""The compiled HPACK codec (RFC 7541) against the RFC's examples and the ``hpack`` library.

``_hpack`` has no pure twin (the pure HTTP/2 core uses ``hpack``): these tests skip in a pure
build without it and fail in a normal run when the extension is missing (tests/conftest.py).
"""

from __future__ import annotations

import hpack
import pytest
from hpack.huffman_constants import REQUEST_CODES, REQUEST_CODES_LENGTH
from hpack.table import HeaderTable

from pounce.errors import PounceError
from tests.conftest import compiled_module

_hpack = compiled_module("_hpack")
Decoder, Encoder = _hpack.Decoder, _hpack.Encoder
HPACKError, OversizedHeaderListError = _hpack.HPACKError, _hpack.OversizedHeaderListError

pytestmark = pytest.mark.timeout(30)

Headers = list[tuple[bytes, bytes]]


def h(text: str) -> bytes:
    """Bytes from the RFC's hex dumps (spaces and newlines ignored)."""
    return bytes.fromhex("".join(text.split()))


def fields(*pairs: str) -> Headers:
    """``fields("a: b", ":path: /")`` -> [(b"a", b"b"), (b":path", b"/")]."""
    return [tuple(p.encode() for p in pair.split(": ", 1)) for pair in pairs]  # type: ignore[misc]


def test_exceptions_are_shared_python_classes() -> None:
    assert issubclass(OversizedHeaderListError, HPACKError)
    assert issubclass(HPACKError, PounceError)
    assert _hpack.HPACKError is __import__("pounce.errors").errors.HPACKError


def test_static_table_matches_appendix_a() -> None:
    assert len(_hpack.STATIC_TABLE) == 61
    assert list(_hpack.STATIC_TABLE) == list(HeaderTable.STATIC_TABLE)


def test_huffman_lengths_give_the_rfc_codes() -> None:
    """The canonical code rebuilt from the lengths equals Appendix B (as hpack spells it)."""
    assert list(_hpack.HUFFMAN_LENGTHS) == list(REQUEST_CODES_LENGTH)
    assert len(REQUEST_CODES) == 257  # the codes themselves are checked by the vectors below


# --- RFC 7541 Appendix C.2: independent header field representations -------------------------


@pytest.mark.parametrize(
    ("block", "expected", "table"),
    [
        # C.2.1 literal with indexing
        (
            "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
            fields("custom-key: custom-header"),
            fields("custom-key: custom-header"),
        ),
        # C.2.2 literal without indexing
        ("040c 2f73 616d 706c 652f 7061 7468", fields(":path: /sample/path"), []),
        # C.2.3 literal never indexed
        ("1008 7061 7373 776f 7264 0673 6563 7265 74", fields("password: secret"), []),
        # C.2.4 indexed
        ("82", fields(":method: GET"), []),
    ],
)
def test_c2_field_representations(block: str, expected: Headers, table: Headers) -> None:
    dec = Decoder()
    assert dec.decode(h(block)) == expected
    assert dec.table_entries() == table
    assert dec.table_size == sum(len(n) + len(v) + 32 for n, v in table)


# --- C.3 / C.4: requests on one connection, without and with Huffman ---------------------------

REQ1 = fields(":method: GET", ":scheme: http", ":path: /", ":authority: www.example.com")
REQ2 = [*REQ1, *fields("cache-control: no-cache")]
REQ3 = fields(
    ":method: GET",
    ":scheme: https",
    ":path: /index.html",
    ":authority: www.example.com",
    "custom-key: custom-value",
)
T1 = fields(":authority: www.example.com")
T2 = [*fields("cache-control: no-cache"), *T1]
T3 = [*fields("custom-key: custom-value"), *T2]
REQUEST_STEPS = [(REQ1, T1, 57), (REQ2, T2, 110), (REQ3, T3, 164)]

C3_BLOCKS = [
    "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
    "8286 84be 5808 6e6f 2d63 6163 6865",
    "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
]
C4_BLOCKS = [
    "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
    "8286 84be 5886 a8eb 1064 9cbf",
    "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
]


@pytest.mark.parametrize("blocks", [C3_BLOCKS, C4_BLOCKS], ids=["C.3", "C.4"])
def test_request_examples(blocks: list[str]) -> None:
    dec = Decoder()
    for block, (headers, table, size) in zip(blocks, REQUEST_STEPS, strict=True):
        assert dec.decode(h(block)) == headers
        assert dec.table_entries() == table
        assert dec.table_size == size


# --- C.5 / C.6: responses with a 256-octet table, evictions ------------------------------------

RESP1 = fields(
    ":status: 302",
    "cache-control: private",
    "date: Mon, 21 Oct 2013 20:13:21 GMT",
    "location: https://www.example.com",
)
RESP2 = [(b":status", b"307"), *RESP1[1:]]
RESP3 = fields(
    ":status: 200",
    "cache-control: private",
    "date: Mon, 21 Oct 2013 20:13:22 GMT",
    "location: https://www.example.com",
    "content-encoding: gzip",
    "set-cookie: foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
)
RT1 = [RESP1[3], RESP1[2], RESP1[1], RESP1[0]]
RT2 = [RESP2[0], RESP1[3], RESP1[2], RESP1[1]]
RT3 = [RESP3[5], RESP3[4], RESP3[2]]
RESPONSE_STEPS = [(RESP1, RT1, 222), (RESP2, RT2, 222), (RESP3, RT3, 215)]

C5_BLOCKS = [
    """4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
       2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
       6c65 2e63 6f6d""",
    "4803 3330 37c1 c0bf",
    """88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
       54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
       5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
       3d31""",
]
C6_BLOCKS = [
    """4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
       2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3""",
    "4883 640e ffc1 c0bf",
    """88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
       77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
       9587 3160 65c0 03ed 4ee5 b106 3d50 07""",
]


@pytest.mark.parametrize("blocks", [C5_BLOCKS, C6_BLOCKS], ids=["C.5", "C.6"])
def test_response_examples(blocks: list[str]) -> None:
    dec = Decoder(max_table_size=256)
    for block, (headers, table, size) in zip(blocks, RESPONSE_STEPS, strict=True):
        assert dec.decode(h(block)) == headers
        assert dec.table_entries() == table
        assert dec.table_size == size


def test_huffman_encoding_reproduces_c6_strings() -> None:
    """Our Huffman encoder gives the RFC's bytes: the response list of C.6.1 without indexing
    is literal-without-indexing of the same Huffman strings."""
    enc = Encoder()
    enc.header_table_size = 0  # nothing indexed: every field is a literal
    block = enc.encode(RESP1[1:])
    assert block[:1] == b"\x20"  # the size update to 0 comes first (§6.3)
    assert h("85 aec3 771a 4b") in block  # private
    assert h("96 d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff") in block  # date
    assert h("91 9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3") in block  # location


# --- the encoder --------------------------------------------------------------------------------

HELLO = [
    (b"server", b"pounce"),
    (b"content-type", b"text/plain; charset=utf-8"),
    (b"content-length", b"13"),
    (b"date", b"Mon, 21 Oct 2013 20:13:21 GMT"),
]


def test_encode_status_uses_the_static_table_and_caches() -> None:
    enc = Encoder()
    for status, index in [(200, 8), (204, 9), (206, 10), (304, 11), (400, 12), (404, 13)]:
        assert enc.encode_status(status) == bytes([0x80 | index])
    assert enc.encode_status(500) == b"\x8e"
    literal = enc.encode_status(302)
    assert literal == h("0882 6402")  # literal without indexing, name :status, Huffman "302"
    assert enc.encode_status(302) is literal
    dec = hpack.Decoder()
    for status in (101, 200, 302, 418, 503, 999):
        assert dec.decode(enc.encode_status(status), raw=True) == [
            (b":status", str(status).encode())
        ]
    assert enc.table_size == 0  # status literals never touch the dynamic table
    for bad in (0, 99, 1000, -200):
        with pytest.raises(ValueError):
            enc.encode_status(bad)


def test_repeated_response_fields_become_indexes() -> None:
    enc, dec = Encoder(), Decoder()
    first = enc.encode_response(200, HELLO)
    second = enc.encode_response(200, HELLO)
    assert len(second) < len(first)
    assert second[:3] == b"\x88\xbf\xbe"  # :status 200, then server and content-type indexed
    # content-length and date are literals without indexing: they do not churn the table
    assert enc.table_entries() == [HELLO[1], HELLO[0]]
    for block in (first, second):
        assert dec.decode(block) == [(b":status", b"200"), *HELLO]
    assert dec.table_entries() == enc.table_entries()
    assert enc.encode_status(200) + enc.encode(HELLO) == second


def test_unchanged_response_block_is_reused_while_the_table_is_unchanged() -> None:
    """encode_response returns its last block again only when the status, the fields and the
    dynamic table (RFC 7541 §2.3.2: indexes name its state) are all the same."""
    enc, dec = Encoder(), Decoder()

    def check(status: int, headers: Headers) -> bytes:
        block = enc.encode_response(status, headers)
        expected = [(b":status", b"%d" % status), *(tuple(field) for field in headers)]
        assert dec.decode(block) == expected
        assert dec.table_entries() == enc.table_entries()
        return block

    check(200, HELLO)  # adds server and content-type to the table
    second = check(200, HELLO)
    assert check(200, list(HELLO)) is second  # equal fields in a new list
    assert check(200, [tuple(field) for field in HELLO]) is second  # equal, not the same tuples
    assert check(404, HELLO) is not second
    changed = [*HELLO[:3], (b"date", b"Sun, 22 Nov 2026 16:00:01 GMT")]
    assert check(200, changed) != second
    # The caller's list changing after the call does not fool the next one.
    headers = list(HELLO)
    first = check(200, headers)
    headers[2] = (b"content-length", b"99")
    assert check(200, headers) != first
    # A block that adds to the table, a trailer block that adds to it, and table size changes
    # (with evictions and a size update) all move the indexes: the block is encoded afresh.
    check(200, HELLO)
    with_new = [*HELLO, (b"x-new", b"1")]
    check(200, with_new)
    check(200, with_new)
    dec.decode(enc.encode([(b"x-trailer", b"t")]))
    check(200, with_new)
    enc.header_table_size = 0
    enc.header_table_size = 4096
    dec.decode(enc.encode([]))  # carries the size updates; the table is empty now
    assert enc.table_entries() == []
    check(200, with_new)
    check(200, with_new)
    # Lists as fields are accepted and never kept.
    as_lists = [list(field) for field in HELLO]
    check(200, as_lists)  # type: ignore[arg-type]
    check(200, as_lists)  # type: ignore[arg-type]


def test_credentials_are_never_indexed() -> None:
    enc = Encoder()
    headers = [(b"set-cookie", b"session=abc"), (b"authorization", b"Basic x"), (b"x-a", b"1")]
    block = enc.encode(headers)
    decoded = hpack.Decoder().decode(block, raw=True)
    assert decoded == headers
    assert isinstance(decoded[0], hpack.NeverIndexedHeaderTuple)
    assert isinstance(decoded[1], hpack.NeverIndexedHeaderTuple)
    assert not isinstance(decoded[2], hpack.NeverIndexedHeaderTuple)
    assert enc.table_entries() == [(b"x-a", b"1")]


def test_encoder_rejects_non_bytes() -> None:
    enc = Encoder()
    with pytest.raises(TypeError):
        enc.encode([("server", "pounce")])
    with pytest.raises(ValueError):
        enc.encode([(b"a", b"b", b"c")])
    assert enc.encode([[b"x-list", b"ok"]]) == Encoder().encode([(b"x-list", b"ok")])
    # A bad field fails the whole call before anything is added to the table, which would
    # otherwise hold a field the peer never saw.
    with pytest.raises(TypeError):
        enc.encode([(b"x-good", b"1"), (b"x-bad", 1)])
    assert enc.table_entries() == [(b"x-list", b"ok")]


def test_table_size_changes_are_signalled() -> None:
    enc, dec = Encoder(), Decoder()
    dec.decode(enc.encode(HELLO))
    assert enc.table_size > 0
    # The peer lowers its setting: our table shrinks now, the next block starts with an update.
    enc.header_table_size = 64
    assert enc.header_table_size == 64
    assert enc.table_size <= 64
    block = enc.encode(HELLO)
    assert block[0] & 0xE0 == 0x20
    assert dec.decode(block) == HELLO
    assert dec.header_table_size == 64
    assert dec.table_entries() == enc.table_entries()
    # Down to 0 and back up between two blocks: both sizes are signalled, smallest first (§4.2).
    enc.header_table_size = 0
    enc.header_table_size = 1 << 20  # capped at 4096
    block = enc.encode(HELLO)
    assert block[:1] == b"\x20"
    assert block[1:4] == h("3fe1 1f")  # 4096
    assert dec.decode(block) == HELLO
    assert dec.header_table_size == 4096
    assert dec.table_entries() == enc.table_entries()
    # An unchanged effective size sends nothing.
    enc.header_table_size = 8192
    assert enc.encode([]) == b""
    # encode_status carries a pending update too, so status + fields is a valid block.
    enc.header_table_size = 100
    assert dec.decode(enc.encode_status(404) + enc.encode(HELLO)) == [(b":status", b"404"), *HELLO]
    assert dec.header_table_size == 100


# --- cross-decoding with the hpack library ------------------------------------------------------

CORPUS: list[Headers] = [
    [(b":status", b"200"), *HELLO],
    [(b":status", b"404"), (b"content-type", b"text/html"), (b"content-length", b"0")],
    [
        (b":method", b"GET"),
        (b":scheme", b"https"),
        (b":path", b"/api/v1/items?page=2&sort=-created"),
        (b":authority", b"example.com:8443"),
        (b"user-agent", b"h2load nghttp2/1.59.0"),
        (b"accept", b"*/*"),
        (b"accept-encoding", b"gzip, deflate"),
        (b"cookie", b"a=1"),
        (b"cookie", b"b=2"),
    ],
    [
        (b":status", b"301"),
        (b"location", b"https://example.com/new"),
        (b"cache-control", b"max-age=3600, public"),
        (b"vary", b"accept-encoding"),
    ],
    [(b"x-empty", b""), (b"x-binary", bytes(range(256))), (b"x-utf8", "héllo ✓".encode())],
    [(b"x-big", b"v" * 3000), (b"x-after-big", b"1")],
    [(b"grpc-status", b"0"), (b"grpc-message", b"")],
    [(b":status", b"200"), (b"server", b"pounce"), (b"x-request-id", b"%d" % 12345)],
    [(b"x-many-%d" % i, b"value-%d" % (i * 7)) for i in range(60)],
    [(b"Upper-Case", b"Kept"), (b"x-space", b" padded ")],
]


def test_corpus_round_trips_through_our_codec() -> None:
    enc, dec = Encoder(), Decoder()
    for _ in range(3):  # the same blocks again: now mostly indexes, tables in sync throughout
        for headers in CORPUS:
            assert dec.decode(enc.encode(headers)) == headers
            assert dec.table_entries() == enc.table_entries()
            assert dec.table_size == enc.table_size


def test_our_encoder_to_hpack_decoder() -> None:
    enc, dec = Encoder(), hpack.Decoder()
    for round_ in range(3):
        if round_ == 2:
            enc.header_table_size = 300  # hpack's decoder applies the update we send first
        for headers in CORPUS:
            assert dec.decode(enc.encode(headers), raw=True) == headers
            assert list(dec.header_table.dynamic_entries) == enc.table_entries()


@pytest.mark.parametrize("huffman", [True, False])
def test_hpack_encoder_to_our_decoder(huffman: bool) -> None:
    enc, dec = hpack.Encoder(), Decoder()
    for round_ in range(4):
        if round_ == 2:
            enc.header_table_size = 256  # hpack sends the size update (§6.3)
        if round_ == 3:
            enc.header_table_size = 4096
        for headers in CORPUS:
            assert dec.decode(enc.encode(headers, huffman=huffman)) == headers
            assert dec.table_entries() == list(enc.header_table.dynamic_entries)
            assert dec.table_size == enc.header_table._current_size


# --- limits and malformed input -----------------------------------------------------------------


def test_oversized_header_list() -> None:
    headers = [(b"x-h%d" % i, b"v" * 100) for i in range(10)]  # each 4 + 100 + 32 = 136
    block = hpack.Encoder().encode(headers)
    dec = Decoder(max_header_list_size=136 * 10)
    assert dec.decode(block) == headers  # exactly at the limit is fine
    dec = Decoder(max_header_list_size=136 * 10 - 1)
    with pytest.raises(OversizedHeaderListError):
        dec.decode(block)
    # The whole block was decoded: the table is in sync and the connection can go on.
    assert len(dec.table_entries()) == 10
    dec.max_header_list_size = None
    assert dec.max_header_list_size is None
    assert dec.decode(block) == headers


def test_header_list_bomb_is_refused() -> None:
    """One large entry referenced thousands of times (RFC 9113 §10.5.1)."""
    enc = hpack.Encoder()
    block = enc.encode([(b"x-bomb", b"a" * 4000)]) + b"\xbe" * 20000
    with pytest.raises(OversizedHeaderListError):
        Decoder().decode(block)


def test_table_size_update_limits() -> None:
    with pytest.raises(HPACKError, match="above the allowed"):
        Decoder().decode(h("3fe2 1f"))  # 4097 > 4096
    dec = Decoder(max_table_size=100)
    with pytest.raises(HPACKError):
        dec.decode(h("3f46"))  # 101
    assert dec.decode(h("3f45 82")) == [(b":method", b"GET")]  # 100 is allowed
    with pytest.raises(HPACKError, match="after a header field"):
        Decoder().decode(h("82 20"))
    assert Decoder().decode(h("20 3f e1 1f 82")) == [(b":method", b"GET")]  # two updates


def test_lowered_setting_requires_an_update() -> None:
    dec = Decoder()
    dec.decode(h("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"))
    dec.max_allowed_table_size = 0
    assert dec.max_allowed_table_size == 0
    with pytest.raises(HPACKError, match="missing dynamic table size update"):
        dec.decode(h("82"))
    assert dec.decode(h("20 82")) == [(b":method", b"GET")]
    assert dec.table_entries() == []
    assert dec.decode(h("82")) == [(b":method", b"GET")]


@pytest.mark.parametrize(
    "block",
    [
        "80",  # index 0 (§6.1)
        "be",  # index 62 with an empty dynamic table
        "ff 80 80 80 80 80 01",  # more than five continuation bytes
        "ff ff ff ff ff 0f",  # 2**35-ish, beyond 2**28
        "ff",  # integer truncated
        "ff 80",  # integer truncated in a continuation byte
        "40",  # literal: no name
        "40 05 61 62",  # name shorter than its length
        "40 01 61",  # no value
        "04 7f",  # value length truncated
        "00 81 ff 00",  # Huffman name of one byte that is all padding (8 bits > 7)
        "0f 2f",  # name index 15 + 47 = 62: beyond the table
        "41 83 ff ff ff",  # Huffman value whose padding is longer than 7 bits
        "41 84 ff ff ff fc",  # EOS (30 ones) inside a Huffman string
        "41 81 00",  # Huffman padding of zeros: '0' (00000) then 000 is not all ones
    ],
)
def test_malformed_blocks_raise_hpack_error(block: str) -> None:
    with pytest.raises(HPACKError):
        Decoder().decode(h(block))


def test_every_truncation_is_an_error_or_a_prefix() -> None:
    for blocks in (C3_BLOCKS, C4_BLOCKS):
        full = h(blocks[0])
        for cut in range(len(full)):
            try:
                decoded = Decoder().decode(full[:cut])
            except HPACKError:
                continue
            assert decoded == REQ1[: len(decoded)]


def test_huffman_padding_rules() -> None:
    # "0" is 00000: padded with 111 it is the byte 0x07 (valid); with 000 it is not.
    assert Decoder().decode(h("00 01 61 81 07")) == [(b"a", b"0")]
    # Exactly 7 bits of padding is the most allowed: 'a' is 00011 (5 bits) + "1" * 3 -> 0x1f;
    # an extra 0xff byte would be 11 bits of padding.
    assert Decoder().decode(h("00 01 61 81 1f")) == [(b"a", b"a")]
    with pytest.raises(HPACKError):
        Decoder().decode(h("00 01 61 82 1f ff"))
    assert Decoder().decode(h("00 01 61 80")) == [(b"a", b"")]  # empty Huffman string


def test_uppercase_names_pass_through() -> None:
    block = hpack.Encoder().encode([(b"X-Upper", b"1")])
    assert Decoder().decode(block) == [(b"X-Upper", b"1")]


def test_settings_validation() -> None:
    with pytest.raises(ValueError):
        Decoder(max_table_size=-1)
    dec = Decoder()
    with pytest.raises(ValueError):
        dec.max_allowed_table_size = -1
    with pytest.raises(ValueError):
        dec.max_header_list_size = -5
    with pytest.raises(ValueError):
        Encoder().header_table_size = -1


def test_large_table_grows_and_wraps() -> None:
    """A 64 KiB table with hundreds of entries: the ring grows, then wraps as entries go."""
    enc, dec = hpack.Encoder(), Decoder(max_table_size=65536)
    enc.header_table_size = 65536
    for block_no in range(40):
        headers = [(b"x-%d" % (block_no * 50 + i), b"v" * (i % 7)) for i in range(50)]
        # Refer back to entries inserted in earlier blocks, some long evicted.
        headers += [(b"x-%d" % (block_no * 25), b"v" * ((block_no * 25 % 50) % 7))]
        assert dec.decode(enc.encode(headers)) == headers
        assert dec.table_entries() == list(enc.header_table.dynamic_entries)
        assert dec.table_size == enc.header_table._current_size
    assert len(dec.table_entries()) > 1000
