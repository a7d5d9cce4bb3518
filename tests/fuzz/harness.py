"""Fuzz harnesses shared by the Hypothesis tests and ci/fuzz_atheris.py.

Each ``run_*`` feeds bytes to one protocol layer over a fake transport or sans I/O and raises
``InvariantError`` (or lets an unexpected exception out) when the layer misbehaves.
"""

from __future__ import annotations

import asyncio
import logging
import re
import zlib
from dataclasses import dataclass, field
from typing import Any

from pounce import Config
from pounce.state import ServerState
from pounce.websocket.deflate import TAIL
from tests.fakes import FakeCarrier, spin, start_h1


class InvariantError(AssertionError):
    """A fuzz invariant does not hold."""


@dataclass
class EchoApp:
    """Reads the whole body, answers 200 with its length; records what it saw."""

    methods: list[str] = field(default_factory=list)  # of the requests it answered, in order
    started: int = 0
    active: int = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.started += 1
        self.active += 1
        try:
            size = 0
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                size += len(message.get("body", b""))
                if not message.get("more_body", False):
                    break
            payload = b"%d" % size
            self.methods.append(scope["method"])
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-length", b"%d" % len(payload))],
                }
            )
            await send({"type": "http.response.body", "body": payload})
        finally:
            self.active -= 1


class _ErrorLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


_STATUS_LINE = re.compile(rb"HTTP/1\.1 ([1-5]\d\d) [ -~]*")


def parse_responses(out: bytes, methods: list[str]) -> list[int]:
    """Split ``out`` into complete, well-formed responses; return their status codes.

    Every final response carries Content-Length (the app's and pounce's own errors do);
    a 200 answers ``methods`` in order (a HEAD response has no body).
    """
    statuses: list[int] = []
    answered = 0
    pos = 0
    while pos < len(out):
        end = out.find(b"\r\n\r\n", pos)
        if end == -1:
            raise InvariantError(f"truncated response head: {out[pos : pos + 200]!r}")
        lines = out[pos:end].split(b"\r\n")
        match = _STATUS_LINE.fullmatch(lines[0])
        if match is None:
            raise InvariantError(f"bad status line: {lines[0]!r}")
        status = int(match.group(1))
        lengths = []
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep or not name or name != name.strip() or b"\n" in line or b"\r" in line:
                raise InvariantError(f"bad response header line: {line!r}")
            if name.lower() == b"content-length":
                lengths.append(int(value))
        pos = end + 4
        statuses.append(status)
        if status < 200:
            continue
        head_request = False
        if status == 200:
            if answered >= len(methods):
                raise InvariantError("more 200 responses than requests the app answered")
            head_request = methods[answered] == "HEAD"
            answered += 1
        if len(lengths) != 1:
            raise InvariantError(f"response without exactly one content-length: {lines!r}")
        if not head_request:
            pos += lengths[0]
            if pos > len(out):
                raise InvariantError("truncated response body")
    return statuses


def check_h1_outcome(out: bytes, closed: bool, app: EchoApp, fed: bytes) -> list[int]:
    """The HTTP/1.1 invariant: requests the app answered got well-formed responses in order,
    and an error response (4xx/5xx) is the last thing written, followed by a close."""
    statuses = parse_responses(out, app.methods)
    final = [s for s in statuses if s >= 200]
    if final.count(200) != len(app.methods):
        raise InvariantError(f"{len(app.methods)} answered by the app, responses {statuses}")
    errors = [i for i, s in enumerate(final) if s >= 400]
    if errors:
        if errors != [len(final) - 1]:
            raise InvariantError(f"an error response is not the last one: {statuses}")
        if not closed:
            raise InvariantError(f"not closed after error response {final[-1]}")
        if final[-1] not in (400, 404, 405, 408, 413, 414, 431, 501, 505):
            raise InvariantError(f"unexpected error status {final[-1]}")
    elif closed and not final and fed.strip(b"\r\n"):
        raise InvariantError("closed without any response")
    return statuses


def run_h1(
    protocol_cls: type,
    parser: str,
    chunks: list[bytes],
    *,
    max_head_size: int = 4096,
) -> tuple[list[int], bytes]:
    """Feed ``chunks`` to one HTTP/1.1 connection, check the invariant, then disconnect and
    check that no application call is left hanging. Returns the statuses and the output."""
    app = EchoApp()
    errors: list[str] = []
    log = _ErrorLog()
    logger = logging.getLogger("pounce")
    logger.addHandler(log)

    async def main() -> tuple[bytes, bool]:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, ctx: errors.append(repr(ctx)))
        proto, transport = await start_h1(
            protocol_cls,
            parser,
            app,
            access_log=False,
            date_header=False,
            http=parser,
            ws="none",
            http2=False,  # the preface and h2c are the HTTP/2 fuzz target's
            h11_max_incomplete_event_size=max_head_size,
        )
        state = proto.state
        for chunk in chunks:
            if transport.closed:
                break
            proto.data_received(chunk)
            await spin(3)
        await spin(30)
        snapshot = bytes(transport.out), transport.closed or transport.eof
        # The client goes away: whatever is still running must finish (no hang).
        proto.connection_lost(None)
        await spin(30)
        if app.active:
            raise InvariantError(f"{app.active} app call(s) still running after disconnect")
        pending = [t for t in state.tasks if not t.done()]
        if pending:
            raise InvariantError(f"tasks left running after disconnect: {pending}")
        return snapshot

    try:
        out, closed = asyncio.run(main())
    finally:
        logger.removeHandler(log)
    if errors:
        raise InvariantError(f"unhandled exception in the event loop: {errors}")
    if log.records:
        raise InvariantError(f"error logged: {[r.getMessage() for r in log.records]}")
    statuses = check_h1_outcome(out, closed, app, b"".join(chunks))
    return statuses, out


def run_h2(connection_cls: type, chunks: list[bytes]) -> list[Any]:
    """Feed a client byte stream to a sans-I/O HTTP/2 connection, acting as a small server on
    the events (answer requests, consume bodies, reset some streams).

    Invariant: ``receive_data`` returns events, a protocol error among them ends the
    connection, and nothing raises but ``StreamGone`` from the write methods (documented: the
    stream was reset or the connection closed).
    """
    from pounce.http2.events import (
        H2BodyReceived,
        H2ProtocolError,
        H2RequestReceived,
        H2WebSocketRequest,
        StreamGone,
    )

    conn = connection_cls()
    conn.initiate_connection()
    conn.data_to_send()
    seen: list[Any] = []
    for chunk in chunks:
        events = conn.receive_data(chunk)
        if not isinstance(events, list):
            raise InvariantError(f"receive_data returned {events!r}")
        conn.data_to_send()
        for event in events:
            seen.append(event)
            try:
                if isinstance(event, (H2RequestReceived, H2WebSocketRequest)):
                    sid = event.stream_id
                    if sid % 4 == 3:
                        conn.reset_stream(sid, 8)
                    else:
                        conn.send_response_headers(sid, 200, [(b"content-length", b"2")])
                        conn.send_data(sid, b"ok", end_stream=True)
                elif isinstance(event, H2BodyReceived):
                    conn.acknowledge_consumed(event.stream_id, len(event.data))
                    if event.end_stream:
                        conn.remove_stream(event.stream_id)
            except StreamGone:
                pass
            conn.data_to_send()
        if any(isinstance(e, H2ProtocolError) for e in events):
            if conn.receive_data(b"\x00\x00\x00\x04\x00\x00\x00\x00\x00") != []:
                raise InvariantError("events after a connection error")
            break
    conn.close_connection()
    conn.data_to_send()
    return seen


# WebSocket ----------------------------------------------------------------------------------


def ws_frame(
    opcode: int,
    payload: bytes,
    *,
    fin: bool = True,
    mask: bool = True,
    rsv: int = 0,
) -> bytes:
    """One client frame (RFC 6455 §5.2), masked unless told otherwise."""
    n = len(payload)
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    bit = 0x80 if mask else 0
    if n < 126:
        head = bytes([first, bit | n])
    elif n < 65536:
        head = bytes([first, bit | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([first, bit | 127]) + n.to_bytes(8, "big")
    if not mask:
        return head + payload
    key = b"\x37\xfa\x21\x3d"
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def server_frames(data: bytes) -> list[tuple[int, bytes]]:
    """Parse the server's (unmasked) frames: ``[(opcode, payload)]``, the opcode with the first
    byte's FIN and RSV bits (``& 0x0F`` for the opcode alone)."""
    frames = []
    pos = 0
    while pos + 2 <= len(data):
        opcode = data[pos]
        if data[pos + 1] & 0x80:
            raise InvariantError("the server masked a frame (RFC 6455 §5.1)")
        n = data[pos + 1] & 0x7F
        pos += 2
        if n == 126:
            n, pos = int.from_bytes(data[pos : pos + 2], "big"), pos + 2
        elif n == 127:
            n, pos = int.from_bytes(data[pos : pos + 8], "big"), pos + 8
        if pos + n > len(data):
            raise InvariantError("truncated server frame")
        frames.append((opcode, data[pos : pos + n]))
        pos += n
    if pos != len(data):
        raise InvariantError("trailing bytes after the server's frames")
    return frames


@dataclass
class WsOutcome:
    messages: list[Any]  # what the app received, in order (text as str, binary as bytes)
    echoed: list[Any]  # the server's messages, inflated when compressed, in the same types
    close_code: int | None  # the code of the server's close frame, if it sent one
    disconnect_code: int | None  # the code the app's websocket.disconnect carried
    echoes: int  # messages the server sent back (the app echoes each one)


def run_ws(chunks: list[bytes], *, max_size: int = 64, deflate: bool = False) -> WsOutcome:
    """An echo app on a WebSocket session (pounce/websocket/_session.py) over a fake carrier, fed
    client bytes. Checks: no exception escapes, no error is logged, the app ends after the
    connection is lost, and whatever the server writes is well-formed frames. ``deflate``: the
    client offers permessage-deflate (RFC 7692, no parameters: 15-bit windows, context
    takeover both ways) and the server must agree; without it, nothing is offered."""
    from pounce.asgi.scope import websocket_scope
    from pounce.websocket.session import WebSocketSession

    messages: list[Any] = []
    codes: list[int] = []
    errors: list[str] = []
    log = _ErrorLog()
    logger = logging.getLogger("pounce")
    logger.addHandler(log)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                codes.append(message["code"])
                return
            data = message.get("text")
            if data is None:
                data = message["bytes"]
            messages.append(data)
            key = "text" if isinstance(data, str) else "bytes"
            try:
                await send({"type": "websocket.send", key: data})
            except OSError:
                pass  # closed meanwhile: the disconnect comes next

    async def main() -> FakeCarrier:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, ctx: errors.append(repr(ctx)))
        config = Config(
            app=app,
            access_log=False,
            ws_max_size=max_size,
            ws_per_message_deflate=deflate,
            ws_ping_interval=0,
        )
        state = ServerState(config, app, loop)
        carrier = FakeCarrier()
        http_scope = {
            "type": "http",
            "http_version": "1.1",
            "scheme": "http",
            "method": "GET",
            "path": "/",
            "headers": [(b"sec-websocket-extensions", b"permessage-deflate")] if deflate else [],
            "state": {},
        }
        session = WebSocketSession(state, carrier, websocket_scope(http_scope, "1.1"))
        session.start()
        for _ in range(5):
            await asyncio.sleep(0)
        if carrier.accepted is None:
            raise InvariantError("the handshake was not accepted")
        agreed = dict(carrier.accepted).get(b"sec-websocket-extensions")
        if agreed != (b"permessage-deflate" if deflate else None):
            raise InvariantError(f"permessage-deflate answered {agreed!r}")
        for chunk in chunks:
            session.feed(chunk)
            for _ in range(3):
                await asyncio.sleep(0)
        for _ in range(20):
            await asyncio.sleep(0)
        session.connection_lost()
        for _ in range(20):
            await asyncio.sleep(0)
        if session.task is not None and not session.task.done():
            raise InvariantError("the app is still running after the connection was lost")
        return carrier

    try:
        carrier = asyncio.run(main())
    finally:
        logger.removeHandler(log)
    if errors:
        raise InvariantError(f"unhandled exception in the event loop: {errors}")
    if log.records:
        raise InvariantError(f"error logged: {[r.getMessage() for r in log.records]}")
    frames = server_frames(bytes(carrier.out))
    closes = [payload for first, payload in frames if first & 0x0F == 0x8]
    if len(closes) > 1:
        raise InvariantError("more than one close frame")
    if closes and frames[-1][0] & 0x0F != 0x8:
        raise InvariantError("a frame after the close frame")
    close_code = int.from_bytes(closes[0][:2], "big") if closes and closes[0] else None
    if closes and not closes[0]:
        close_code = 1005  # an empty close frame (RFC 6455 §7.1.5)
    inflater = zlib.decompressobj(-15)  # the agreed window, context kept (RFC 7692 §7.1)
    echoed: list[Any] = []
    for first, payload in frames:
        if first & 0x0F not in (0x1, 0x2):
            continue
        if first & 0xB0 != 0x80:
            raise InvariantError("a fragmented message or RSV2/RSV3 from the server")
        message = payload
        if first & 0x40:  # RSV1: compressed (RFC 7692 §6), its tail removed (§7.2.1)
            if not deflate:
                raise InvariantError("RSV1 without permessage-deflate (RFC 6455 §5.2)")
            message = inflater.decompress(payload + TAIL)
        echoed.append(message.decode() if first & 0x0F == 0x1 else message)
    return WsOutcome(messages, echoed, close_code, codes[0] if codes else None, len(echoed))


def ws_close_code_ok(code: int | None) -> bool:
    """A close code the server may send for any client input: none (still open); its own 1002
    (protocol error), 1007 (bad data) or 1009 (too big); or the client's code echoed
    (RFC 6455 §5.5.1), which is any code valid in a frame (§7.4, the IANA registry up to
    1014, and 3000-4999), or 1005 for an empty close frame echoed empty."""
    return code is None or code in _ECHOABLE or 3000 <= code < 5000


_ECHOABLE = frozenset(
    (1000, 1001, 1002, 1003, 1005, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014)
)
