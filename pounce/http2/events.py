"""What an HTTP/2 core hands the ``asyncio.Protocol``: its settings, its flood limits, and the
typed events ``receive_data`` returns.

Both cores speak these, the h2-backed one (``pounce/http2/connection.py``) and the compiled one
(``pounce/_speedups/_h2.pyx``), which the former's selector imports: so they live here, below
both, and neither core imports the other's module for them.
"""

from __future__ import annotations

from dataclasses import dataclass

from pounce.http2.constants import (
    DEFAULT_CONNECTION_WINDOW_SIZE,
    DEFAULT_FRAME_SIZE,
    DEFAULT_INITIAL_WINDOW_SIZE,
    DEFAULT_MAX_CONCURRENT_STREAMS,
    DEFAULT_MAX_HEADER_LIST_SIZE,
)

Header = tuple[bytes, bytes]


@dataclass(frozen=True)
class H2Settings:
    """What this server advertises in its SETTINGS frame (RFC 9113 §6.5.2) and enforces."""

    max_concurrent_streams: int = DEFAULT_MAX_CONCURRENT_STREAMS
    initial_window_size: int = DEFAULT_INITIAL_WINDOW_SIZE  # per stream, request bodies
    connection_window_size: int = DEFAULT_CONNECTION_WINDOW_SIZE
    max_header_list_size: int = DEFAULT_MAX_HEADER_LIST_SIZE
    max_frame_size: int = DEFAULT_FRAME_SIZE


@dataclass(frozen=True)
class FloodLimits:
    """How many of each frame a client may send per ``window`` seconds before GOAWAY."""

    window: float = 1.0
    settings: int = 100
    pings: int = 100
    empty_data: int = 100
    # WINDOW_UPDATEs beyond this base allowance must be earned by DATA frames sent.
    window_updates: int = 1000
    # Client resets (and refused streams) per window: max(resets, 2 * max streams).
    resets: int = 200
    # PRIORITY frames (CVE-2019-9513); each new stream adds one to the allowance.
    priority: int = 1000


# Events --------------------------------------------------------------------------------------


@dataclass(slots=True)
class RequestReceived:
    """A request head: pseudo-header fields split out, regular fields as sent (lower-case)."""

    method: bytes
    path: bytes
    scheme: bytes
    authority: bytes | None
    headers: list[Header]
    protocol: bytes | None = None  # RFC 8441 extended CONNECT


@dataclass(slots=True)
class H2RequestReceived:
    stream_id: int
    request: RequestReceived
    end_stream: bool


@dataclass(slots=True)
class H2WebSocketRequest:
    """Extended CONNECT with ``:protocol = websocket`` (RFC 8441 §4)."""

    stream_id: int
    request: RequestReceived
    ws_path: bytes
    end_stream: bool = False


@dataclass(slots=True)
class H2BodyReceived:
    """Request body bytes. The connection window is already replenished; the stream window
    is replenished only through ``acknowledge_consumed`` as the application reads."""

    stream_id: int
    data: bytes
    end_stream: bool


@dataclass(slots=True)
class H2TrailersReceived:
    """Request trailers (RFC 9113 §8.1): they end the stream and stay apart from headers."""

    stream_id: int
    headers: list[Header]


@dataclass(slots=True)
class H2StreamReset:
    """The client sent RST_STREAM: the stream's task is cancelled."""

    stream_id: int
    error_code: int


@dataclass(slots=True)
class H2GoAway:
    """The client sent GOAWAY: no new streams; existing ones may finish."""

    last_stream_id: int
    error_code: int


@dataclass(slots=True)
class H2WindowUpdated:
    """Send windows grew: stream 0 means the connection window (or every stream)."""

    stream_id: int


@dataclass(slots=True)
class H2ProtocolError:
    """The connection is finished: GOAWAY(error_code) is queued; write it out and close."""

    error_code: int
    message: str


H2Event = (
    H2RequestReceived
    | H2WebSocketRequest
    | H2BodyReceived
    | H2TrailersReceived
    | H2StreamReset
    | H2GoAway
    | H2WindowUpdated
    | H2ProtocolError
)


class StreamGone(Exception):
    """A stream can no longer be written: it was reset, or the connection is closed."""
