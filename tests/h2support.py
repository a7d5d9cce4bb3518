"""A blocking HTTP/2 client on the h2 library, for tests that need control over frames."""

from __future__ import annotations

import random
import socket
import ssl
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import hpack
from hyperframe.frame import ContinuationFrame, Frame, HeadersFrame

from pounce.http2.constants import PREFACE
from tests.support import RawClient, Response

REQUEST_BASE = [(b":scheme", b"http"), (b":authority", b"test")]


def frame(ftype: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    """One raw HTTP/2 frame (RFC 9113 §4.1)."""
    return (
        struct.pack(">I", len(payload))[1:]
        + bytes((ftype, flags))
        + struct.pack(">I", stream_id)
        + payload
    )


@dataclass
class StreamResult:
    status: int = 0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)
    trailers: list[tuple[bytes, bytes]] = field(default_factory=list)
    ended: bool = False
    reset: int | None = None
    informational: list[int] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.ended or self.reset is not None

    def header(self, name: bytes) -> bytes | None:
        for k, v in self.headers:
            if k == name:
                return v
        return None


class H2Client:
    """An h2 client over a real socket. ``auto_ack`` returns flow-control credit at once.
    ``delivery`` cuts everything it sends: "one-write" (as produced), "bytewise" (a TCP
    segment per byte), "random" (pieces of 1-64 bytes, seeded: the same cuts every run) or
    "continuation" (random pieces, and every header block in frames of 7 bytes: HEADERS,
    then CONTINUATION frames)."""

    def __init__(
        self,
        port: int,
        *,
        timeout: float = 10.0,
        auto_ack: bool = True,
        tls: ssl.SSLContext | None = None,
        settings: dict[int, int] | None = None,
        handshake: bool = True,
        delivery: str = "one-write",
        sock: socket.socket | None = None,
    ) -> None:
        if sock is None:  # given: a connection that starts as HTTP/1.1 (h2c_upgrade)
            sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if tls is not None:
            sock = tls.wrap_socket(sock, server_hostname="localhost")
        self.sock = sock
        self.delivery = delivery
        self._cuts = random.Random(2026)
        if delivery != "one-write":
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.auto_ack = auto_ack
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding=None)
        )
        if settings:
            self.conn.local_settings = h2.settings.Settings(client=True, initial_values=settings)
        self.streams: dict[int, StreamResult] = {}
        # Streams whose data is not acknowledged (the connection window still is).
        self.stalled: set[int] = set()
        self.events: list[h2.events.Event] = []
        self.goaway: h2.events.ConnectionTerminated | None = None
        self.closed = False
        self.broken = False
        self.raw_in = bytearray()
        if handshake:
            self.conn.initiate_connection()
            self.flush()

    def __enter__(self) -> H2Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            if self.delivery == "continuation":
                data = _split_header_blocks(data, 7)
            self.send_raw(data)

    def send_raw(self, data: bytes) -> None:
        if self.delivery == "one-write":
            self.sock.sendall(data)
            return
        pos = 0
        while pos < len(data):
            size = 1 if self.delivery == "bytewise" else self._cuts.randint(1, 64)
            self.sock.sendall(data[pos : pos + size])
            pos += size
            time.sleep(0.0005)  # one segment each: the server reads them apart

    def request(
        self,
        path: str = "/",
        method: str = "GET",
        body: bytes | None = None,
        headers: list[tuple[bytes, bytes]] | None = None,
        end_stream: bool = True,
    ) -> int:
        stream_id = self.conn.get_next_available_stream_id()
        self.streams[stream_id] = StreamResult()
        hdrs = [(b":method", method.encode()), (b":path", path.encode()), *REQUEST_BASE]
        hdrs += headers or []
        self.conn.send_headers(stream_id, hdrs, end_stream=end_stream and not body)
        self.flush()
        if body:
            self.send_body(stream_id, body, end_stream=end_stream)
        return stream_id

    def raw_request(self, stream_id: int, path: str = "/", end_stream: bool = True) -> None:
        """A HEADERS frame the h2 client would not send (over its stream limit, after
        GOAWAY). It uses the client's HPACK encoder, so the compression state stays shared."""
        hdrs = [(b":method", b"GET"), (b":path", path.encode()), *REQUEST_BASE]
        frame = HeadersFrame(
            stream_id, flags=["END_HEADERS"] + (["END_STREAM"] if end_stream else [])
        )
        frame.data = self.conn.encoder.encode(hdrs)
        self.send_raw(frame.serialize())

    def send_body(self, stream_id: int, body: bytes, end_stream: bool = True) -> None:
        """Send within the windows, reading (and so receiving WINDOW_UPDATEs) as needed."""
        view = memoryview(body)
        deadline = time.monotonic() + self.timeout
        while view:
            window = min(self.conn.local_flow_control_window(stream_id), len(view))
            size = min(window, self.conn.max_outbound_frame_size)
            if size <= 0:
                if time.monotonic() > deadline:
                    raise TimeoutError("no window to send the body")
                self.receive_once()
                continue
            self.conn.send_data(stream_id, bytes(view[:size]))
            view = view[size:]
            self.flush()
        if end_stream:
            self.conn.end_stream(stream_id)
            self.flush()

    def receive_once(self, timeout: float | None = None) -> bool:
        """Read once from the socket and process the events; False on EOF."""
        self.sock.settimeout(timeout if timeout is not None else self.timeout)
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            data = b""
        if not data:
            self.closed = True
            return False
        self.feed(data)
        return True

    def feed(self, data: bytes) -> None:
        """Process bytes from the server (read here, or read before an h2c upgrade)."""
        self.raw_in += data
        if self.broken:
            return  # only raw_in is kept: check frames with parse_frames()
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError:
            # The h2 client objects (e.g. to a reset of a stream sent with raw_request):
            # from here on, only the raw bytes are recorded and nothing is sent.
            self.broken = True
            return
        for event in events:
            self._on_event(event)
        try:
            self.flush()
        except OSError:
            pass

    def _on_event(self, event: h2.events.Event) -> None:
        self.events.append(event)
        sid = getattr(event, "stream_id", None)
        stream = self.streams.get(sid) if sid else None
        if isinstance(event, h2.events.ResponseReceived) and stream is not None:
            for name, value in event.headers:
                if name == b":status":
                    stream.status = int(value)
                else:
                    stream.headers.append((name, value))
        elif isinstance(event, h2.events.InformationalResponseReceived) and stream is not None:
            stream.informational.append(int(dict(event.headers)[b":status"]))
        elif isinstance(event, h2.events.DataReceived):
            if stream is not None:
                stream.body += event.data
            length = event.flow_controlled_length
            if length and event.stream_id in self.stalled:
                self.conn.increment_flow_control_window(length)
            elif length and self.auto_ack:
                self.conn.acknowledge_received_data(length, event.stream_id)
        elif isinstance(event, h2.events.TrailersReceived) and stream is not None:
            stream.trailers = list(event.headers)
        elif isinstance(event, h2.events.StreamEnded) and stream is not None:
            stream.ended = True
        elif isinstance(event, h2.events.StreamReset) and stream is not None:
            stream.reset = event.error_code
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.goaway = event

    def wait(self, predicate: Callable[[], bool], timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout or self.timeout)
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("condition not met in time")
            if not self.receive_once(left):
                if not predicate():
                    raise EOFError("connection closed")
                return

    def response(self, stream_id: int, timeout: float | None = None) -> StreamResult:
        self.wait(lambda: self.streams[stream_id].done, timeout)
        return self.streams[stream_id]

    def wait_closed(self, timeout: float = 10.0) -> bool:
        """Read until EOF; True if the server closed the connection in time."""
        deadline = time.monotonic() + timeout
        while not self.closed:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                self.receive_once(left)
            except TimeoutError:
                return False
        return True

    def get(self, path: str = "/", timeout: float | None = None) -> StreamResult:
        return self.response(self.request(path), timeout)


@dataclass
class H2cAttempt:
    """An ``Upgrade: h2c`` request on a new connection (``h2c_upgrade``): the first response
    (``101``, or the HTTP/1.1 answer), the connection as HTTP/1.1 (``raw``) and as HTTP/2
    (``h2``: after a 101 it has sent the preface and holds stream 1, the upgrading request)."""

    response: Response
    raw: RawClient
    h2: H2Client

    @property
    def switched(self) -> bool:
        return self.response.status == 101

    def __enter__(self) -> H2cAttempt:
        return self

    def __exit__(self, *exc: object) -> None:
        self.raw.close()


def h2c_upgrade(
    port: int,
    path: str = "/",
    headers: Sequence[tuple[str, str]] = (),
    host: str = "test",
    timeout: float = 10.0,
) -> H2cAttempt:
    """Send ``GET path`` with ``Upgrade: h2c`` and a valid ``HTTP2-Settings`` (RFC 7540 §3.2),
    as curl --http2 does, plus ``headers``; read the first response head (and its body, when it
    is not a 101)."""
    raw = RawClient(port, timeout=timeout)
    try:
        client = H2Client(port, timeout=timeout, handshake=False, sock=raw.sock)
        settings = client.conn.initiate_upgrade_connection()
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {host}",
            "Connection: Upgrade, HTTP2-Settings",
            "Upgrade: h2c",
            f"HTTP2-Settings: {settings.decode('ascii')}",
            *(f"{name}: {value}" for name, value in headers),
        ]
        raw.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        response = raw.read_response()
        if response.status == 101:
            client.streams[1] = StreamResult()  # the upgrading request, answered on stream 1
            client.flush()  # the client preface and SETTINGS (RFC 7540 §3.5)
            leftover, raw.buf = raw.buf, b""
            if leftover:
                client.feed(leftover)
    except BaseException:
        raw.close()
        raise
    return H2cAttempt(response, raw, client)


def parse_frames(data: bytes | bytearray) -> list[Frame]:
    """Every complete frame in a server byte stream."""
    out = []
    data = bytes(data)
    while len(data) >= 9:
        frame, length = Frame.parse_frame_header(memoryview(data[:9]))
        if len(data) < 9 + length:
            break
        frame.parse_body(memoryview(data[9 : 9 + length]))
        out.append(frame)
        data = data[9 + length :]
    return out


def goaway_frames(data: bytes | bytearray) -> list[tuple[int, int]]:
    """(last_stream_id, error_code) of every GOAWAY in a server byte stream."""
    return [(f.last_stream_id, f.error_code) for f in parse_frames(data) if f.type == 0x7]


def reset_frames(data: bytes | bytearray) -> list[tuple[int, int]]:
    """(stream_id, error_code) of every RST_STREAM in a server byte stream."""
    return [(f.stream_id, f.error_code) for f in parse_frames(data) if f.type == 0x3]


def decode_streams(data: bytes | bytearray) -> dict[int, StreamResult]:
    """What a server byte stream says about each stream, decoded without a client state
    machine (for tests where the h2 client has given up): status, headers, body, end, reset."""
    decoder = hpack.Decoder()
    streams: dict[int, StreamResult] = {}
    for frame in parse_frames(data):
        if frame.stream_id == 0:
            continue
        stream = streams.setdefault(frame.stream_id, StreamResult())
        if frame.type == 0x1:  # HEADERS (a status-only head fits in one frame)
            for name, value in decoder.decode(frame.data, raw=True):
                if name == b":status":
                    stream.status = int(value)
                else:
                    stream.headers.append((name, value))
        elif frame.type == 0x0:
            stream.body += frame.data
        elif frame.type == 0x3:
            stream.reset = frame.error_code
        if frame.type in (0x0, 0x1) and "END_STREAM" in frame.flags:
            stream.ended = True
    return streams


def _split_header_blocks(data: bytes, size: int) -> bytes:
    """Client bytes with every HEADERS frame's block cut into a HEADERS frame and CONTINUATION
    frames of ``size`` bytes (RFC 9113 §6.10); other frames (and the preface) unchanged."""
    out = []
    if data.startswith(PREFACE):
        out.append(PREFACE)
        data = data[len(PREFACE) :]
    for frame in parse_frames(data):
        block = frame.data if frame.type == 0x1 else b""
        if len(block) <= size:
            out.append(frame.serialize())
            continue
        first = HeadersFrame(frame.stream_id, flags=[f for f in frame.flags if f != "END_HEADERS"])
        first.data = block[:size]
        out.append(first.serialize())
        for pos in range(size, len(block), size):
            last = pos + size >= len(block)
            cont = ContinuationFrame(frame.stream_id, flags=["END_HEADERS"] if last else [])
            cont.data = block[pos : pos + size]
            out.append(cont.serialize())
    return b"".join(out)
