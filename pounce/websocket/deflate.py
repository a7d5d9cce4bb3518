"""permessage-deflate (RFC 7692) agreement, shared by both WebSocket frame cores.

One parser: wsproto's ``PerMessageDeflate.accept`` reads each offer's parameters (RFC 7692
§7.1) and builds the answer, for the wsproto-backed core (``core.py``) and for the compiled one
(``_speedups/_ws.pyx``), which then reads the agreed parameters off the extension. Two things
are done here rather than by wsproto's ``server_extensions_handshake``:

- The first acceptable offer is the agreement (RFC 7692 §5: the client lists its offers in order
  of preference and the server accepts one). wsproto accepted every offer in turn on the same
  extension object and answered with the last: the parameters of the offers before it (a
  ``client_no_context_takeover``) stayed set on the extension though the answer did not name
  them, and the server then inflated with a state the client did not agree to.
- An offer with a parameter value that is not a number (``client_max_window_bits=x``) is
  declined (RFC 7692 §7.1: a server MUST decline an offer with an invalid parameter value);
  wsproto raised ``ValueError`` out of the handshake.
"""

from __future__ import annotations

import zlib

from wsproto.extensions import PerMessageDeflate
from wsproto.handshake import server_extensions_handshake

# RFC 7692 §7.2.1: a sender removes these four bytes (an empty stored block, the end of a
# Z_SYNC_FLUSH) from the end of a compressed message; §7.2.2: the receiver appends them before
# inflating the message's last piece.
TAIL = b"\x00\x00\xff\xff"
TAIL_SIZE = len(TAIL)

# How the server compresses its messages; RFC 7692 leaves it to the sender (any deflate stream
# inflates the same). zlib's default (level 6, memLevel 8) spent nearly all of a 64 KiB echo's
# time compressing; level 1 is about 4x faster on JSON-like text for a somewhat larger output,
# the trade nginx (gzip_comp_level 1) and gorilla/websocket (level 1) make by default, and
# memLevel 5 (websockets' default) keeps each connection's compressor at about 144 KiB, not
# 256 KiB, at a 32 KiB window.
COMPRESS_LEVEL = 1
COMPRESS_MEM_LEVEL = 5


def new_compressor(window_bits: int) -> zlib._Compress:
    """A raw-deflate compressor (RFC 7692 §7.2.1) for messages the server sends, within the
    agreed ``server_max_window_bits`` (§7.1.2.1); both cores use it, so their frames stay the
    same bytes (tests/unit/test_ws_differential.py)."""
    return zlib.compressobj(COMPRESS_LEVEL, zlib.DEFLATED, -window_bits, COMPRESS_MEM_LEVEL)


def agree(offers: list[str], extension: PerMessageDeflate) -> bytes | None:
    """The ``Sec-WebSocket-Extensions`` answer to the first acceptable permessage-deflate offer
    in ``offers``, its parameters set on ``extension`` (a fresh one); None to run without."""
    for offer in offers:
        if offer.split(";", 1)[0].strip() != PerMessageDeflate.name:
            continue  # another extension (RFC 6455 §9.1: not ours to answer)
        try:
            # A trial on a fresh extension: accept() sets parameters before it can fail.
            acceptable = PerMessageDeflate().accept(offer) is not None
        except ValueError:
            acceptable = False  # a window bits value that is not a number (§7.1.2)
        if acceptable:
            return server_extensions_handshake([offer], [extension])
    return None
