"""Sans-I/O HTTP/2 server connection: the h2 library behind pounce's own typed events.

This is the seam between the HTTP/2 ``asyncio.Protocol`` (``pounce/http2/protocol.py``) and
an HTTP/2 implementation. The protocol only sees the events (``pounce/http2/events.py``, which the
compiled core imports too) and the methods defined here, never an h2 type, so that the compiled
HTTP/2 core (``pounce/_speedups/_h2.pyx``) implements the same API.

Bytes in: ``receive_data(data) -> list[H2Event]``. Bytes out: every method queues frames and
``data_to_send()`` hands them over. The connection also polices the peer (RFC 9113 §10.5,
"Denial-of-Service Considerations"): floods of SETTINGS, PING, empty DATA, WINDOW_UPDATE and
RST_STREAM (Rapid Reset, CVE-2023-44487), oversized or endless header blocks (HPACK bomb,
CONTINUATION flood) end in GOAWAY and an ``H2ProtocolError`` event; streams beyond
SETTINGS_MAX_CONCURRENT_STREAMS are refused with RST_STREAM(REFUSED_STREAM) (§5.1.2), and
malformed requests or trailers (``pounce.http2.request_headers``) with
RST_STREAM(PROTOCOL_ERROR) (§8.1.1).
Flow control: the connection window is replenished as DATA arrives, a stream's only through
``acknowledge_consumed`` as its application reads; past ``connection_window_size`` unread bytes
in all, connection credit waits for the application too.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from hyperframe.frame import GoAwayFrame, HeadersFrame, RstStreamFrame

from pounce._compat import (
    EXTENSION_IMPORT_ERRORS,
    USE_EXTENSIONS,
    import_compiled,
    record_selection,
)
from pounce.http2 import events
from pounce.http2.constants import (
    DEFAULT_WINDOW,
    DRAIN_PING,
    ENHANCE_YOUR_CALM,
    NO_ERROR,
    PROTOCOL_ERROR,
    REFUSED_STREAM,
)
from pounce.http2.request_headers import MalformedHeaders, check_trailers, split_request_headers


class _CalmDown(Exception):
    """A flood limit was exceeded: GOAWAY(ENHANCE_YOUR_CALM)."""


@dataclass(slots=True)
class _StreamState:
    """Mutable per-stream tracking."""

    headers_received: bool = False
    ended: bool = False
    pending_credit: int = 0  # consumed bytes not yet returned with WINDOW_UPDATE
    buffered: int = 0  # body bytes received and not yet consumed by the application


@dataclass
class _Budget:
    """A fixed-window counter: ``hit`` returns False once ``limit`` events in one window."""

    limit: int
    window: float
    start: float = 0.0
    count: int = 0
    bonus: int = field(default=0)

    def hit(self, now: float) -> bool:
        if now - self.start >= self.window:
            self.start = now
            self.count = 0
            self.bonus = 0
        self.count += 1
        return self.count <= self.limit + self.bonus


class _ServerConnection(h2.connection.H2Connection):
    """h2's connection with its stream-count check turned into a no-op.

    h2 answers a stream beyond SETTINGS_MAX_CONCURRENT_STREAMS by killing the whole connection
    (PROTOCOL_ERROR). pounce refuses just that stream (RFC 9113 §5.1.2 allows REFUSED_STREAM),
    which needs h2 to decode its header block first to keep HPACK state in sync (§4.3).
    """

    @property
    def open_inbound_streams(self) -> int:
        super().open_inbound_streams  # noqa: B018 - the property also prunes closed streams
        return 0


class H2Connection:
    """HTTP/2 server connection state machine backed by the h2 library."""

    def __init__(
        self,
        settings: events.H2Settings | None = None,
        *,
        client_side: bool = False,
        limits: events.FloodLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings = settings or events.H2Settings()
        # Request headers are validated here (pounce.http2.request_headers), so that a malformed
        # request is the stream error RFC 9113 §8.1.1 asks for (h2 would end the connection).
        # Outbound ones were already validated and lower-cased by the protocol.
        config = h2.config.H2Configuration(
            client_side=client_side,
            header_encoding=None,
            validate_inbound_headers=False,
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
        )
        self._conn = _ServerConnection(config=config)
        self._conn.local_settings = h2.settings.Settings(
            client=client_side,
            initial_values={
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: settings.max_concurrent_streams,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: settings.initial_window_size,
                h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: settings.max_header_list_size,
                h2.settings.SettingCodes.MAX_FRAME_SIZE: settings.max_frame_size,
                # RFC 8441 §3: extended CONNECT, for WebSocket over HTTP/2.
                h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL: 1,
            },
        )
        # hpack enforces the decoded size (HPACK bomb, RFC 9113 §10.5.1) from the first frame,
        # before the client has acknowledged our SETTINGS.
        self._conn.decoder.max_header_list_size = settings.max_header_list_size
        self._streams: dict[int, _StreamState] = {}
        # Unconsumed request body bytes over all streams. Past the connection window size,
        # connection-level credit is held back too, so that many stalled streams cannot make
        # one connection buffer (streams x stream window) bytes.
        self._buffered_total = 0
        self._held_credit = 0
        self._out: list[bytes] = []
        self._goaway_sent = False  # the final GOAWAY: no stream above _last_stream_id
        self._drain_ping: bytes | None = None  # shutdown's PING, unacknowledged (see below)
        self._drain_acked = False
        self._goaway_received = False
        self._terminated = False
        self._last_stream_id = 0
        self._highest_stream_id = 0
        # The stream of a header block that has begun to arrive but is not complete, else 0:
        # the protocol's --timeout-request-header clock (see _head_in_progress).
        self.head_pending = 0
        self._clock = clock
        limits = limits or events.FloodLimits()
        w = limits.window
        self._settings_budget = _Budget(limits.settings, w)
        self._ping_budget = _Budget(limits.pings, w)
        self._empty_data_budget = _Budget(limits.empty_data, w)
        self._window_budget = _Budget(limits.window_updates, w)
        self._reset_budget = _Budget(max(limits.resets, 2 * settings.max_concurrent_streams), w)
        self._priority_budget = _Budget(limits.priority, w)

    # State -------------------------------------------------------------------------------

    @property
    def is_closed(self) -> bool:
        """True once GOAWAY was sent or received: no new streams will be served."""
        return self._goaway_sent or self._goaway_received or self._terminated

    @property
    def active_stream_count(self) -> int:
        return len(self._streams)

    @property
    def highest_stream_id(self) -> int:
        return self._highest_stream_id

    @property
    def credit_held(self) -> bool:
        """True while connection credit waits for the application: too much request body is
        unread over all streams, so a client may be unable to send on any of them."""
        return self._held_credit > 0

    def stream_ended(self, stream_id: int) -> bool:
        """True when the client has ended its side of the stream (or it is gone)."""
        state = self._streams.get(stream_id)
        return state is None or state.ended

    def remove_stream(self, stream_id: int) -> None:
        """Stop tracking a finished stream; it no longer counts against the stream limit."""
        self._forget(self._streams.pop(stream_id, None))

    def _forget(self, state: _StreamState | None) -> None:
        """A stream's unread body is discarded: it no longer holds back the connection."""
        if state is not None and state.buffered:
            self._buffered_total -= state.buffered
            state.buffered = 0
            self._release_held_credit()

    def _release_held_credit(self) -> None:
        held = self._held_credit
        if held and self._buffered_total <= self.settings.connection_window_size:
            self._held_credit = 0
            try:
                self._conn.increment_flow_control_window(held)
            except h2.exceptions.ProtocolError:
                pass

    def local_flow_control_window(self, stream_id: int) -> int:
        """Bytes that may be sent on ``stream_id`` now (min of stream and connection window)."""
        try:
            return self._conn.local_flow_control_window(stream_id)
        except (h2.exceptions.StreamClosedError, h2.exceptions.NoSuchStreamError, KeyError):
            return 0

    @property
    def connection_window(self) -> int:
        return self._conn.outbound_flow_control_window

    # Output ------------------------------------------------------------------------------

    def data_to_send(self) -> bytes:
        data = self._conn.data_to_send()
        if self._out:
            self._out.append(data)
            data = b"".join(self._out)
            self._out.clear()
        return data

    def _queue_frame(self, frame: bytes) -> None:
        """Frames built here bypass h2's state machine; keep them after h2's pending output."""
        pending = self._conn.data_to_send()
        if pending:
            self._out.append(pending)
        self._out.append(frame)

    # Starting ----------------------------------------------------------------------------

    def initiate_connection(self) -> None:
        """Queue the server preface: SETTINGS (RFC 9113 §3.4) and a connection window bigger
        than the 65535 default (§6.9.2)."""
        self._conn.initiate_connection()
        self._open_connection_window()

    def initiate_upgrade_connection(self, settings_header: bytes) -> bool:
        """Start after ``Upgrade: h2c`` (RFC 7540 §3.2): stream 1 is the upgrading request,
        already complete. False if the HTTP2-Settings header is invalid."""
        try:
            self._conn.initiate_upgrade_connection(settings_header)
        except (h2.exceptions.ProtocolError, ValueError, TypeError):
            return False
        self._open_connection_window()
        self._streams[1] = _StreamState(headers_received=True, ended=True)
        self._highest_stream_id = 1
        return True

    def _open_connection_window(self) -> None:
        extra = self.settings.connection_window_size - DEFAULT_WINDOW
        if extra > 0:
            self._conn.increment_flow_control_window(extra)

    # Input -------------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> list[events.H2Event]:
        """Feed bytes from the network; returns pounce events. Always call ``data_to_send``
        afterwards: acknowledgements and window updates may be pending."""
        if self._terminated:
            return []
        try:
            h2_events = self._conn.receive_data(data)
            out: list[events.H2Event] = []
            conn_credit = 0
            for event in h2_events:
                conn_credit += self._translate(event, out)
            if conn_credit:
                # RFC 9113 §6.9: the connection window is replenished as soon as data arrives;
                # only stream windows wait for the application.
                self._conn.increment_flow_control_window(conn_credit)
            self._check_header_backlog()
            self.head_pending = self._head_in_progress()
        except h2.exceptions.ProtocolError as exc:
            # h2 has already queued GOAWAY with the right code (PROTOCOL_ERROR,
            # FLOW_CONTROL_ERROR, ENHANCE_YOUR_CALM for an oversized header list, ...).
            self._terminated = True
            self.head_pending = 0
            return [events.H2ProtocolError(int(exc.error_code), str(exc) or type(exc).__name__)]
        except _CalmDown as exc:
            self.head_pending = 0
            return [self._calm_down(str(exc))]
        return out

    def _head_in_progress(self) -> int:
        # h2's FrameBuffer keeps an unfinished header block's frames in _headers_buffer and
        # the bytes of a frame in part in _data (a frame's type and stream are known from its
        # 9-byte header on; a CONTINUATION in part follows a block already in the buffer).
        # Only a block that can become a request counts (a HEADERS frame on an odd stream
        # within the frame size, RFC 9113 §5.1.1, §4.2); any other is a connection error
        # once it is complete, and the compiled core rejects it on sight.
        incoming = self._conn.incoming_buffer
        block = getattr(incoming, "_headers_buffer", None)
        if block:
            if not isinstance(block[0], HeadersFrame):
                return 0
            sid = int(block[0].stream_id)
        else:
            data = getattr(incoming, "_data", b"")
            if len(data) < 9 or data[3] != 0x1:  # HEADERS
                return 0
            if int.from_bytes(data[:3], "big") > incoming.max_frame_size:
                return 0
            sid = int.from_bytes(data[5:9], "big") & 0x7FFFFFFF
        return sid if sid & 1 else 0

    def abandon_head(self, status: int) -> None:
        """Stop waiting for the header block in progress (``head_pending``), which took too
        long: a block that would open a new stream is answered with a bare ``status``
        (HEADERS with END_STREAM; for a stream already open the protocol has answered), then
        GOAWAY(NO_ERROR) with that stream as the last one. Nothing more is read: the client
        can send no other frame until the block is complete (RFC 9113 §6.10), and the
        streams already open may still finish their responses."""
        sid = self.head_pending
        self.head_pending = 0
        if not sid or self._terminated:
            return
        if sid > self._highest_stream_id:
            # Built here: h2 has not seen the stream (its frames wait in h2's buffer). The
            # block comes from h2's own encoder, so the compression state stays shared.
            self._highest_stream_id = sid
            frame = HeadersFrame(sid, flags=["END_STREAM", "END_HEADERS"])
            frame.data = self._conn.encoder.encode([(b":status", b"%d" % status)])
            self._queue_frame(frame.serialize())
        self.close_connection(NO_ERROR)
        self._terminated = True

    def _calm_down(self, message: str) -> events.H2ProtocolError:
        self._terminated = True
        try:
            self._conn.close_connection(ENHANCE_YOUR_CALM, additional_data=message.encode())
        except h2.exceptions.ProtocolError:
            pass
        return events.H2ProtocolError(ENHANCE_YOUR_CALM, message)

    def _check_header_backlog(self) -> None:
        # CONTINUATION flood (2024): h2 caps a header block at 64 frames; cap its bytes too.
        # (h2's FrameBuffer keeps the frames of an unfinished header block in _headers_buffer.)
        buffered = getattr(self._conn.incoming_buffer, "_headers_buffer", None)
        if buffered and sum(len(f.data) for f in buffered) > self.settings.max_header_list_size:
            raise _CalmDown("header block too large")

    def _translate(self, event: h2.events.Event, out: list[events.H2Event]) -> int:
        """Append the pounce event for one h2 event; returns connection-window credit."""
        if isinstance(event, h2.events.DataReceived):
            return self._on_data(event, out)
        if isinstance(event, h2.events.RequestReceived):
            self._on_request(event, out)
        elif isinstance(event, h2.events.StreamEnded):
            state = self._streams.get(event.stream_id)
            if state is not None and not state.ended:
                state.ended = True
                out.append(events.H2BodyReceived(event.stream_id, b"", True))
        elif isinstance(event, h2.events.TrailersReceived):
            state = self._streams.get(event.stream_id)
            if state is not None:
                try:
                    check_trailers(event.headers)
                except MalformedHeaders:
                    # RFC 9113 §8.1.1: stream error; the app sees the stream reset.
                    self._forget(self._streams.pop(event.stream_id, None))
                    try:
                        self._conn.reset_stream(event.stream_id, PROTOCOL_ERROR)
                    except h2.exceptions.ProtocolError:
                        # h2 let the trailers' END_STREAM close a stream whose response was
                        # complete; the malformed trailers still get their RST_STREAM (as
                        # from the compiled core, which rejects them before they end it).
                        rst = RstStreamFrame(event.stream_id)
                        rst.error_code = PROTOCOL_ERROR
                        self._queue_frame(rst.serialize())
                    out.append(events.H2StreamReset(event.stream_id, PROTOCOL_ERROR))
                    return 0
                state.ended = True
                out.append(events.H2TrailersReceived(event.stream_id, list(event.headers)))
        elif isinstance(event, h2.events.StreamReset):
            if event.remote_reset and not self._reset_budget.hit(self._clock()):
                raise _CalmDown("too many stream resets")  # Rapid Reset, CVE-2023-44487
            state = self._streams.pop(event.stream_id, None)
            if state is not None:
                self._forget(state)
                out.append(events.H2StreamReset(event.stream_id, int(event.error_code or 0)))
        elif isinstance(event, h2.events.WindowUpdated):
            if not self._window_budget.hit(self._clock()):
                raise _CalmDown("WINDOW_UPDATE flood")
            out.append(events.H2WindowUpdated(event.stream_id or 0))
        elif isinstance(event, h2.events.RemoteSettingsChanged):
            if not self._settings_budget.hit(self._clock()):
                raise _CalmDown("SETTINGS flood")
            if h2.settings.SettingCodes.INITIAL_WINDOW_SIZE in event.changed_settings:
                out.append(events.H2WindowUpdated(0))  # §6.9.2: every stream window moved
        elif isinstance(event, h2.events.PingAckReceived):
            if self._drain_ping is not None and event.ping_data == self._drain_ping:
                self._drain_ping = None
                self._drain_acked = True  # (see drain_ping)
        elif isinstance(event, h2.events.PingReceived):
            if not self._ping_budget.hit(self._clock()):
                raise _CalmDown("PING flood")
        elif isinstance(event, h2.events.PriorityUpdated):
            if not self._priority_budget.hit(self._clock()):
                raise _CalmDown("PRIORITY flood")
        elif isinstance(event, h2.events.ConnectionTerminated):
            self._goaway_received = True
            if not event.error_code and not self._terminated:
                # RFC 9113 §6.8: after a graceful GOAWAY the streams already open still
                # complete, but h2 stops all sending once it has seen one. Undo that.
                self._conn.state_machine.state = h2.connection.ConnectionState.SERVER_OPEN
            out.append(events.H2GoAway(event.last_stream_id or 0, int(event.error_code or 0)))
        elif isinstance(event, h2.events.SettingsAcknowledged):
            # Same count as RemoteSettingsChanged: an ACK flood is a SETTINGS flood too.
            if not self._settings_budget.hit(self._clock()):
                raise _CalmDown("SETTINGS flood")
        return 0

    def _on_data(self, event: h2.events.DataReceived, out: list[events.H2Event]) -> int:
        stream_id = event.stream_id
        length = event.flow_controlled_length or 0
        data = event.data or b""
        ended = event.stream_ended is not None
        if not data and not ended and not self._empty_data_budget.hit(self._clock()):
            raise _CalmDown("empty DATA flood")  # CVE-2019-9518
        state = self._streams.get(stream_id)
        if state is None:
            return length  # refused or reset stream: the data is dropped, credit returned
        size = len(data)
        padding = length - size
        if padding and not ended:
            state.pending_credit += padding
        if ended:
            state.ended = True
        out.append(events.H2BodyReceived(stream_id, data, ended))
        state.buffered += size
        self._buffered_total += size
        if self._buffered_total > self.settings.connection_window_size:
            self._held_credit += size
            return padding
        return length

    def _on_request(self, event: h2.events.RequestReceived, out: list[events.H2Event]) -> None:
        stream_id = event.stream_id
        self._priority_budget.bonus += 1  # a HEADERS frame may carry priority
        self._highest_stream_id = max(self._highest_stream_id, stream_id)
        ended = event.stream_ended is not None
        if self._goaway_sent and stream_id > self._last_stream_id:
            # RFC 9113 §6.8: streams above the GOAWAY's last stream id are not processed.
            self._refuse(stream_id)
            return
        if len(self._streams) >= self.settings.max_concurrent_streams:
            if not self._reset_budget.hit(self._clock()):
                raise _CalmDown("too many refused streams")
            self._refuse(stream_id)  # RFC 9113 §5.1.2
            return
        try:
            pseudo, headers = split_request_headers(event.headers)
        except MalformedHeaders:
            # RFC 9113 §8.1.1: a malformed request is a stream error of type PROTOCOL_ERROR.
            if not self._reset_budget.hit(self._clock()):
                raise _CalmDown("too many malformed requests") from None
            self._reset_untracked(stream_id, PROTOCOL_ERROR)
            return
        method = pseudo[b":method"]
        path = pseudo.get(b":path", b"")
        protocol = pseudo.get(b":protocol", b"")
        request = events.RequestReceived(
            method,
            path,
            pseudo.get(b":scheme", b""),
            pseudo.get(b":authority"),
            headers,
            protocol or None,
        )
        self._streams[stream_id] = _StreamState(headers_received=True, ended=ended)
        if method == b"CONNECT" and protocol.lower() == b"websocket":
            out.append(events.H2WebSocketRequest(stream_id, request, path, ended))
        else:
            out.append(events.H2RequestReceived(stream_id, request, ended))

    def _refuse(self, stream_id: int) -> None:
        self._reset_untracked(stream_id, REFUSED_STREAM)

    def _reset_untracked(self, stream_id: int, error_code: int) -> None:
        try:
            self._conn.reset_stream(stream_id, error_code)
        except h2.exceptions.ProtocolError:
            pass

    # Responses ---------------------------------------------------------------------------

    def send_response_headers(
        self, stream_id: int, status: int, headers: list[events.Header], *, end_stream: bool = False
    ) -> None:
        """HEADERS with ``:status`` first (RFC 9113 §8.3.2); headers already validated.
        Raises StreamGone if the stream cannot be written any more."""
        try:
            self._conn.send_headers(
                stream_id, [(b":status", b"%d" % status), *headers], end_stream=end_stream
            )
        except h2.exceptions.ProtocolError as exc:
            raise events.StreamGone(str(exc)) from exc

    def send_trailers(self, stream_id: int, headers: list[events.Header]) -> None:
        """Trailers: a HEADERS frame that ends the stream (RFC 9113 §8.1)."""
        try:
            self._conn.send_headers(stream_id, headers, end_stream=True)
        except h2.exceptions.ProtocolError as exc:
            raise events.StreamGone(str(exc)) from exc

    def send_data(
        self, stream_id: int, data: bytes | memoryview, *, end_stream: bool = False
    ) -> int:
        """Send as much of ``data`` as the flow-control windows allow (RFC 9113 §6.9), in
        frames of at most the peer's SETTINGS_MAX_FRAME_SIZE. Returns the bytes sent; the
        stream is ended only if all of ``data`` went out."""
        conn = self._conn
        total = len(data)
        if not total and not end_stream:
            return 0
        sent = 0
        frames = 0
        try:
            window = min(conn.local_flow_control_window(stream_id), total)
            frame_size = conn.max_outbound_frame_size
            if window == total <= frame_size:
                conn.send_data(stream_id, data, end_stream=end_stream)
                sent, frames = total, 1
            else:
                view = memoryview(data)
                while sent < window:
                    n = min(frame_size, window - sent)
                    last = end_stream and sent + n == total
                    conn.send_data(stream_id, bytes(view[sent : sent + n]), end_stream=last)
                    sent += n
                    frames += 1
        except h2.exceptions.ProtocolError as exc:
            raise events.StreamGone(str(exc)) from exc
        # Every DATA frame sent entitles the client to WINDOW_UPDATEs for it.
        self._window_budget.bonus += 2 * frames
        return sent

    def end_stream(self, stream_id: int) -> None:
        try:
            self._conn.end_stream(stream_id)
        except h2.exceptions.ProtocolError as exc:
            raise events.StreamGone(str(exc)) from exc

    def acknowledge_consumed(self, stream_id: int, nbytes: int) -> None:
        """The application read ``nbytes`` of this stream's body: WINDOW_UPDATE the stream
        (RFC 9113 §6.9.1), unless the client has finished sending on it."""
        state = self._streams.get(stream_id)
        if state is None:
            return
        nbytes = min(nbytes, state.buffered)
        state.buffered -= nbytes
        self._buffered_total -= nbytes
        self._release_held_credit()
        if state.ended:
            return
        credit = nbytes + state.pending_credit
        state.pending_credit = 0
        if credit <= 0:
            return  # nothing read: a WINDOW_UPDATE of 0 would be a protocol error (§6.9)
        try:
            self._conn.increment_flow_control_window(credit, stream_id)
        except h2.exceptions.ProtocolError:
            pass  # the stream or the connection is closed (after an error: an app still reading)

    def reset_stream(self, stream_id: int, error_code: int = NO_ERROR) -> None:
        self._forget(self._streams.pop(stream_id, None))
        try:
            self._conn.reset_stream(stream_id, error_code)
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            pass

    def close_connection(
        self, error_code: int = NO_ERROR, last_stream_id: int | None = None
    ) -> None:
        """GOAWAY (RFC 9113 §6.8). With NO_ERROR, streams up to ``last_stream_id`` (default:
        the highest seen) still finish; later ones are refused. Any other code ends the
        connection."""
        if error_code != NO_ERROR:
            self._terminated = True
            try:
                self._conn.close_connection(error_code)
            except h2.exceptions.ProtocolError:
                pass
            return
        if self._goaway_sent or self._terminated:
            return  # (after a connection error its GOAWAY was the last frame)
        self._goaway_sent = True
        self._last_stream_id = self._highest_stream_id if last_stream_id is None else last_stream_id
        self._queue_goaway(self._last_stream_id)

    @property
    def drain_acked(self) -> bool:
        """True once the PING of the last ``drain_ping()`` is acknowledged."""
        return self._drain_acked

    def drain_ping(self) -> None:
        """Shutdown, before the GOAWAY: a PING whose ACK shows that the client has read all
        that came before it: every response is parsed before the GOAWAY can arrive (see
        H2Protocol.shutdown). No GOAWAY here: h2's client accepts no frame after one."""
        if self._terminated:
            return
        self._drain_acked = False
        try:
            self._conn.ping(DRAIN_PING)
        except h2.exceptions.ProtocolError:
            return  # the client's GOAWAY closed h2's side: no ACK will come
        self._drain_ping = DRAIN_PING

    def _queue_goaway(self, last_stream_id: int) -> None:
        # Built here rather than through h2: h2 stops processing every frame after its GOAWAY,
        # and the open streams must still be able to finish (RFC 9113 §6.8).
        frame = GoAwayFrame(0)
        frame.last_stream_id = last_stream_id
        frame.error_code = NO_ERROR
        self._queue_frame(frame.serialize())


def is_h2_available() -> bool:
    return True


H2ConnectionPy = H2Connection
# Which HTTP/2 core is in use: "compiled" (pounce/_speedups/_h2.pyx) whenever the speedups are,
# else "h2" (this module, over the h2 library). POUNCE_H2_CORE=h2 picks the h2 one regardless.
IMPLEMENTATION = "h2"

if not TYPE_CHECKING and USE_EXTENSIONS and os.environ.get("POUNCE_H2_CORE", "") != "h2":
    try:
        from pounce._speedups._h2 import H2Connection

        IMPLEMENTATION = "compiled"
    except ImportError as exc:
        EXTENSION_IMPORT_ERRORS[__name__] = str(exc)

# The compiled HPACK codec (RFC 7541) has no pure twin of its own (the pure HTTP/2 core uses the
# hpack library): it is "in use" whenever extensions are, even with POUNCE_H2_CORE=h2, and must
# then import.
_hpack_error: ImportError | None = None
if not TYPE_CHECKING and USE_EXTENSIONS:
    try:
        import_compiled("pounce._speedups._hpack")
    except ImportError as exc:
        _hpack_error = exc
record_selection("_hpack", "pounce._speedups._hpack", _hpack_error)
