"""The pure-Python HTTP/1.1 parser backend: h11, driven to look like httptools.

``H11Parser`` has httptools' parser surface (``feed_data``, ``get_http_version``,
``get_method``) and calls the same ``on_*`` callbacks on the protocol, so the protocol has a
single code path for both backends. h11 is used for parsing only: pounce serialises responses
itself. A fresh ``h11.Connection`` is started per request with the bytes left over from the
previous one, so h11's own keep-alive and response-state rules never stall the stream;
keep-alive is decided by the protocol, the same way for both backends.
"""

from __future__ import annotations

from typing import Protocol

import h11

from ..errors import BadRequest, ParserUpgrade


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
            event_type = type(event)
            if event_type is h11.Data:
                body = event.data  # h11 may hand out a bytearray slice; ASGI bodies are bytes
                callbacks.on_body(body if type(body) is bytes else bytes(body))
            elif event_type is h11.Request:
                self._version = event.http_version.decode("ascii", "replace")
                self._method = event.method
                head, self._head = self._head, b""
                # raw_items() is a plain list; iterating Headers itself goes through the
                # Sequence ABC, a Python call per item. Names are lower-cased by on_header.
                items = event.headers.raw_items()
                if _repeats_content_length(head, items):
                    raise BadRequest(400, "Duplicate Content-Length")
                if not self._begun:
                    callbacks.on_message_begin()
                self._begun = False
                callbacks.on_url(event.target)
                for name, value in items:
                    callbacks.on_header(name, value)
                callbacks.on_headers_complete()
            elif event_type is h11.EndOfMessage:
                # Trailers (event.headers) are dropped: they never join the request headers.
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


def _repeats_content_length(head: bytes, headers: list[tuple[bytes, bytes]]) -> bool:
    """True if the raw head has more than one Content-Length field line.

    h11 merges identical repeated Content-Length fields (RFC 9110 §8.6 allows that), while
    llhttp refuses them; pounce refuses them under both parsers.
    """
    if not any(name.lower() == b"content-length" for name, _ in headers):
        return False
    end = head.find(b"\r\n\r\n")
    return head[: end if end != -1 else len(head)].lower().count(b"\ncontent-length:") > 1
