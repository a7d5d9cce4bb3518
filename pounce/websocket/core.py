"""The WebSocket frame core over wsproto (the API in ``frames.py``), and the selector.

``WsprotoCore`` is the pure twin: wsproto parses and builds the frames (with the compiled
unmasking of ``mask.py``), and permessage-deflate (RFC 7692) is wsproto's, bounded
(``BoundedPerMessageDeflate``). It is the fallback without the speedups and the oracle of the
compiled core (``pounce/_speedups/_ws.pyx``) in ``tests/unit/test_ws_differential.py``.

``FrameCore`` is the core in use: the compiled one unless ``POUNCE_NO_EXTENSIONS`` is set,
recorded with ``record_selection`` as ``ws`` (``pounce --version``'s ``ws:`` line).
``IMPLEMENTATION`` names it: ``compiled`` or ``wsproto``.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Any

from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage as WsBytes
from wsproto.events import CloseConnection
from wsproto.events import Ping as WsPing
from wsproto.events import Pong as WsPong
from wsproto.events import TextMessage as WsText
from wsproto.extensions import Extension, PerMessageDeflate
from wsproto.frame_protocol import CloseReason, FrameDecoder, FrameProtocol, Opcode, RsvBits
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from pounce._compat import USE_EXTENSIONS, record_selection
from pounce.websocket import mask as ws_mask
from pounce.websocket.deflate import agree, new_compressor
from pounce.websocket.frames import (
    TOO_BIG,
    TOO_BIG_REASON,
    Close,
    ConnectionClosed,
    Event,
    Failure,
    Item,
    Ping,
    Pong,
    as_events,
)
from pounce.websocket.frames import FrameCore as FrameCoreAPI

ws_mask.install()


class BoundedPerMessageDeflate(PerMessageDeflate):
    """wsproto's permessage-deflate (RFC 7692) with two corrections on the receiving side.

    - Inflating is bounded by ``max_size`` per message. RFC 6455 §10.4: an endpoint MUST
      protect itself against messages over its limits. wsproto inflates every received piece
      of a compressed frame whole, so a 1 MB frame of zeros became 1 GiB in memory before the
      session's size check saw it; now inflating stops one byte past the limit and the
      connection fails with 1009 (§7.4.1).
    - The bytes that the §7.2.2 tail (inflated with the message's last piece) adds count too.
    - A control frame between the fragments of a compressed message (allowed: RFC 6455 §5.4)
      no longer ends the message's compressed state: wsproto reset it after the control frame,
      read the next continuation frame as uncompressed and failed the connection (1007 on
      text). Per RFC 7692 §6.1 RSV1 is set on the first frame only and covers the whole
      message, whatever control frames come in between.

    On the sending side it compresses with ``deflate.new_compressor`` (the level both cores use)
    instead of zlib's default level.
    """

    def __init__(self, max_size: int) -> None:
        super().__init__()
        self.max_size = max_size
        self._inflated = 0  # bytes inflated so far of the message being received

    def frame_outbound(
        self,
        proto: FrameDecoder | FrameProtocol,
        opcode: Opcode,
        rsv: RsvBits,
        data: bytes,
        fin: bool,
    ) -> tuple[RsvBits, bytes]:
        if self._compressor is None and opcode in (Opcode.TEXT, Opcode.BINARY):
            # wsproto makes one at the default level when none is set: this one is used instead.
            self._compressor = new_compressor(self.server_max_window_bits)
        return super().frame_outbound(proto, opcode, rsv, data, fin)

    def frame_inbound_header(
        self,
        proto: FrameDecoder | FrameProtocol,
        opcode: Opcode,
        rsv: RsvBits,
        payload_length: int,
    ) -> CloseReason | RsvBits:
        if opcode.iscontrol():
            # A control frame neither starts nor ends a message (RFC 6455 §5.4, §5.5).
            compressed = self._inbound_compressed
            result = super().frame_inbound_header(proto, opcode, rsv, payload_length)
            self._inbound_compressed = compressed
            return result
        return super().frame_inbound_header(proto, opcode, rsv, payload_length)

    def frame_inbound_payload_data(
        self, proto: FrameDecoder | FrameProtocol, data: bytes
    ) -> bytes | CloseReason:
        if not self._inbound_compressed or not self._inbound_is_compressible:
            return data
        decompressor = self._decompressor
        assert decompressor is not None
        # At most one byte past the limit (max_length 0 would mean no limit: budget + 1 >= 1).
        budget = self.max_size - self._inflated
        try:
            inflated = decompressor.decompress(bytes(data), budget + 1)
        except zlib.error:
            return CloseReason.INVALID_FRAME_PAYLOAD_DATA
        self._inflated += len(inflated)
        if self._inflated > self.max_size:
            return CloseReason.MESSAGE_TOO_BIG
        return inflated

    def frame_inbound_complete(
        self, proto: FrameDecoder | FrameProtocol, fin: bool
    ) -> bytes | CloseReason | None:
        if not self._inbound_is_compressible:
            return None  # a control frame: the message in progress (if any) goes on
        if not fin:
            return None
        inflated, self._inflated = self._inflated, 0
        # Appends the tail (RFC 7692 §7.2.2); at most a few KiB come out of 4 bytes.
        tail = super().frame_inbound_complete(proto, fin)
        if isinstance(tail, bytes) and inflated + len(tail) > self.max_size:
            return CloseReason.MESSAGE_TOO_BIG
        return tail


class SizeLimit(Extension):
    """Not an extension on the wire: wsproto's hook on every frame header, used to fail a
    message over ``max_size`` from its frames' lengths, before their payload is buffered
    (RFC 6455 §10.4; 1009, §7.4.1), as the compiled core does. wsproto may parse a header again
    when its masking key has not arrived: the count moves on when the frame is complete."""

    name = "pounce-size-limit"

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._message = 0  # payload bytes of the message's earlier frames
        self._frame_total = 0  # with this frame's
        self._control = False

    def enabled(self) -> bool:
        return True

    def offer(self) -> bool | str:  # never offered: the session negotiates deflate only
        return False

    def frame_inbound_header(
        self,
        proto: FrameDecoder | FrameProtocol,
        opcode: Opcode,
        rsv: RsvBits,
        payload_length: int,
    ) -> CloseReason | RsvBits:
        self._control = opcode.iscontrol()
        if not self._control:
            previous = self._message if opcode is Opcode.CONTINUATION else 0
            self._frame_total = previous + payload_length
            if self._frame_total > self.max_size:
                return CloseReason.MESSAGE_TOO_BIG
        return RsvBits(False, False, False)

    def frame_inbound_complete(
        self, proto: FrameDecoder | FrameProtocol, fin: bool
    ) -> bytes | CloseReason | None:
        if not self._control:
            self._message = 0 if fin else self._frame_total
        return None


class WsprotoCore:
    """The frame core API (``frames.py``) over ``wsproto.Connection``."""

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._extensions: list[Extension] = []
        self._conn: Connection | None = None
        self._parts: list[Any] = []  # the fragments of the message being received
        self._text = False
        self._done = False  # a close frame or a failure came: nothing more is read

    @property
    def conn(self) -> Connection:
        conn = self._conn
        if conn is None:
            extensions = [SizeLimit(self.max_size), *self._extensions]
            conn = self._conn = Connection(ConnectionType.SERVER, extensions=extensions)
        return conn

    @property
    def close_sent(self) -> bool:
        return self.conn.state not in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING)

    def negotiate(self, offers: list[str]) -> bytes | None:
        deflate = BoundedPerMessageDeflate(self.max_size)
        # RFC 7692 §5: agree on permessage-deflate and its window parameters.
        agreed = agree(offers, deflate)
        if agreed is not None:
            self._extensions.append(deflate)
        return agreed

    def receive_data(self, data: bytes) -> list[Event]:
        return as_events(self.receive(data))

    def receive(self, data: bytes) -> list[Item]:
        if self._done:
            raise ConnectionClosed("the WebSocket is closed for reading")
        conn = self.conn
        try:
            conn.receive_data(data)
        except LocalProtocolError as exc:
            # Bytes after wsproto considers the connection closed.
            self._done = True
            raise ConnectionClosed(str(exc)) from exc
        except RemoteProtocolError as exc:  # pragma: no cover - wsproto parses in events()
            return self._fail(exc.event_hint, str(exc))
        out: list[Item] = []
        for event in conn.events():
            tp = type(event)
            if tp is WsText or tp is WsBytes:
                self._on_data(event, out)  # type: ignore[arg-type]  # narrowed by type(event)
            elif tp is WsPing:
                out.append(Ping(bytes(event.payload)))  # type: ignore[attr-defined]  # narrowed
            elif tp is WsPong:
                out.append(Pong(bytes(event.payload)))  # type: ignore[attr-defined]  # narrowed
            elif tp is CloseConnection:
                assert isinstance(event, CloseConnection)
                self._done = True
                if conn.state in (ConnectionState.OPEN, ConnectionState.LOCAL_CLOSING):
                    # wsproto reports what the client got wrong (1002, 1007, ...) as a close
                    # event of its own, the state unchanged (a close frame moves it on). A
                    # compressed message inflated past max_size (BoundedPerMessageDeflate) is
                    # one: 1009, as for a message too big on the wire.
                    reason = TOO_BIG_REASON if event.code == TOO_BIG else event.reason or ""
                    out.append(Failure(int(event.code), reason))
                else:
                    out.append(Close(int(event.code), event.reason or ""))
                return out
        return out

    def _on_data(self, event: WsText | WsBytes, out: list[Item]) -> None:
        # The size was checked from the frame headers (SizeLimit) and, compressed, while
        # inflating (BoundedPerMessageDeflate).
        if not self._parts:
            self._text = type(event) is WsText
        self._parts.append(event.data)
        if event.message_finished:
            parts, self._parts = self._parts, []
            if self._text:
                out.append("".join(parts))
            else:
                out.append(bytes(parts[0] if len(parts) == 1 else b"".join(parts)))

    def _fail(self, hint: Any, text: str) -> list[Item]:  # pragma: no cover - see above
        self._done = True
        code = hint.code if isinstance(hint, CloseConnection) else 1002
        return [Failure(int(code), text[:100] if code != 1002 else "")]

    def send_message(self, data: bytes | str) -> bytes:
        if self.conn.state is not ConnectionState.OPEN:
            return b""  # RFC 6455 §5.5.1: nothing after a close frame
        if isinstance(data, str):
            return self.conn.send(WsText(data=data))
        return self.conn.send(WsBytes(data=data))

    def send_message_parts(self, data: bytes | str) -> list[bytes]:
        # wsproto builds whole frames: one buffer.
        frame = self.send_message(data)
        return [frame] if frame else []

    def send_ping(self, payload: bytes) -> bytes:
        if self.conn.state is not ConnectionState.OPEN:
            return b""  # RFC 6455 §5.5.1: nothing after a close frame
        return self.conn.send(WsPing(payload=payload))

    def send_pong(self, payload: bytes) -> bytes:
        if self.conn.state is not ConnectionState.OPEN:
            return b""  # RFC 6455 §5.5.1: nothing after a close frame
        return self.conn.send(WsPong(payload=payload))

    def send_close(self, code: int, reason: str) -> bytes:
        if self.close_sent:
            return b""
        if code == CloseReason.NO_STATUS_RCVD:
            # No code received to echo (RFC 6455 §7.1.5): an empty close frame. wsproto sends
            # one for the enum member only (a plain 1005 would go out as 1000).
            return self.conn.send(CloseConnection(code=CloseReason.NO_STATUS_RCVD))
        return self.conn.send(CloseConnection(code=code, reason=reason))


FrameCore: Any = WsprotoCore
# Which core is in use: "compiled" (pounce/_speedups/_ws.pyx) whenever the speedups are, else
# "wsproto" (this module).
IMPLEMENTATION = "wsproto"

_error: ImportError | None = None
if not TYPE_CHECKING and USE_EXTENSIONS:
    try:
        from pounce._speedups._ws import FrameCore as CompiledFrameCore

        FrameCore = CompiledFrameCore
        IMPLEMENTATION = "compiled"
    except ImportError as exc:
        _error = exc
record_selection("ws", __name__, _error)


def open_core(max_size: int, offers: list[str]) -> tuple[FrameCoreAPI, bytes | None]:
    """A core for a new session, and the permessage-deflate agreement (RFC 7692 §5) for the
    client's ``offers`` (None: no extension). Both cores agree to the same offers
    (``deflate.agree``), so a deflate client runs on the compiled core too."""
    core: FrameCoreAPI = FrameCore(max_size)
    if not offers:
        return core, None
    return core, core.negotiate(offers)
