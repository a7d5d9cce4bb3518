"""One HTTP/2 stream's response side: the ``ResponseWriter`` of its request/response cycle.

The stream keeps what the application sent until the flow-control windows (RFC 9113 §6.9)
let the connection (``H2Protocol``) put it on the wire, holds the response head back until the
first body bytes (so that an empty body ends the stream in the HEADERS frame), checks the
body against content-length (RFC 9113 §8.1.1) and sends trailers last (RFC 9113 §8.1).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable
from http import HTTPStatus
from typing import Protocol

from pounce.asgi.cycle import Headers, RequestResponseCycle
from pounce.asgi.response import NO_BODY_STATUSES, PLAIN_TEXT
from pounce.errors import InvalidHeader
from pounce.http2.constants import INTERNAL_ERROR
from pounce.http2.response_fields import response_fields

logger = logging.getLogger("pounce.error")

# Response bytes queued per stream before the app's send() waits for the windows.
STREAM_HIGH_WATER = 64 * 1024


class StreamConnection(Protocol):
    """What a stream needs of its connection (``pounce.http2.protocol.H2Protocol``, which
    imports this module: naming it here rather than importing it keeps the import graph
    acyclic)."""

    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...

    @property
    def disconnected(self) -> bool: ...

    @property
    def write_paused(self) -> bool: ...

    @property
    def write_scheduled(self) -> bool: ...

    @property
    def debug_errors(self) -> bool:
        """``--debug``: an app's exception is answered with its traceback."""

    @property
    def pending_heads(self) -> list[H2Stream]:
        """Streams whose response head waits for the connection's next write."""

    def schedule_write(self) -> None: ...

    def default_headers(self) -> list[tuple[bytes, bytes]]: ...

    def send_head(self, stream: H2Stream, end_stream: bool) -> None: ...

    def send_whole(self, stream: H2Stream, body: bytes, size: int) -> None: ...

    def send_informational(self, stream: H2Stream, status: int) -> None: ...

    def flush_stream(self, stream: H2Stream) -> None: ...

    def body_consumed(self, stream: H2Stream, nbytes: int) -> None: ...

    def reset(self, stream: H2Stream, error_code: int) -> None: ...


class H2Stream:
    """One HTTP/2 stream: the ``ResponseWriter`` of its cycle."""

    __slots__ = (
        "blocked_since",
        "body_deadline",
        "buffer",
        "buffered",
        "cycle",
        "end_pending",
        "end_sent",
        "expected",
        "head",
        "head_sent",
        "no_body",
        "proto",
        "received",
        "sent",
        "stream_id",
        "trailers",
        "trailers_expected",
        "waiter",
    )

    def __init__(self, proto: StreamConnection, stream_id: int) -> None:
        self.proto = proto
        self.stream_id = stream_id
        self.cycle: RequestResponseCycle = None  # type: ignore[assignment]  # set before the app runs
        self.head: tuple[int, list[tuple[bytes, bytes]]] | None = None
        self.head_sent = False
        self.no_body = False
        self.expected = -1  # the response's content-length, if it set one
        self.sent = 0
        self.received = 0  # request body bytes, for --limit-request-body
        self.buffer: deque[bytes | memoryview] = deque()
        self.buffered = 0
        self.end_pending = False  # the app sent its last body part
        self.end_sent = False  # END_STREAM (or RST_STREAM) is on its way
        self.trailers: list[tuple[bytes, bytes]] | None = None
        self.trailers_expected = False  # http.response.start said trailers: True
        self.waiter: asyncio.Future[None] | None = None
        self.blocked_since = 0.0
        self.body_deadline = 0.0  # --timeout-request-body, while the request body is due

    # ResponseWriter ----------------------------------------------------------------------

    def write_start(
        self, cycle: RequestResponseCycle, status: int, headers: Headers, trailers: bool
    ) -> None:
        if type(status) is not int or not 100 <= status <= 999:
            raise InvalidHeader(f"invalid HTTP status code: {status!r}")
        proto = self.proto
        fields, content_length = response_fields(headers, proto.default_headers())
        if content_length is not None:
            self.expected = int(content_length)
        self.head = (status, fields)
        self.trailers_expected = trailers
        self.no_body = status in NO_BODY_STATUSES or cycle.scope["method"] == "HEAD"
        # An app that pauses between start and body still gets its head out promptly: the
        # connection's next write sends the heads still held back (H2Protocol._write_now).
        proto.pending_heads.append(self)
        if not proto.write_scheduled:
            proto.schedule_write()

    def write_body(
        self, cycle: RequestResponseCycle, body: bytes, more_body: bool
    ) -> Awaitable[None] | None:
        proto = self.proto
        if self.end_sent or proto.disconnected:
            return None
        size = len(body)
        cycle.bytes_sent += size
        if (
            not more_body
            and self.head is not None
            and not self.trailers_expected
            and not self.no_body
            and (self.expected in (-1, size))
            and not proto.write_paused
        ):
            # The common response, a head and one body part: HEADERS and DATA (or HEADERS
            # with END_STREAM for an empty body) in one go, without the general queue.
            self.sent = size
            self.end_pending = True
            proto.send_whole(self, body, size)
            if self.buffered > STREAM_HIGH_WATER or proto.write_paused:
                return self._wait()
            return None
        if self.expected >= 0:
            self.sent += size
            if self.sent > self.expected:
                raise RuntimeError("Response content longer than Content-Length")
            if not more_body and self.sent < self.expected and not self.no_body:
                # RFC 9113 §8.1.1: a body shorter than content-length is malformed; the
                # client learns it was cut short from the reset rather than END_STREAM.
                logger.error("Response content shorter than Content-Length")
                if self.head is not None:
                    proto.send_head(self, end_stream=False)
                self.buffer.append(body)
                self.buffered += size
                proto.flush_stream(self)
                if not self.end_sent:
                    proto.reset(self, INTERNAL_ERROR)
                return None
        if self.no_body:
            body = b""
        if not more_body:
            self.end_pending = True
        if self.head is not None:
            # Headers and an empty body in one frame: HEADERS with END_STREAM.
            done = not body and not more_body and not self.trailers_expected
            proto.send_head(self, end_stream=done)
            if done:
                return None
        if body:
            self.buffer.append(body)
            self.buffered += len(body)
        proto.flush_stream(self)
        if self.buffered > STREAM_HIGH_WATER or proto.write_paused:
            return self._wait()
        return None

    def _wait(self) -> asyncio.Future[None]:
        waiter = self.waiter
        if waiter is None:
            waiter = self.waiter = self.proto.loop.create_future()
        return waiter

    def wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def write_trailers(self, cycle: RequestResponseCycle, headers: Headers) -> None:
        if self.end_sent or self.proto.disconnected:
            return None
        trailers = response_fields(headers, None)[0]
        if self.trailers is None:
            self.trailers = trailers
        else:
            self.trailers += trailers
        # They go out from response_complete(), after the last trailers message.
        return None

    def write_error(
        self, cycle: RequestResponseCycle, status: int, page: tuple[bytes, bytes] | None = None
    ) -> None:
        proto = self.proto
        if self.end_sent or proto.disconnected:
            return
        if self.head_sent:
            proto.reset(self, INTERNAL_ERROR)
            return
        if page is None:
            content_type = PLAIN_TEXT
            body = f"{HTTPStatus(status).phrase}\n".encode()
        else:
            content_type, body = page
        self.head = (
            status,
            response_fields(
                [
                    (b"content-type", content_type),
                    (b"content-length", b"%d" % len(body)),
                ],
                proto.default_headers(),
            )[0],
        )
        proto.send_head(self, end_stream=False)
        self.end_pending = True
        self.trailers = None
        self.trailers_expected = False
        self.buffer.append(body)
        self.buffered += len(body)
        proto.flush_stream(self)

    @property
    def debug_errors(self) -> bool:
        return self.proto.debug_errors

    def send_continue(self, cycle: RequestResponseCycle) -> None:
        self.proto.send_informational(self, 100)

    def body_consumed(self, cycle: RequestResponseCycle, nbytes: int) -> None:
        self.proto.body_consumed(self, nbytes)

    def response_complete(self, cycle: RequestResponseCycle) -> None:
        if self.trailers_expected and not self.end_sent:
            self.proto.flush_stream(self)  # the trailers, after any queued body

    def app_failed(self, cycle: RequestResponseCycle) -> None:
        if self.end_sent or self.proto.disconnected:
            return
        if not self.head_sent:
            self.head = None
            self.write_error(cycle, 500)
        else:
            self.proto.reset(self, INTERNAL_ERROR)

    def cycle_finished(self, cycle: RequestResponseCycle) -> None:
        if not cycle.response_complete and not self.end_sent and not self.proto.disconnected:
            if not cycle.response_started:
                return  # write_error already answered (or the stream was reset)
            self.proto.reset(self, INTERNAL_ERROR)
