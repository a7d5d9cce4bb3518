"""permessage-deflate (RFC 7692) agreement, shared by both WebSocket frame cores.

One agreement: each offer's parameters (RFC 7692 §7.1) are checked here, and wsproto's
``PerMessageDeflate.accept`` builds the answer to the first valid one, for the wsproto-backed
core (``core.py``) and for the compiled one (``_speedups/_ws.pyx``), which then reads the
agreed parameters off the extension. Two things are done here rather than by wsproto's
``server_extensions_handshake``:

- The first acceptable offer is the agreement (RFC 7692 §5: the client lists its offers in order
  of preference and the server accepts one). wsproto accepted every offer in turn on the same
  extension object and answered with the last: the parameters of the offers before it (a
  ``client_no_context_takeover``) stayed set on the extension though the answer did not name
  them, and the server then inflated with a state the client did not agree to.
- An offer RFC 7692 §7.1 says to decline is declined, and the next one considered: a parameter
  §7.1 does not define (``x_foo``), one given twice, a value where §7.1.1 allows none
  (``server_no_context_takeover=1``), ``server_max_window_bits`` without its value (§7.1.2.1),
  a window bits value that is not 8-15 written without leading zeros (§7.1.2; ``=x``, ``=08``,
  ``=16``). wsproto took the first three (the last of a duplicate winning), answered the fourth
  with 15 and raised ``ValueError`` out of the handshake on ``=x``; websockets declines them
  all, as here. A value may be a quoted-string (RFC 6455 §9.1: ``client_max_window_bits="10"``
  is 10, as websockets reads it; wsproto raised on it). A window of 8 is declined too though
  §7.1.2 allows it: zlib's raw deflate has no 8-bit window (it compresses with 9), wsproto
  takes 9-15 (websockets accepts ``client_max_window_bits=8``).
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
        name, *parameters = offer.split(";")
        if name.strip() != PerMessageDeflate.name:
            continue  # another extension (RFC 6455 §9.1: not ours to answer)
        valid = _valid_offer(parameters)
        if valid is not None:
            # wsproto reads the offer rebuilt from the checked parameters: its parser takes a
            # parameter by prefix and a value by int(), neither of which can fail now.
            return server_extensions_handshake([valid], [extension])
    return None


# RFC 7692 §7.1: the parameters of an offer, and whether each takes a value ("client_max_window_
# bits" may have one or not, §7.1.2.2; "server_max_window_bits" must, §7.1.2.1; the context
# takeover ones have none, §7.1.1).
_VALUE_NONE, _VALUE_OPTIONAL, _VALUE_REQUIRED = 0, 1, 2
_PARAMETERS = {
    "server_no_context_takeover": _VALUE_NONE,
    "client_no_context_takeover": _VALUE_NONE,
    "server_max_window_bits": _VALUE_REQUIRED,
    "client_max_window_bits": _VALUE_OPTIONAL,
}
# §7.1.2: window bits are 8-15 with no leading zeros; 8 is left out (see the module's comment).
_WINDOW_BITS = frozenset(str(bits) for bits in range(9, 16))


def _valid_offer(parameters: list[str]) -> str | None:
    """The offer with these parameters (what follows ``permessage-deflate;``) rebuilt with its
    values unquoted, or None when RFC 7692 §7.1 says the server MUST decline it."""
    names: set[str] = set()
    rebuilt = [PerMessageDeflate.name]
    for parameter in parameters:
        name, equals, value = (part.strip() for part in parameter.partition("="))
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]  # a quoted-string (RFC 6455 §9.1); no escapes in a number
        kind = _PARAMETERS.get(name)
        if kind is None or name in names:
            return None  # not defined for an offer, or given twice (§7.1)
        names.add(name)
        if equals:
            if kind == _VALUE_NONE or value not in _WINDOW_BITS:
                return None  # a value where none belongs, or not a window size (§7.1.2)
            rebuilt.append(f"{name}={value}")
        elif kind == _VALUE_REQUIRED:
            return None  # server_max_window_bits without its value (§7.1.2.1)
        else:
            rebuilt.append(name)
    return "; ".join(rebuilt)
