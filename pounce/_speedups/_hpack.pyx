# cython: language_level=3
"""HPACK, header compression for HTTP/2 (RFC 7541), compiled.

``Decoder`` turns a complete header block (HEADERS + CONTINUATION payloads, RFC 9113 §4.3) into
a list of ``(name, value)`` bytes tuples; ``Encoder`` does the reverse for responses. Both work
on the bytes in place: the only Python objects made per field are the result tuple and its
strings, and a field found in a table is returned as the table's own tuple.

Any malformed block raises ``HPACKError`` (a COMPRESSION_ERROR for the connection, RFC 9113
§4.3); a block whose header list is too large raises ``OversizedHeaderListError`` after the whole
block was decoded, so that the dynamic table stays in sync.

The pure-Python twin of the HTTP/2 core (``pounce/http2/connection.py``) uses the ``hpack`` library,
so this module has no pure twin of its own; the tests compare it with ``hpack`` instead.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Free, PyMem_Realloc
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.string cimport memcpy

from pounce._speedups._fields cimport immutable_fields

from pounce.errors import HPACKError, OversizedHeaderListError

__all__ = ["Decoder", "Encoder", "HPACKError", "OversizedHeaderListError", "STATIC_TABLE"]

cdef enum:
    # RFC 7541 §5.1 sets no bound on integers; we refuse values above 2**28 (no table size,
    # string or index is that large) and more than five continuation bytes.
    MAX_INT = 1 << 28
    MAX_CONTINUATION = 5
    # An entry's size counts 32 octets of overhead (§4.1).
    ENTRY_OVERHEAD = 32
    # The encoder uses at most this much of whatever table size the peer allows.
    ENCODER_TABLE_CAP = 4096
    STATIC_LEN = 61
    # Encoder policies by header name.
    POLICY_INDEX = 0
    POLICY_NO_INDEX = 1  # literal without indexing (§6.2.2)
    POLICY_NEVER = 2     # literal never indexed (§6.2.3)
    HUFF_EMIT = 1
    HUFF_FAIL = 2


# RFC 7541 Appendix A.
STATIC_TABLE = (
    (b":authority", b""),
    (b":method", b"GET"),
    (b":method", b"POST"),
    (b":path", b"/"),
    (b":path", b"/index.html"),
    (b":scheme", b"http"),
    (b":scheme", b"https"),
    (b":status", b"200"),
    (b":status", b"204"),
    (b":status", b"206"),
    (b":status", b"304"),
    (b":status", b"400"),
    (b":status", b"404"),
    (b":status", b"500"),
    (b"accept-charset", b""),
    (b"accept-encoding", b"gzip, deflate"),
    (b"accept-language", b""),
    (b"accept-ranges", b""),
    (b"accept", b""),
    (b"access-control-allow-origin", b""),
    (b"age", b""),
    (b"allow", b""),
    (b"authorization", b""),
    (b"cache-control", b""),
    (b"content-disposition", b""),
    (b"content-encoding", b""),
    (b"content-language", b""),
    (b"content-length", b""),
    (b"content-location", b""),
    (b"content-range", b""),
    (b"content-type", b""),
    (b"cookie", b""),
    (b"date", b""),
    (b"etag", b""),
    (b"expect", b""),
    (b"expires", b""),
    (b"from", b""),
    (b"host", b""),
    (b"if-match", b""),
    (b"if-modified-since", b""),
    (b"if-none-match", b""),
    (b"if-range", b""),
    (b"if-unmodified-since", b""),
    (b"last-modified", b""),
    (b"link", b""),
    (b"location", b""),
    (b"max-forwards", b""),
    (b"proxy-authenticate", b""),
    (b"proxy-authorization", b""),
    (b"range", b""),
    (b"referer", b""),
    (b"refresh", b""),
    (b"retry-after", b""),
    (b"server", b""),
    (b"set-cookie", b""),
    (b"strict-transport-security", b""),
    (b"transfer-encoding", b""),
    (b"user-agent", b""),
    (b"vary", b""),
    (b"via", b""),
    (b"www-authenticate", b""),
)
cdef tuple _STATIC = STATIC_TABLE

# Values that change every response would only churn the dynamic table (content-length, date,
# validators); credentials are never indexed so that an intermediary keeps them out of its
# tables too and they cannot be probed by compression-ratio attacks (§7.1.3).
_POLICIES = {
    b"content-length": POLICY_NO_INDEX,
    b"date": POLICY_NO_INDEX,
    b"etag": POLICY_NO_INDEX,
    b"last-modified": POLICY_NO_INDEX,
    b"age": POLICY_NO_INDEX,
    b"expires": POLICY_NO_INDEX,
    b"content-range": POLICY_NO_INDEX,
    b":path": POLICY_NO_INDEX,
    b"authorization": POLICY_NEVER,
    b"proxy-authorization": POLICY_NEVER,
    b"cookie": POLICY_NEVER,
    b"set-cookie": POLICY_NEVER,
}

# Encoder lookups, built once. One lookup by name gives what the encoder needs to know about it:
# bits 0-7 the lowest static index with that name, bits 8-9 its policy, bit 10 whether some
# static entry has a value for it (only then is the full field looked up).
cdef enum:
    INFO_INDEX_MASK = 0xFF
    INFO_POLICY_SHIFT = 8
    INFO_STATIC_VALUES = 1 << 10

cdef dict _STATIC_FIELDS = {}  # (name, value) -> index
cdef dict _NAME_INFO = {}      # name -> info bits
for _i, _field in enumerate(STATIC_TABLE, 1):
    _info = _NAME_INFO.setdefault(_field[0], _i)
    if _field[1]:
        _STATIC_FIELDS[_field] = _i
        _NAME_INFO[_field[0]] = _info | INFO_STATIC_VALUES
for _name, _policy in _POLICIES.items():
    _NAME_INFO[_name] = _NAME_INFO.get(_name, 0) | (_policy << INFO_POLICY_SHIFT)

# --- Huffman code (RFC 7541 Appendix B) --------------------------------------------------------
# Code lengths in bits of symbols 0..255 and EOS (256). The code is canonical: codes of one
# length are consecutive in symbol order and follow on from the shorter ones, so the lengths
# determine the codes (tests/unit/test_hpack.py checks them against the RFC's examples).
HUFFMAN_LENGTHS = (
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,  # 0x00
    28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,  # 0x10
    6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,          # 0x20 ' ' ..
    5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,               # 0x30 '0' ..
    13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,                 # 0x40 '@' ..
    7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,              # 0x50 'P' ..
    15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,                 # 0x60 '`' ..
    6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,             # 0x70 'p' ..
    20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,  # 0x80
    24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,  # 0x90
    22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,  # 0xa0
    21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,  # 0xb0
    26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,  # 0xc0
    19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,  # 0xd0
    20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,  # 0xe0
    26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,  # 0xf0
    30,                                                              # EOS
)

ctypedef struct HuffStep:
    uint8_t state  # decoder state (an internal node of the code tree) after this nibble
    uint8_t sym    # the symbol completed by this nibble, when flags has HUFF_EMIT
    uint8_t flags

cdef uint32_t HUFF_CODE[257]
cdef uint8_t HUFF_BITS[257]
# The decoder reads four bits at a time: a state per internal node of the code tree (there are
# 256) and a step per nibble. No code is shorter than five bits, so a nibble completes at most
# one symbol.
cdef HuffStep HUFF_STEP[256][16]
# A string may end in a state only if the bits read since the last symbol are padding: fewer
# than eight, all ones (the most significant bits of EOS), §5.2.
cdef uint8_t HUFF_ACCEPT[256]


cdef int _build_huffman() except -1:
    cdef int sym, bits, i, prev_bits = 0
    cdef uint32_t code = 0
    # sorted() is stable: symbols of one length stay in symbol order.
    order = sorted(range(257), key=HUFFMAN_LENGTHS.__getitem__)
    for i, sym in enumerate(order):
        bits = HUFFMAN_LENGTHS[sym]
        if i:
            code = (code + 1) << (bits - prev_bits)
        prev_bits = bits
        HUFF_CODE[sym] = code
        HUFF_BITS[sym] = bits
    # The code tree: internal nodes are numbered from 0 (the root); a child is either an internal
    # node or a leaf, stored as LEAF + symbol.
    LEAF = 1000
    children = [[-1, -1]]
    depth = [0]
    all_ones = [True]
    for sym in range(257):
        node = 0
        for i in range(HUFF_BITS[sym] - 1, -1, -1):
            bit = (HUFF_CODE[sym] >> i) & 1
            if i == 0:
                children[node][bit] = LEAF + sym
                break
            nxt = children[node][bit]
            if nxt == -1:
                nxt = len(children)
                children.append([-1, -1])
                depth.append(depth[node] + 1)
                all_ones.append(all_ones[node] and bit == 1)
                children[node][bit] = nxt
            node = nxt
    if len(children) != 256:
        raise RuntimeError("the Huffman table is not a complete code")
    for state in range(256):
        HUFF_ACCEPT[state] = 1 if (all_ones[state] and depth[state] <= 7) else 0
        for nibble in range(16):
            node = state
            flags = 0
            out = 0
            for i in range(3, -1, -1):
                child = children[node][(nibble >> i) & 1]
                if child >= LEAF:
                    if child - LEAF == 256:
                        flags = HUFF_FAIL  # EOS inside a string is an error (§5.2)
                        node = 0
                        break
                    flags |= HUFF_EMIT
                    out = child - LEAF
                    node = 0
                else:
                    node = child
            HUFF_STEP[state][nibble].state = node
            HUFF_STEP[state][nibble].sym = out
            HUFF_STEP[state][nibble].flags = flags
    return 0


_build_huffman()


cdef Py_ssize_t _huffman_decode(
    const unsigned char* src, Py_ssize_t n, unsigned char* out
) except -1:
    cdef uint8_t state = 0
    cdef Py_ssize_t i, o = 0
    cdef unsigned char b
    cdef const HuffStep* step
    for i in range(n):
        b = src[i]
        step = &HUFF_STEP[state][b >> 4]
        if step.flags & HUFF_FAIL:
            raise HPACKError("EOS symbol inside a Huffman string (RFC 7541 §5.2)")
        if step.flags & HUFF_EMIT:
            out[o] = step.sym
            o += 1
        state = step.state
        step = &HUFF_STEP[state][b & 0x0F]
        if step.flags & HUFF_FAIL:
            raise HPACKError("EOS symbol inside a Huffman string (RFC 7541 §5.2)")
        if step.flags & HUFF_EMIT:
            out[o] = step.sym
            o += 1
        state = step.state
    if not HUFF_ACCEPT[state]:
        raise HPACKError("invalid Huffman padding (RFC 7541 §5.2)")
    return o


cdef inline Py_ssize_t _huffman_length(const unsigned char* src, Py_ssize_t n) noexcept:
    cdef Py_ssize_t i, bits = 0
    for i in range(n):
        bits += HUFF_BITS[src[i]]
    return (bits + 7) >> 3


cdef Py_ssize_t _huffman_encode(
    const unsigned char* src, Py_ssize_t n, unsigned char* out
) noexcept:
    cdef uint64_t acc = 0
    cdef int nbits = 0
    cdef Py_ssize_t i, o = 0
    cdef unsigned char c
    for i in range(n):
        c = src[i]
        acc = (acc << HUFF_BITS[c]) | HUFF_CODE[c]
        nbits += HUFF_BITS[c]
        while nbits >= 8:
            nbits -= 8
            out[o] = <unsigned char>(acc >> nbits)
            o += 1
    if nbits:
        # Pad with the most significant bits of EOS, i.e. ones (§5.2).
        out[o] = <unsigned char>((acc << (8 - nbits)) | (0xFF >> nbits))
        o += 1
    return o


cdef Py_ssize_t _huffman_encode_shorter(
    const unsigned char* src, Py_ssize_t n, unsigned char* out
) noexcept:
    """Huffman-code ``src`` into ``out`` if that takes fewer than ``n`` bytes and return the
    length; else -1 (having written at most n - 1 bytes). One pass instead of measuring first."""
    cdef uint64_t acc = 0
    cdef int nbits = 0
    cdef Py_ssize_t i, o = 0, last = n - 1
    cdef unsigned char c
    for i in range(n):
        c = src[i]
        acc = (acc << HUFF_BITS[c]) | HUFF_CODE[c]
        nbits += HUFF_BITS[c]
        while nbits >= 8:
            if o >= last:
                return -1
            nbits -= 8
            out[o] = <unsigned char>(acc >> nbits)
            o += 1
    if nbits:
        if o >= last:
            return -1
        out[o] = <unsigned char>((acc << (8 - nbits)) | (0xFF >> nbits))
        o += 1
    return o


# --- integers (§5.1) ---------------------------------------------------------------------------

cdef inline Py_ssize_t _read_int(
    const unsigned char* data, Py_ssize_t* pos, Py_ssize_t end, int prefix_bits
) except -1:
    """The integer whose prefix is in data[pos[0]] (the caller checked pos[0] < end)."""
    cdef Py_ssize_t p = pos[0]
    cdef uint64_t limit = (1 << prefix_bits) - 1
    cdef uint64_t value = data[p] & limit
    cdef uint64_t b
    cdef int shift = 0, _i
    p += 1
    if value < limit:
        pos[0] = p
        return <Py_ssize_t>value
    for _i in range(MAX_CONTINUATION):
        if p >= end:
            raise HPACKError("truncated integer (RFC 7541 §5.1)")
        b = data[p]
        p += 1
        value += (b & 0x7F) << shift
        shift += 7
        if not (b & 0x80):
            if value > MAX_INT:
                raise HPACKError("integer too large (RFC 7541 §5.1)")
            pos[0] = p
            return <Py_ssize_t>value
    raise HPACKError("integer with too many continuation bytes (RFC 7541 §5.1)")


cdef inline Py_ssize_t _put_int(
    unsigned char* out, Py_ssize_t o, Py_ssize_t value, int prefix_bits, unsigned char first
) noexcept:
    """Write ``value`` with an N-bit prefix, ``first`` holding the pattern bits; at most
    1 + 5 bytes for the values we write (room reserved by the caller)."""
    cdef Py_ssize_t limit = (1 << prefix_bits) - 1
    if value < limit:
        out[o] = first | <unsigned char>value
        return o + 1
    out[o] = first | <unsigned char>limit
    o += 1
    value -= limit
    while value >= 128:
        out[o] = <unsigned char>((value & 0x7F) | 0x80)
        value >>= 7
        o += 1
    out[o] = <unsigned char>value
    return o + 1


cdef inline Py_ssize_t _field_size(tuple field):
    return PyBytes_GET_SIZE(field[0]) + PyBytes_GET_SIZE(field[1]) + ENTRY_OVERHEAD


cdef list _grow_ring(list ring, Py_ssize_t mask, Py_ssize_t inserted, Py_ssize_t count):
    """The ring twice as large, each entry at ``seq & new_mask``."""
    cdef Py_ssize_t new_mask = (mask << 1) | 1
    cdef list grown = [None] * (new_mask + 1)
    cdef Py_ssize_t seq
    for seq in range(inserted - count + 1, inserted + 1):
        grown[seq & new_mask] = ring[seq & mask]
    return grown


cdef list _ring_entries(list ring, Py_ssize_t mask, Py_ssize_t inserted, Py_ssize_t count):
    """The dynamic table's entries, newest (index 62) first."""
    return [ring[(inserted - i) & mask] for i in range(count)]


# --- decoder -----------------------------------------------------------------------------------

cdef class Decoder:
    """Decodes the header blocks of one connection's peer (one dynamic table per direction,
    RFC 7541 §2.2).

    ``max_table_size`` is both the table's initial maximum and ``max_allowed_table_size``.
    ``max_header_list_size`` may be ``None`` (no limit).
    """

    def __cinit__(self):
        self._ring = [None] * 16
        self._mask = 15

    def __init__(self, int max_table_size=4096, max_header_list_size=65536):
        if max_table_size < 0:
            raise ValueError("max_table_size must be >= 0")
        self._max_size = max_table_size
        self._allowed = max_table_size
        self._update_required = False
        self.max_header_list_size = max_header_list_size

    def __dealloc__(self):
        PyMem_Free(self._scratch)

    @property
    def max_allowed_table_size(self) -> int:
        """The SETTINGS_HEADER_TABLE_SIZE we advertise. Set it when the peer acknowledges the
        SETTINGS frame carrying it; a size update above it is an error (§4.2, §6.3), and when
        it drops below the table's current maximum, the peer's next block must start with a
        size update (§4.2)."""
        return self._allowed

    @max_allowed_table_size.setter
    def max_allowed_table_size(self, value: int) -> None:
        if value < 0:
            raise ValueError("max_allowed_table_size must be >= 0")
        self._allowed = value
        if value < self._max_size:
            self._update_required = True

    @property
    def max_header_list_size(self):
        """Limit on a decoded header list, each field counting name + value + 32
        (RFC 9113 §6.5.2); ``None``: no limit."""
        return None if self._max_list < 0 else self._max_list

    @max_header_list_size.setter
    def max_header_list_size(self, value) -> None:
        if value is None:
            self._max_list = -1
        elif value < 0:
            raise ValueError("max_header_list_size must be >= 0 or None")
        else:
            self._max_list = value

    @property
    def header_table_size(self) -> int:
        """The dynamic table's current maximum size, as last set by the peer (§4.2)."""
        return self._max_size

    @property
    def table_size(self) -> int:
        """Octets in the dynamic table now (§4.1)."""
        return self._size

    def table_entries(self) -> list:
        """The dynamic table, newest entry (index 62) first."""
        return _ring_entries(self._ring, self._mask, self._inserted, self._count)

    cpdef list decode(self, bytes data):
        """The header list in one complete header block."""
        return self.decode_ptr(
            <const unsigned char*>PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data)
        )

    cdef list decode_ptr(self, const unsigned char* data, Py_ssize_t n):
        cdef list headers = []
        cdef Py_ssize_t pos = 0, index, total = 0, new_size
        cdef unsigned char b
        cdef bint seen_field = False, oversized = False, indexing
        cdef tuple field
        cdef object name, value
        if self._update_required and (n == 0 or (data[0] & 0xE0) != 0x20):
            raise HPACKError(
                "missing dynamic table size update after SETTINGS_HEADER_TABLE_SIZE "
                "was lowered (RFC 7541 §4.2)"
            )
        while pos < n:
            b = data[pos]
            if b & 0x80:
                # Indexed header field (§6.1).
                field = self._lookup(_read_int(data, &pos, n, 7))
            else:
                if b & 0x40:
                    # Literal with incremental indexing (§6.2.1).
                    index = _read_int(data, &pos, n, 6)
                    indexing = True
                elif b & 0x20:
                    # Dynamic table size update (§6.3): only before the first field (§4.2).
                    if seen_field:
                        raise HPACKError(
                            "dynamic table size update after a header field (RFC 7541 §4.2)"
                        )
                    new_size = _read_int(data, &pos, n, 5)
                    if new_size > self._allowed:
                        raise HPACKError(
                            f"dynamic table size update to {new_size} above the allowed "
                            f"{self._allowed} (RFC 7541 §6.3)"
                        )
                    self._resize(new_size)
                    continue
                else:
                    # Literal without indexing (§6.2.2) or never indexed (§6.2.3).
                    index = _read_int(data, &pos, n, 4)
                    indexing = False
                if index:
                    name = self._lookup(index)[0]
                else:
                    name = self._string(data, &pos, n)
                value = self._string(data, &pos, n)
                field = (name, value)
                if indexing:
                    self._add(field)
            seen_field = True
            if not oversized:
                total += _field_size(field)
                if 0 <= self._max_list < total:
                    # Keep decoding so that the dynamic table stays in sync; drop the list.
                    oversized = True
                    headers = None
                else:
                    headers.append(field)
        if oversized:
            raise OversizedHeaderListError(
                f"header list larger than {self._max_list} octets (RFC 9113 §6.5.2)"
            )
        return headers

    cdef object _string(self, const unsigned char* data, Py_ssize_t* pos, Py_ssize_t end):
        """A string literal (§5.2) starting at pos[0]."""
        cdef Py_ssize_t n, start, out_len, need
        cdef bint huffman
        cdef unsigned char* grown
        if pos[0] >= end:
            raise HPACKError("truncated header block (RFC 7541 §5.2)")
        huffman = data[pos[0]] & 0x80
        n = _read_int(data, pos, end, 7)
        start = pos[0]
        if n > end - start:
            raise HPACKError("string literal runs past the end of the block (RFC 7541 §5.2)")
        pos[0] = start + n
        if not huffman:
            return PyBytes_FromStringAndSize(<const char*>data + start, n)
        # The shortest code is 5 bits: at most 8n/5 symbols.
        need = (n * 8) // 5 + 1
        if need > self._scratch_cap:
            grown = <unsigned char*>PyMem_Realloc(self._scratch, need)
            if grown == NULL:
                raise MemoryError()
            self._scratch = grown
            self._scratch_cap = need
        out_len = _huffman_decode(data + start, n, self._scratch)
        return PyBytes_FromStringAndSize(<const char*>self._scratch, out_len)

    cdef tuple _lookup(self, Py_ssize_t index):
        """The field at ``index`` of the static + dynamic index space (§2.3.3)."""
        if index <= 0:
            raise HPACKError("header field index 0 (RFC 7541 §6.1)")
        if index <= STATIC_LEN:
            return <tuple>_STATIC[index - 1]
        index -= STATIC_LEN + 1
        if index >= self._count:
            raise HPACKError(
                f"header field index {index + STATIC_LEN + 1} beyond the dynamic table "
                "(RFC 7541 §2.3.3)"
            )
        return <tuple>self._ring[(self._inserted - index) & self._mask]

    cdef int _add(self, tuple field) except -1:
        cdef Py_ssize_t size = _field_size(field)
        if size > self._max_size:
            # An entry larger than the table empties it and is not added (§4.4).
            self._evict_to(0)
            return 0
        self._evict_to(self._max_size - size)
        if self._count > self._mask:
            self._ring = _grow_ring(self._ring, self._mask, self._inserted, self._count)
            self._mask = (self._mask << 1) | 1
        self._inserted += 1
        self._ring[self._inserted & self._mask] = field
        self._count += 1
        self._size += size
        return 0

    cdef int _evict_to(self, Py_ssize_t limit) except -1:
        """Evict the oldest entries until the table holds at most ``limit`` octets (§4.3)."""
        cdef Py_ssize_t slot
        while self._size > limit:
            slot = (self._inserted - self._count + 1) & self._mask
            self._size -= _field_size(<tuple>self._ring[slot])
            self._ring[slot] = None
            self._count -= 1
        return 0

    cdef int _resize(self, Py_ssize_t new_max) except -1:
        self._max_size = new_max
        self._update_required = False
        self._evict_to(new_max)
        return 0


# --- encoder -----------------------------------------------------------------------------------

cdef dict _STATUS_BLOCKS = {}


cdef bytes _status_block(int status):
    """``:status`` as the static entry when there is one, else as a literal without indexing
    on the static name (§6.2.2): independent of the dynamic table, so cached per status."""
    cdef bytes block = _STATUS_BLOCKS.get(status)
    cdef bytes digits
    cdef unsigned char out[16]
    cdef Py_ssize_t o, hlen
    if block is not None:
        return block
    if not 100 <= status <= 999:
        raise ValueError(f"invalid HTTP status {status}")
    digits = b"%d" % status
    index = _STATIC_FIELDS.get((b":status", digits))
    if index is not None:
        out[0] = 0x80 | <unsigned char><int>index
        o = 1
    else:
        out[0] = 0x08  # literal without indexing, name :status (index 8)
        hlen = _huffman_length(<const unsigned char*>PyBytes_AS_STRING(digits), 3)
        out[1] = 0x80 | <unsigned char>hlen
        o = 2 + _huffman_encode(<const unsigned char*>PyBytes_AS_STRING(digits), 3, out + 2)
    block = PyBytes_FromStringAndSize(<const char*>out, o)
    _STATUS_BLOCKS[status] = block
    return block


cdef class Encoder:
    """Encodes the header blocks a connection sends (its own dynamic table, §2.2).

    Fields in the static table are sent as an index; repeated response fields (server,
    content-type, ...) are added to the dynamic table the first time and sent as an index
    afterwards; values that change every response and credentials are literals that are not
    indexed. Strings are Huffman-coded when that is shorter.
    """

    def __cinit__(self):
        self._ring = [None] * 16
        self._mask = 15
        self._fields = {}
        self._names = {}

    def __init__(self):
        self._max_size = ENCODER_TABLE_CAP
        self._peer_setting = 4096  # the protocol's initial value (RFC 9113 §6.5.2)
        self._update_pending = False
        self._pending_min = 0

    def __dealloc__(self):
        PyMem_Free(self._buf)

    @property
    def header_table_size(self) -> int:
        """The peer's SETTINGS_HEADER_TABLE_SIZE. When the table size we use changes (it is
        capped at 4096), the next block starts with a dynamic table size update (§6.3)."""
        return self._peer_setting

    @header_table_size.setter
    def header_table_size(self, value: int) -> None:
        cdef Py_ssize_t size
        if value < 0:
            raise ValueError("header_table_size must be >= 0")
        self._peer_setting = value
        size = min(value, ENCODER_TABLE_CAP)
        if size == self._max_size:
            return
        self._generation += 1
        # Signal the smallest size since the last block, then the final one (§4.2).
        if not self._update_pending or size < self._pending_min:
            self._pending_min = size
        self._update_pending = True
        self._max_size = size
        self._evict_to(size)

    @property
    def table_size(self) -> int:
        """Octets in the dynamic table now (§4.1)."""
        return self._size

    def table_entries(self) -> list:
        """The dynamic table, newest entry (index 62) first."""
        return _ring_entries(self._ring, self._mask, self._inserted, self._count)

    cpdef bytes encode(self, list headers):
        """One header block for ``headers``, a list of ``(name, value)`` bytes tuples."""
        self._len = 0
        self._put_pending_update()
        self._put_headers(headers)
        return PyBytes_FromStringAndSize(<const char*>self._buf, self._len)

    cpdef bytes encode_status(self, int status):
        """The start of a response block: ``:status`` (cached per status), preceded by a
        pending table size update, so ``encode_status(s) + encode(h)`` is a valid block."""
        cdef bytes block = _status_block(status)
        if not self._update_pending:
            return block
        self._len = 0
        self._put_pending_update()
        self._reserve(PyBytes_GET_SIZE(block))
        memcpy(self._buf + self._len, PyBytes_AS_STRING(block), PyBytes_GET_SIZE(block))
        self._len += PyBytes_GET_SIZE(block)
        return PyBytes_FromStringAndSize(<const char*>self._buf, self._len)

    cpdef bytes encode_response(self, int status, list headers):
        """``encode_status(status) + encode(headers)`` in one pass.

        Most responses of a connection repeat the previous one's fields (a date changes once a
        second). A block that added no entry to the dynamic table and carried no size update
        encodes the same fields the same way while the table is unchanged (§2.3.2: indexes
        refer to the table's state), so it is reused."""
        cdef bytes block
        cdef Py_ssize_t generation = self._generation
        cdef bint cacheable
        if (
            self._last_block is not None
            and status == self._last_status
            and generation == self._last_generation
            and not self._update_pending
            and headers == self._last_headers  # (the same tuple objects, mostly: identity first)
        ):
            return self._last_block
        cacheable = not self._update_pending
        block = _status_block(status)
        self._len = 0
        self._put_pending_update()
        self._reserve(PyBytes_GET_SIZE(block))
        memcpy(self._buf + self._len, PyBytes_AS_STRING(block), PyBytes_GET_SIZE(block))
        self._len += PyBytes_GET_SIZE(block)
        self._put_headers(headers)
        block = PyBytes_FromStringAndSize(<const char*>self._buf, self._len)
        if cacheable and self._generation == generation and immutable_fields(headers):
            self._last_block = block
            self._last_status = status
            self._last_generation = generation
            self._last_headers = list(headers)  # the caller may change its list later
        else:
            self._last_block = None
            self._last_headers = None
        return block

    cdef int _reserve(self, Py_ssize_t n) except -1:
        cdef Py_ssize_t cap
        cdef unsigned char* grown
        if self._len + n <= self._cap:
            return 0
        cap = max(self._cap * 2, self._len + n, 256)
        grown = <unsigned char*>PyMem_Realloc(self._buf, cap)
        if grown == NULL:
            raise MemoryError()
        self._buf = grown
        self._cap = cap
        return 0

    cdef int _put_pending_update(self) except -1:
        if not self._update_pending:
            return 0
        self._reserve(12)
        if self._pending_min < self._max_size:
            self._len = _put_int(self._buf, self._len, self._pending_min, 5, 0x20)
        self._len = _put_int(self._buf, self._len, self._max_size, 5, 0x20)
        self._update_pending = False
        return 0

    cdef int _put_headers(self, list headers) except -1:
        cdef object item
        cdef tuple field
        cdef list fields = headers
        cdef bint converted = False
        # Check every field before encoding any: a failure half-way would leave fields in our
        # table that the peer never saw.
        for item in headers:
            if type(item) is not tuple:
                converted = True
                item = tuple(item)
            if len(<tuple>item) != 2:
                raise ValueError("a header is a (name, value) pair")
            if type((<tuple>item)[0]) is not bytes or type((<tuple>item)[1]) is not bytes:
                raise TypeError("header names and values must be bytes")
        if converted:
            fields = [item if type(item) is tuple else tuple(item) for item in headers]
        for field in fields:
            self._put_field(field[0], field[1], field)
        return 0

    cdef int _put_field(self, object name, object value, object field) except -1:
        cdef object found
        cdef Py_ssize_t name_index, size
        cdef int info, policy, prefix_bits
        cdef unsigned char first
        self._reserve(PyBytes_GET_SIZE(name) + PyBytes_GET_SIZE(value) + 16)
        found = _NAME_INFO.get(name)
        info = 0 if found is None else <int>found
        if info & INFO_STATIC_VALUES:
            found = _STATIC_FIELDS.get(field)
            if found is not None:
                self._len = _put_int(self._buf, self._len, <Py_ssize_t>found, 7, 0x80)
                return 0
        policy = info >> INFO_POLICY_SHIFT & 3
        if policy == POLICY_INDEX:
            found = self._fields.get(field)
            if found is not None:
                self._len = _put_int(
                    self._buf, self._len,
                    STATIC_LEN + 1 + self._inserted - <Py_ssize_t>found, 7, 0x80,
                )
                return 0
        name_index = info & INFO_INDEX_MASK
        if name_index == 0:
            found = self._names.get(name)
            if found is not None:
                name_index = STATIC_LEN + 1 + self._inserted - <Py_ssize_t>found
        size = PyBytes_GET_SIZE(name) + PyBytes_GET_SIZE(value) + ENTRY_OVERHEAD
        # Index only what fits comfortably: one large field should not flush the table.
        if policy == POLICY_INDEX and size <= self._max_size // 2:
            first = 0x40
            prefix_bits = 6
        else:
            if policy == POLICY_INDEX:
                policy = POLICY_NO_INDEX
            first = 0x10 if policy == POLICY_NEVER else 0x00
            prefix_bits = 4
        self._len = _put_int(self._buf, self._len, name_index, prefix_bits, first)
        if name_index == 0:
            self._put_string(name)
        self._put_string(value)
        if policy == POLICY_INDEX:
            self._add(<tuple>field, size)
        return 0

    cdef int _put_string(self, bytes s) except -1:
        """A string literal (§5.2), Huffman-coded when shorter (room reserved by the caller)."""
        cdef const unsigned char* src = <const unsigned char*>PyBytes_AS_STRING(s)
        cdef Py_ssize_t n = PyBytes_GET_SIZE(s)
        cdef Py_ssize_t hlen
        if 0 < n < 127:
            # Either form has a one-byte length prefix: code straight into place.
            hlen = _huffman_encode_shorter(src, n, self._buf + self._len + 1)
            if hlen >= 0:
                self._buf[self._len] = 0x80 | <unsigned char>hlen
                self._len += 1 + hlen
            else:
                self._buf[self._len] = <unsigned char>n
                memcpy(self._buf + self._len + 1, src, n)
                self._len += 1 + n
            return 0
        hlen = _huffman_length(src, n)
        if hlen < n:
            self._len = _put_int(self._buf, self._len, hlen, 7, 0x80)
            self._len += _huffman_encode(src, n, self._buf + self._len)
        else:
            self._len = _put_int(self._buf, self._len, n, 7, 0x00)
            memcpy(self._buf + self._len, src, n)
            self._len += n
        return 0

    cdef int _add(self, tuple field, Py_ssize_t size) except -1:
        self._evict_to(self._max_size - size)
        if self._count > self._mask:
            self._ring = _grow_ring(self._ring, self._mask, self._inserted, self._count)
            self._mask = (self._mask << 1) | 1
        self._inserted += 1
        self._generation += 1
        self._ring[self._inserted & self._mask] = field
        self._fields[field] = self._inserted
        self._names[field[0]] = self._inserted
        self._count += 1
        self._size += size
        return 0

    cdef int _evict_to(self, Py_ssize_t limit) except -1:
        cdef Py_ssize_t seq, slot
        cdef tuple field
        while self._size > limit:
            seq = self._inserted - self._count + 1
            slot = seq & self._mask
            field = <tuple>self._ring[slot]
            self._ring[slot] = None
            if self._fields.get(field) == seq:
                del self._fields[field]
            if self._names.get(field[0]) == seq:
                del self._names[field[0]]
            self._size -= _field_size(field)
            self._count -= 1
            self._generation += 1
        return 0
