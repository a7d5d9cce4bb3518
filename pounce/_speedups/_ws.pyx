# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The compiled WebSocket frame core: the API of ``pounce/websocket/frames.py`` on its own frame
reader (RFC 6455 §5), the twin of ``pounce/websocket/core.py``'s wsproto-backed core.

- Frames are read straight from the bytes received (kept only when a frame is incomplete), and
  unmasked (§5.3) while they are copied into the message, eight bytes at a time as in
  ``_wsmask.pyx``: a single-frame message is one copy from the receive buffer.
- ``max_size`` is checked from each frame header (the message's lengths so far), before the
  payload is buffered (§10.4): 1009.
- Text is validated incrementally across fragments and fails at the first bad byte (§8.1: 1007)
  with CPython's UTF-8 decoder (``codecs``' incremental one for fragments), as wsproto does.
- Control frames (§5.5): at most 125 bytes, not fragmented, allowed between fragments; close
  codes (§7.4): a code that may not be sent is 1002, a reason that is not UTF-8 1007.
- permessage-deflate (RFC 7692): agreed as the wsproto twin agrees (``deflate.agree``, wsproto's
  offer parser), then done here on zlib's objects: RSV1 on a message's first frame only (§6.1;
  a set RSV bit that no agreement defines is 1002, RFC 6455 §5.2), each piece inflated as it
  arrives and bounded by ``max_size`` (one byte past it is 1009, RFC 6455 §10.4), the tail
  appended to the last piece (§7.2.2), a payload that does not inflate 1007 (as wsproto), and
  the window bits and context takeover of the agreement (§7.1). A message sent is compressed
  whole, the tail stripped (§7.2.1), RSV1 set, in one buffer.
- The rules and their order follow wsproto's reader, so the twins fail the same frame with the
  same code (``tests/unit/test_ws_differential.py``).
- Frames sent are built in one buffer each and are not masked (§5.1).
- ``receive`` gives each complete message as its payload alone (bytes, or str for text), no
  event object per message; ``receive_data`` wraps them in the events of ``frames.py``.
"""

from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE, PyByteArray_Resize
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdint cimport uint64_t
from libc.string cimport memcpy

from codecs import getincrementaldecoder
from zlib import Z_SYNC_FLUSH, decompressobj
from zlib import error as ZlibError

from wsproto.extensions import PerMessageDeflate

from pounce.websocket.deflate import TAIL, TAIL_SIZE, agree, new_compressor

from pounce.websocket.frames import (
    INVALID_DATA,
    PROTOCOL_ERROR,
    TOO_BIG,
    TOO_BIG_REASON,
    Close,
    ConnectionClosed,
    Failure,
    Ping,
    Pong,
    as_events,
)

# RFC 6455 §5.2 opcodes.
cdef enum:
    OP_CONTINUATION = 0x0
    OP_TEXT = 0x1
    OP_BINARY = 0x2
    OP_CLOSE = 0x8
    OP_PING = 0x9
    OP_PONG = 0xA

# RFC 6455 §5.2: the RSV bits of a frame's first byte; RFC 7692 §6: RSV1 marks a compressed
# message ("Per-Message Compressed" bit).
cdef enum:
    RSV1 = 0x40
    RSV_ALL = 0x70

# RFC 6455 §5.2: payload lengths up to this fit the 7-bit field; 126 and 127 announce 2 and 8
# bytes of length. §5.5: a control frame carries at most MAX_CONTROL bytes.
cdef enum:
    MAX_CONTROL = 125
    LENGTH_16 = 126
    LENGTH_64 = 127
    MAX_LENGTH_16 = 0xFFFF

# A binary message in one frame that a read cuts is unmasked into a bytes object of its length,
# made when its first piece arrives (no second copy at its end), when it is at most this long:
# a client announcing a larger frame gets memory only as its bytes arrive (RFC 6455 §10.4).
cdef enum:
    WHOLE_MAX = 1 << 20

# RFC 6455 §7.4.1: the close code when none was received, and the local-only codes a close
# frame may not carry (1005, 1006, 1015; an endpoint sends 1000 in their place, as wsproto).
cdef enum:
    NO_STATUS = 1005
    ABNORMAL = 1006
    TLS_FAILED = 1015
    NORMAL = 1000

_Utf8Decoder = getincrementaldecoder("utf-8")


cdef inline void unmask_copy(
    unsigned char* dst, const unsigned char* src, Py_ssize_t n,
    const unsigned char* key, int offset,
) noexcept nogil:
    """dst = src XOR the key (RFC 6455 §5.3), the key starting at byte ``offset``."""
    cdef unsigned char kb[8]
    cdef uint64_t k8, word
    cdef Py_ssize_t i, words = n >> 3
    for i in range(8):
        kb[i] = key[(i + offset) & 3]
    memcpy(&k8, kb, 8)
    for i in range(words):
        memcpy(&word, src + (i << 3), 8)
        word ^= k8
        memcpy(dst + (i << 3), &word, 8)
    for i in range(words << 3, n):
        dst[i] = src[i] ^ key[(i + offset) & 3]


cdef inline Py_ssize_t header_size(Py_ssize_t n) noexcept:
    """The bytes of a server frame's header for an n-byte payload (RFC 6455 §5.2: the minimal
    length encoding, no masking key, §5.1)."""
    return 2 if n <= MAX_CONTROL else (4 if n <= MAX_LENGTH_16 else 10)


cdef inline Py_ssize_t put_header(unsigned char* q, int opcode, Py_ssize_t n) noexcept:
    """A server frame's header at q (FIN set, ``opcode`` may carry RSV1, RFC 7692 §6); its
    size."""
    cdef Py_ssize_t head = header_size(n)
    cdef int i
    q[0] = 0x80 | opcode
    if head == 2:
        q[1] = <unsigned char>n
    elif head == 4:
        q[1] = LENGTH_16
        q[2] = <unsigned char>(n >> 8)
        q[3] = <unsigned char>n
    else:
        q[1] = LENGTH_64
        for i in range(8):
            q[2 + i] = <unsigned char>((<uint64_t>n) >> (56 - 8 * i))
    return head


cdef inline bint receivable_close_code(unsigned int code) noexcept:
    """RFC 6455 §7.4.1-§7.4.2: codes a close frame may carry; 1004 is reserved, 1005, 1006 and
    1015 are local-only, 1014 and the rest up to 2999 are unassigned (wsproto's table, so the
    twins agree), 3000-4999 belong to libraries and applications."""
    return 1000 <= code <= 1003 or 1007 <= code <= 1013 or 3000 <= code <= 4999


cdef class FrameCore:
    """A server-side frame core: complete messages and control events from client bytes."""

    cdef readonly Py_ssize_t max_size
    cdef bytearray _buf  # the bytes of an incomplete frame, kept until the rest arrives
    cdef bint _done  # a close frame or a failure: nothing more is read
    cdef bint _close_sent
    cdef bint _close_received
    # The frame being read (its header consumed).
    cdef bint _in_frame
    cdef bint _fin
    cdef bint _started  # a piece of its payload was processed
    cdef int _opcode
    cdef unsigned char _key[4]
    cdef int _key_offset
    cdef uint64_t _left  # payload bytes still to come
    # The message being received.
    cdef int _message  # 0 (none), OP_TEXT or OP_BINARY
    cdef uint64_t _message_size  # payload bytes of its frames so far (the 1009 check)
    cdef bint _pieces  # a piece of it was buffered (not a message in one piece)
    cdef bytearray _bytes  # binary pieces, unmasked
    cdef bytes _whole  # a binary message in one frame cut by a read (WHOLE_MAX), unmasked
    cdef Py_ssize_t _whole_used  # its bytes filled in so far
    cdef list _text  # text pieces, decoded
    cdef object _decoder
    # permessage-deflate (RFC 7692), when agreed.
    cdef bint _deflate
    cdef int _client_bits  # client_max_window_bits: the window we inflate with (§7.1.2.2)
    cdef int _server_bits  # server_max_window_bits: the window we compress with (§7.1.2.1)
    cdef bint _client_no_takeover  # a fresh inflater per message (§7.1.1.2)
    cdef bint _server_no_takeover  # a fresh compressor per message (§7.1.1.1)
    cdef bint _compressed  # the message being received is compressed (RSV1 on its first frame)
    cdef Py_ssize_t _inflated  # bytes inflated so far of that message
    cdef object _decompressor
    cdef object _compressor

    def __init__(self, Py_ssize_t max_size):
        self.max_size = max_size
        self._buf = bytearray()
        self._bytes = bytearray()
        self._text = []

    @property
    def close_sent(self):
        return self._close_sent

    def negotiate(self, offers):
        # RFC 7692 §5: the twin's agreement (wsproto's parser), its parameters read back.
        extension = PerMessageDeflate()
        agreed = agree(offers, extension)
        if agreed is not None:
            self._deflate = True
            self._client_bits = extension.client_max_window_bits
            self._server_bits = extension.server_max_window_bits
            self._client_no_takeover = extension.client_no_context_takeover
            self._server_no_takeover = extension.server_no_context_takeover
        return agreed

    # Receiving ---------------------------------------------------------------------------

    def receive_data(self, data):
        return as_events(self.receive(data))

    def receive(self, data):
        """A complete message is its payload alone (bytes, or str for text): no event object
        per message (``frames.py``)."""
        if self._done:
            raise ConnectionClosed("the WebSocket is closed for reading")
        if type(data) is not bytes:
            data = bytes(data)
        cdef list out = []
        cdef Py_ssize_t used
        cdef bytearray buf = self._buf
        if PyByteArray_GET_SIZE(buf):
            buf += data
            used = self._read(<const unsigned char*>PyByteArray_AS_STRING(buf),
                              PyByteArray_GET_SIZE(buf), out)
            del buf[:used]
        else:
            used = self._read(<const unsigned char*>PyBytes_AS_STRING(data),
                              PyBytes_GET_SIZE(data), out)
            if used < PyBytes_GET_SIZE(data) and not self._done:
                buf += data[used:]
        if self._done:
            self._buf = bytearray()
        return out

    cdef Py_ssize_t _fail(self, list out, int code, str reason) except -1:
        self._done = True
        out.append(Failure(code, reason))
        return 0

    cdef Py_ssize_t _read(self, const unsigned char* p, Py_ssize_t n, list out) except -1:
        """Read frames from p[0:n]; the number of bytes consumed."""
        cdef Py_ssize_t pos = 0, head, take
        cdef unsigned char b0, b1
        cdef int opcode, short
        cdef bint fin
        cdef uint64_t length, total = 0
        while not self._done:
            if not self._in_frame:
                # RFC 6455 §5.2, in wsproto's order of checks.
                if n - pos < 2:
                    break
                b0 = p[pos]
                b1 = p[pos + 1]
                fin = (b0 & 0x80) != 0
                opcode = b0 & 0x0F
                if not (opcode <= OP_BINARY or OP_CLOSE <= opcode <= OP_PONG):
                    self._fail(out, PROTOCOL_ERROR, f"invalid opcode {opcode:#x}")
                    break
                if opcode >= OP_CLOSE and not fin:
                    self._fail(out, PROTOCOL_ERROR, "fragmented control frame")  # §5.5
                    break
                short = b1 & 0x7F
                if opcode >= OP_CLOSE and short > MAX_CONTROL:
                    self._fail(out, PROTOCOL_ERROR, "control frame over 125 bytes")  # §5.5
                    break
                if short == LENGTH_16:
                    if n - pos < 4:
                        break
                    length = (<uint64_t>p[pos + 2] << 8) | p[pos + 3]
                    if length <= MAX_CONTROL:
                        # §5.2: the minimal number of bytes MUST be used for the length.
                        self._fail(out, PROTOCOL_ERROR, "length not minimally encoded")
                        break
                    head = 4
                elif short == LENGTH_64:
                    if n - pos < 10:
                        break
                    length = 0
                    for take in range(2, 10):
                        length = (length << 8) | p[pos + take]
                    if length <= MAX_LENGTH_16:
                        self._fail(out, PROTOCOL_ERROR, "length not minimally encoded")
                        break
                    if length >> 63:
                        self._fail(out, PROTOCOL_ERROR, "64-bit length with the high bit set")
                        break
                    head = 10
                else:
                    length = short
                    head = 2
                if opcode < OP_CLOSE:
                    # §10.4: a message over max_size fails from its header, before its payload.
                    total = (self._message_size if opcode == OP_CONTINUATION else 0) + length
                    if total > <uint64_t>self.max_size:
                        self._fail(out, TOO_BIG, TOO_BIG_REASON)
                        break
                if b0 & (RSV_ALL ^ RSV1 if self._deflate and OP_TEXT <= opcode <= OP_BINARY
                         else RSV_ALL):
                    # §5.2: RSV1-3 must be 0 unless an extension defines them; RFC 7692 §6.1:
                    # RSV1 on the first frame of a message only, not continuation or control.
                    self._fail(out, PROTOCOL_ERROR, "reserved bit set")
                    break
                if not (b1 & 0x80):
                    self._fail(out, PROTOCOL_ERROR, "unmasked client frame")  # §5.1
                    break
                if n - pos < head + 4:
                    break
                memcpy(self._key, p + pos + head, 4)
                pos += head + 4
                self._in_frame = True
                self._fin = fin
                self._started = False
                self._opcode = opcode
                self._key_offset = 0
                self._left = length
                if opcode < OP_CLOSE:
                    self._message_size = 0 if fin else total
                    if not self._message:
                        # RFC 7692 §6.1: the first frame's RSV1 covers the whole message,
                        # whatever control frames come between its fragments.
                        self._compressed = (b0 & RSV1) != 0
            if self._opcode >= OP_CLOSE:
                # A control frame is read whole (§5.5: at most 125 bytes).
                if <uint64_t>(n - pos) < self._left:
                    break
                self._in_frame = False
                take = <Py_ssize_t>self._left
                self._control(p + pos, take, out)
                pos += take
                continue
            take = n - pos
            if <uint64_t>take > self._left:
                take = <Py_ssize_t>self._left
            if take == 0 and self._left:
                break
            self._data(p + pos, take, out)
            pos += take
            if self._left == 0:
                self._in_frame = False
        return pos

    cdef int _control(self, const unsigned char* p, Py_ssize_t n, list out) except -1:
        cdef bytes payload = PyBytes_FromStringAndSize(NULL, n)
        unmask_copy(<unsigned char*>PyBytes_AS_STRING(payload), p, n, self._key, 0)
        cdef unsigned int code
        if self._opcode == OP_PING:
            out.append(Ping(payload))
        elif self._opcode == OP_PONG:
            out.append(Pong(payload))
        elif n == 0:
            self._done = self._close_received = True
            out.append(Close(NO_STATUS, ""))  # §7.1.5: no code received is 1005
        elif n == 1:
            self._fail(out, PROTOCOL_ERROR, "close frame with a 1-byte payload")  # §5.5.1
        else:
            code = (<unsigned int>(<unsigned char>payload[0]) << 8) | <unsigned char>payload[1]
            if not receivable_close_code(code):
                self._fail(out, PROTOCOL_ERROR, f"close code {code} may not be sent")  # §7.4
                return 0
            try:
                reason = payload[2:].decode("utf-8")
            except UnicodeDecodeError:
                self._fail(out, INVALID_DATA, "close reason is not UTF-8")  # §5.5.1, §8.1
                return 0
            self._done = self._close_received = True
            out.append(Close(code, reason))
        return 0

    cdef int _data(self, const unsigned char* p, Py_ssize_t n, list out) except -1:
        """A piece of a data frame's payload: n bytes, maybe all that remains of it."""
        cdef int opcode = self._opcode
        cdef bint misplaced = False  # a new message inside one (§5.4)
        if not self._started:
            # §5.4: a message is one TEXT or BINARY frame and CONTINUATION frames up to FIN.
            self._started = True
            if opcode == OP_CONTINUATION:
                if not self._message:
                    self._fail(out, PROTOCOL_ERROR, "continuation frame without a message")
                    return 0
            elif self._message:
                misplaced = True
            else:
                self._message = opcode
        self._left -= n
        cdef bint finished = self._fin and self._left == 0
        cdef Py_ssize_t size
        cdef object chunk
        cdef int offset = self._key_offset
        self._key_offset = (offset + <int>(n & 3)) & 3
        if self._compressed:
            # The message's inflater takes the piece before the message rule is checked, as in
            # wsproto (its extension runs before its message decoder): the same code first.
            chunk = self._inflate(p, n, offset, finished, out)
            if chunk is None:
                return 0
        if misplaced:
            self._fail(out, PROTOCOL_ERROR, "new message before the last one ended")
            return 0
        if self._compressed:
            self._add(<bytes>chunk, finished, out)
        elif self._message == OP_BINARY:
            if finished and not self._pieces:
                chunk = PyBytes_FromStringAndSize(NULL, n)
                unmask_copy(<unsigned char*>PyBytes_AS_STRING(chunk), p, n, self._key, offset)
                out.append(chunk)
            elif self._whole is not None or (
                not self._pieces and self._fin and n + self._left <= WHOLE_MAX
            ):
                # The first piece of a message in one frame (its length known from the header):
                # the message's bytes object, filled piece by piece. Nothing else holds it until
                # it is complete, so writing into it is safe (as CPython's own _PyBytes_Resize).
                if self._whole is None:
                    self._whole = PyBytes_FromStringAndSize(NULL, <Py_ssize_t>(n + self._left))
                    self._whole_used = 0
                    self._pieces = True
                unmask_copy(<unsigned char*>PyBytes_AS_STRING(self._whole) + self._whole_used,
                            p, n, self._key, offset)
                self._whole_used += n
                if finished:
                    out.append(self._whole)
                    self._whole = None
            else:
                size = PyByteArray_GET_SIZE(self._bytes)
                PyByteArray_Resize(self._bytes, size + n)
                unmask_copy(<unsigned char*>PyByteArray_AS_STRING(self._bytes) + size, p, n,
                            self._key, offset)
                self._pieces = True
                if finished:
                    out.append(bytes(self._bytes))
                    self._bytes = bytearray()
        else:
            chunk = PyBytes_FromStringAndSize(NULL, n)
            unmask_copy(<unsigned char*>PyBytes_AS_STRING(chunk), p, n, self._key, offset)
            self._add(<bytes>chunk, finished, out)
        if finished:
            self._message = 0
            self._pieces = False
        return 0

    cdef object _inflate(self, const unsigned char* p, Py_ssize_t n, int offset, bint last,
                         list out):
        """A piece of a compressed message (RFC 7692 §6.2), unmasked and inflated, and with its
        last piece what the tail gives (§7.2.2); None once the connection failed."""
        cdef bytes chunk = PyBytes_FromStringAndSize(NULL, n)
        unmask_copy(<unsigned char*>PyBytes_AS_STRING(chunk), p, n, self._key, offset)
        if self._decompressor is None:
            # §7.1.2.2: the client compresses with at most client_max_window_bits (raw deflate).
            self._decompressor = decompressobj(-self._client_bits)
        try:
            # RFC 6455 §10.4: at most one byte past max_size is inflated, then 1009 (§7.4.1).
            chunk = self._decompressor.decompress(chunk, self.max_size - self._inflated + 1)
            self._inflated += PyBytes_GET_SIZE(chunk)
            if self._inflated > self.max_size:
                self._fail(out, TOO_BIG, TOO_BIG_REASON)
                return None
            if last:
                tail = self._decompressor.decompress(TAIL) + self._decompressor.flush()
                if tail:
                    self._inflated += PyBytes_GET_SIZE(tail)
                    if self._inflated > self.max_size:
                        self._fail(out, TOO_BIG, TOO_BIG_REASON)
                        return None
                    chunk += tail
        except ZlibError:
            # Not a deflate stream: 1007, as wsproto (its INVALID_FRAME_PAYLOAD_DATA).
            self._fail(out, INVALID_DATA, "compressed payload does not inflate")
            return None
        if last:
            self._inflated = 0
            if self._client_no_takeover:
                self._decompressor = None  # §7.1.1.2: each message from an empty window
        return chunk

    cdef int _add(self, bytes chunk, bint finished, list out) except -1:
        """A piece of the message, unmasked (and inflated)."""
        if self._message == OP_BINARY:
            if finished and not self._pieces:
                out.append(chunk)
            else:
                self._bytes += chunk
                self._pieces = True
                if finished:
                    out.append(bytes(self._bytes))
                    self._bytes = bytearray()
            return 0
        try:
            if finished and not self._pieces:
                out.append(chunk.decode("utf-8"))
            else:
                # §8.1: validated as it arrives, failing at the first bad byte.
                if self._decoder is None:
                    self._decoder = _Utf8Decoder()
                self._text.append(self._decoder.decode(chunk, finished))
                self._pieces = True
                if finished:
                    out.append("".join(self._text))
                    self._text = []
                    self._decoder = None
        except UnicodeDecodeError:
            self._fail(out, INVALID_DATA, "text message is not UTF-8")  # §8.1
        return 0

    # Sending -----------------------------------------------------------------------------

    cdef bytes _frame(self, int opcode, const unsigned char* data, Py_ssize_t n):
        """One frame, FIN set, unmasked (§5.1), header and payload in one buffer; ``opcode``
        may carry RSV1 (RFC 7692 §6)."""
        cdef bytes frame = PyBytes_FromStringAndSize(NULL, header_size(n) + n)
        cdef unsigned char* q = <unsigned char*>PyBytes_AS_STRING(frame)
        memcpy(q + put_header(q, opcode, n), data, n)
        return frame

    def send_message(self, data):
        cdef bytes payload
        if self._close_sent or self._close_received:
            return b""  # §5.5.1: nothing after a close frame
        cdef int opcode = OP_TEXT if isinstance(data, str) else OP_BINARY
        if opcode == OP_TEXT:
            payload = (<str>data).encode("utf-8")
        else:
            payload = data if type(data) is bytes else bytes(data)
        cdef Py_ssize_t n = PyBytes_GET_SIZE(payload)
        if self._deflate:
            # RFC 7692 §7.2.1: the whole message compressed and sync-flushed, the tail left off
            # (not copied: the frame takes n - TAIL_SIZE bytes), RSV1 set (§6).
            if self._compressor is None:
                # §7.1.2.1: at most server_max_window_bits of window (raw deflate).
                self._compressor = new_compressor(self._server_bits)
            payload = self._compressor.compress(payload) + self._compressor.flush(Z_SYNC_FLUSH)
            if self._server_no_takeover:
                self._compressor = None  # §7.1.1.1: each message from an empty window
            n = PyBytes_GET_SIZE(payload) - TAIL_SIZE
            opcode |= RSV1
        return self._frame(opcode, <const unsigned char*>PyBytes_AS_STRING(payload), n)

    def send_message_parts(self, data):
        """``send_message``'s frame as ``[header, payload]`` when the payload goes out as it is
        (binary, without permessage-deflate): the carrier writes both (``writelines``, one
        writev) and a large payload is not copied into a frame; else ``[frame]``, and ``[]``
        after a close frame (§5.5.1)."""
        if self._close_sent or self._close_received:
            return []  # §5.5.1: nothing after a close frame
        if self._deflate or type(data) is not bytes:
            return [self.send_message(data)]
        cdef Py_ssize_t n = PyBytes_GET_SIZE(<bytes>data)
        cdef bytes head = PyBytes_FromStringAndSize(NULL, header_size(n))
        put_header(<unsigned char*>PyBytes_AS_STRING(head), OP_BINARY, n)
        return [head, data]

    def send_ping(self, payload):
        return self._control_frame(OP_PING, payload)

    def send_pong(self, payload):
        return self._control_frame(OP_PONG, payload)

    cdef bytes _control_frame(self, int opcode, payload):
        if self._close_sent or self._close_received:
            return b""  # §5.5.1: nothing after a close frame
        cdef bytes body = payload if type(payload) is bytes else bytes(payload)
        if PyBytes_GET_SIZE(body) > MAX_CONTROL:
            raise ValueError("a control frame carries at most 125 bytes")  # §5.5
        return self._frame(opcode, <const unsigned char*>PyBytes_AS_STRING(body),
                           PyBytes_GET_SIZE(body))

    def send_close(self, int code, str reason):
        if self._close_sent:
            return b""
        self._close_sent = True
        cdef bytes body
        if code == NO_STATUS:
            body = b""  # §7.1.5: no code to echo, an empty close frame
        else:
            if code == ABNORMAL or code == TLS_FAILED:
                code = NORMAL  # local-only codes are never sent (§7.4.1)
            encoded = reason.encode("utf-8")
            if len(encoded) > MAX_CONTROL - 2:
                # §5.5: the close payload fits 125 bytes; cut at a character boundary.
                encoded = encoded[:MAX_CONTROL - 2].decode("utf-8", "ignore").encode("utf-8")
            body = bytes((code >> 8, code & 0xFF)) + encoded
        return self._frame(OP_CLOSE, <const unsigned char*>PyBytes_AS_STRING(body),
                           PyBytes_GET_SIZE(body))
