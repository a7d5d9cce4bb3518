"""The HTTP/2 constants both cores share, defined once.

The h2-backed core (``pounce/http2/connection.py``) imports them; the compiled core
(``pounce/_speedups/_h2.pyx``) reads them at import into C globals and tables. This module
imports nothing, so that code that only needs the preface (HTTP/1.1 spotting a prior-knowledge
HTTP/2 client) does not load the h2 library.
"""

from __future__ import annotations

# RFC 9113 §3.4: the client connection preface.
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
# The PING payload of shutdown's PING before the GOAWAY (drain_ping), in both cores.
DRAIN_PING = b"pounce\x00\x01"

# RFC 9113 §7: error codes.
NO_ERROR = 0x0
PROTOCOL_ERROR = 0x1
INTERNAL_ERROR = 0x2
FLOW_CONTROL_ERROR = 0x3
STREAM_CLOSED = 0x5
FRAME_SIZE_ERROR = 0x6
REFUSED_STREAM = 0x7
CANCEL = 0x8
COMPRESSION_ERROR = 0x9
ENHANCE_YOUR_CALM = 0xB
# Their names (the metrics' label of a connection error).
ERROR_NAMES = {
    NO_ERROR: "NO_ERROR",
    PROTOCOL_ERROR: "PROTOCOL_ERROR",
    INTERNAL_ERROR: "INTERNAL_ERROR",
    FLOW_CONTROL_ERROR: "FLOW_CONTROL_ERROR",
    STREAM_CLOSED: "STREAM_CLOSED",
    FRAME_SIZE_ERROR: "FRAME_SIZE_ERROR",
    REFUSED_STREAM: "REFUSED_STREAM",
    CANCEL: "CANCEL",
    COMPRESSION_ERROR: "COMPRESSION_ERROR",
    ENHANCE_YOUR_CALM: "ENHANCE_YOUR_CALM",
}

# RFC 9113 §6.5.2, §6.9.2: the initial flow-control window of the connection and of every
# stream, until SETTINGS_INITIAL_WINDOW_SIZE (streams) or WINDOW_UPDATE (the connection).
DEFAULT_WINDOW = 65535
# RFC 9113 §4.2, §6.5.2: SETTINGS_MAX_FRAME_SIZE's initial value, and the least a peer may set.
DEFAULT_FRAME_SIZE = 16384

# What this server advertises in its SETTINGS (RFC 9113 §6.5.2) and enforces unless configured:
# the defaults of H2Settings, of Config's h2_* fields and of the --h2-* options.
DEFAULT_MAX_CONCURRENT_STREAMS = 100
DEFAULT_INITIAL_WINDOW_SIZE = 256 * 1024  # per stream, request bodies
DEFAULT_CONNECTION_WINDOW_SIZE = 1024 * 1024
DEFAULT_MAX_HEADER_LIST_SIZE = 64 * 1024

# RFC 9113 §8.2.2: connection-specific header fields must not appear in HTTP/2 messages
# (TE is allowed, with the value "trailers" only).
CONNECTION_HEADERS = frozenset(
    (b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade")
)
