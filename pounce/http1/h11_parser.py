"""The pure-Python HTTP/1.1 parser backend: h11, driven to look like httptools.

``H11Parser`` has httptools' parser surface (``feed_data``, ``get_http_version``,
``get_method``) and calls the same ``on_*`` callbacks on the protocol, so the protocol has a
single code path for both backends. h11 is used for parsing only: pounce serialises responses
itself. A fresh ``h11.Connection`` is started per request with the bytes left over from the
previous one, so h11's own keep-alive and response-state rules never stall the stream;
keep-alive is decided by the protocol, the same way for both backends.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

import h11
from h11._readers import ChunkedReader

from pounce.errors import BadRequest, ParserUpgrade


class ParserCallbacks(Protocol):
    def on_message_begin(self) -> None: ...
    def on_url(self, url: bytes) -> None: ...
    def on_header(self, name: bytes, value: bytes) -> None: ...
    def on_headers_complete(self) -> None: ...
    def on_body(self, body: bytes) -> None: ...
    def on_message_complete(self) -> None: ...


class H11Parser:
    """Feeds bytes to h11 and reports requests through httptools-style callbacks."""

    __slots__ = (
        "_begun",
        "_callbacks",
        "_conn",
        "_head",
        "_max_line",
        "_max_size",
        "_method",
        "_version",
    )

    def __init__(
        self, callbacks: ParserCallbacks, max_head_size: int, max_line: int | None = None
    ) -> None:
        self._callbacks = callbacks
        self._max_size = max_head_size
        self._max_line = max_line if max_line is not None else max_head_size
        # on_message_begin is reported at a request's first byte, as httptools does, so that
        # the protocol sees a head in progress (its size limits and --timeout-request-header).
        self._begun = False
        self._conn = h11.Connection(h11.SERVER, max_incomplete_event_size=max_head_size)
        self._version = "1.1"
        self._method = b""
        # Bytes of the request head being received (h11 hides repeated Content-Length fields).
        self._head = b""

    def get_http_version(self) -> str:
        return self._version

    def get_method(self) -> bytes:
        return self._method

    def feed_data(self, data: bytes) -> None:
        conn = self._conn
        callbacks = self._callbacks
        if conn.their_state is h11.IDLE and data:
            if not self._begun:
                self._begun = True
                callbacks.on_message_begin()
            self._head += data
        conn.receive_data(data)
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise self._translate(exc) from None
            # isinstance (not type() is) so mypy narrows the event; h11's event classes have
            # no subclasses, so the tests are the same.
            if isinstance(event, h11.Data):
                body = event.data  # h11 may hand out a bytearray slice; ASGI bodies are bytes
                callbacks.on_body(body if type(body) is bytes else bytes(body))
            elif isinstance(event, h11.Request):
                self._version = event.http_version.decode("ascii", "replace")
                self._method = event.method
                head, self._head = self._head, b""
                # raw_items() is a plain list; iterating Headers itself goes through the
                # Sequence ABC, a Python call per item. Names are lower-cased by on_header.
                items = event.headers.raw_items()
                if _repeats_content_length(head, items):
                    raise BadRequest(400, "Duplicate Content-Length")
                _check_head_bytes(head)
                target = event.target
                if target[:1] != b"/" and event.method != b"CONNECT" and target != b"*":
                    # RFC 9112 §3.2: authority-form is for CONNECT only (llhttp agrees);
                    # absolute-form needs a scheme.
                    if b"://" not in target:
                        raise BadRequest(400, "Invalid request target")
                if type(conn._reader) is ChunkedReader:
                    conn._reader = _StrictChunkedReader(conn._reader)
                if not self._begun:
                    callbacks.on_message_begin()
                self._begun = False
                callbacks.on_url(event.target)
                for name, value in items:
                    callbacks.on_header(name, value)
                callbacks.on_headers_complete()
            elif isinstance(event, h11.EndOfMessage):
                # Trailers (event.headers) never join the request headers. Framing fields in
                # them are refused, as llhttp does (RFC 9110 §6.5.1); the others go to
                # on_header after the head, as llhttp's do, for the field limits.
                trailers = event.headers.raw_items()
                for name, _ in trailers:
                    if name.lower() in _FRAMING_FIELDS:
                        raise BadRequest(400, "Framing header in trailers")
                for name, value in trailers:
                    callbacks.on_header(name, value)
                rest, closed = conn.trailing_data
                if conn.their_state is h11.MIGHT_SWITCH_PROTOCOL:
                    # An Upgrade (or CONNECT) request: stop like httptools, at the offset of
                    # the bytes after it (all in this read, since the head ended in it).
                    callbacks.on_message_complete()
                    raise ParserUpgrade(len(data) - len(rest))
                conn = self._conn = h11.Connection(
                    h11.SERVER, max_incomplete_event_size=self._max_size
                )
                if rest:
                    self._head = rest
                    conn.receive_data(rest)
                if closed:
                    conn.receive_data(b"")
                callbacks.on_message_complete()
                if rest:
                    self._begun = True
                    callbacks.on_message_begin()  # the next request's first bytes are here
                if not rest and not closed:
                    return  # nothing left to parse: spare the fresh connection a next_event()
            else:  # NEED_DATA, PAUSED or ConnectionClosed: nothing more to parse now
                return

    def _translate(self, exc: h11.RemoteProtocolError) -> BadRequest:
        status = exc.error_status_hint
        if status == 431:
            # h11 reports an over-long request line as an over-long head; that is a 414.
            buffered = self._conn.trailing_data[0]
            line_end = buffered.find(b"\r\n")
            if line_end == -1 or line_end > self._max_line:
                return BadRequest(414, "Request line too long")
            return BadRequest(431, "Request header fields too large")
        if status == 501:
            # RFC 9112 §6.1 allows 501 here; pounce answers every framing error with 400.
            status = 400
        return BadRequest(status, str(exc) or "Bad request")


_FRAMING_FIELDS = (b"content-length", b"transfer-encoding")
# Control bytes other than HTAB, CR and LF: never valid in a request head (RFC 9110 §5.5,
# RFC 9112 §3); llhttp refuses them, h11 lets some through in field values.
_HEAD_CTLS = bytes(b for b in range(0x20) if b not in (0x09, 0x0A, 0x0D)) + b"\x7f"
# RFC 9112 §7.1: chunk = chunk-size [ chunk-ext ] CRLF, chunk-size = 1*HEXDIG. h11 takes up to
# 20 digits (beyond 64 bits: a front end that wraps the size reads a different body), any
# bytes in chunk-ext (a bare CR or NUL there ends the line for some parsers) and whitespace
# before the CRLF. Like llhttp: at most 16 digits, no control bytes but HTAB in extensions,
# whitespace (BWS) only before a ";".
_CHUNK_HEADER = re.compile(rb"[0-9A-Fa-f]{1,16}(?:[ \t]*;[^\x00-\x08\x0a-\x1f\x7f]*)?\r\n")


def _check_head_bytes(head: bytes) -> None:
    """Refuse what h11 tolerates in a request head but llhttp (and a front end) may not.

    Bare CR or bare LF line ends (RFC 9112 §2.2) and obs-fold (§5.2) let a header hide from a
    proxy that splits lines differently; a server may refuse them, and pounce does under both
    parsers. ``head`` may run past the blank line into a body: only the head is checked.
    """
    end = head.find(b"\r\n\r\n")
    if end == -1:
        end = head.find(b"\n\n")  # a bare-LF head: still refused below
        if end == -1:
            end = len(head)
    head = head[: end + 2]
    if head.translate(None, _HEAD_CTLS) != head:
        raise BadRequest(400, "Invalid control character in request head")
    crlfs = head.count(b"\r\n")
    if head.count(b"\n") != crlfs or head.count(b"\r") != crlfs:
        raise BadRequest(400, "Bare CR or LF in request head")
    if b"\n " in head or b"\n\t" in head:
        raise BadRequest(400, "Obsolete line folding in request head")


class _LineCheckingBuffer:
    """h11's receive buffer as a ChunkedReader sees it, with each chunk-size line checked."""

    __slots__ = ("_buf",)

    def __init__(self, buf: Any) -> None:
        self._buf = buf

    def maybe_extract_next_line(self) -> bytearray | None:
        line = self._buf.maybe_extract_next_line()  # ChunkedReader reads only chunk headers so
        if line is not None and _CHUNK_HEADER.fullmatch(line) is None:
            raise BadRequest(400, "Invalid chunk header")
        return line

    def maybe_extract_at_most(self, count: int) -> bytearray | None:
        return self._buf.maybe_extract_at_most(count)

    def maybe_extract_lines(self) -> list[bytearray] | None:
        return self._buf.maybe_extract_lines()


class _StrictChunkedReader:
    """h11's ChunkedReader with stricter chunk-size lines (see ``_CHUNK_HEADER``)."""

    __slots__ = ("_inner",)

    def __init__(self, inner: ChunkedReader) -> None:
        self._inner = inner

    def __call__(self, buf: Any) -> Any:
        checked = _LineCheckingBuffer(buf)
        return self._inner(checked)  # type: ignore[arg-type]  # duck-typed ReceiveBuffer

    def read_eof(self) -> Any:
        return self._inner.read_eof()


def _repeats_content_length(head: bytes, headers: list[tuple[bytes, bytes]]) -> bool:
    """True if the raw head has more than one Content-Length field line.

    h11 merges identical repeated Content-Length fields (RFC 9110 §8.6 allows that), while
    llhttp refuses them; pounce refuses them under both parsers.
    """
    if not any(name.lower() == b"content-length" for name, _ in headers):
        return False
    end = head.find(b"\r\n\r\n")
    head = head[: end if end != -1 else len(head)].lower()
    if head.count(b"\ncontent-length:") > 1:
        return True
    # The list form "1, 1" (RFC 9110 §8.6 lets a recipient accept it; llhttp does not).
    at = head.find(b"\ncontent-length:")
    line_end = head.find(b"\n", at + 1)
    return b"," in head[at : line_end if line_end != -1 else len(head)]
