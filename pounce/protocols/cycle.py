"""One ASGI HTTP request/response exchange, shared by HTTP/1.1 and HTTP/2.

The cycle owns everything that is the same on both protocols: the ASGI ``receive``/``send``
state machine (HTTP spec 2.4), request-body buffering with flow-control credit handed back as
the app consumes it, disconnect delivery, and the error rules (500 before the response starts,
abort after). What differs per protocol, how a head and body reach the wire, is behind the
``ResponseWriter`` interface that the connection implements.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

from .._compat import EXTENSION_IMPORT_ERRORS, USE_EXTENSIONS
from ..access_log import log_access, switches
from ..config import ASGIApp, Message, Scope
from ..logs import access_logger

logger = logging.getLogger("pounce.error")

Headers = Iterable[tuple[bytes, bytes]]


class ResponseWriter(Protocol):
    """The connection side of a cycle: how one protocol puts a response on the wire."""

    def write_start(
        self, cycle: RequestResponseCycle, status: int, headers: Headers, trailers: bool
    ) -> None:
        """Validate and serialise the response head (raise InvalidHeader to refuse it)."""

    def write_body(
        self, cycle: RequestResponseCycle, body: bytes, more_body: bool
    ) -> Awaitable[None] | None:
        """Write body bytes; return an awaitable when the caller must wait (backpressure)."""

    def write_trailers(
        self, cycle: RequestResponseCycle, headers: Headers
    ) -> Awaitable[None] | None:
        """Write response trailers (the ``http.response.trailers`` extension)."""

    def write_error(self, cycle: RequestResponseCycle, status: int) -> None:
        """Answer with a plain error response when the app has sent nothing usable."""

    def send_continue(self, cycle: RequestResponseCycle) -> None:
        """The app asked for the body of an ``Expect: 100-continue`` request."""

    def body_consumed(self, cycle: RequestResponseCycle, nbytes: int) -> None:
        """The app took ``nbytes`` of request body: give flow-control credit back."""

    def response_complete(self, cycle: RequestResponseCycle) -> None:
        """The last byte of the response was handed to the transport."""

    def app_failed(self, cycle: RequestResponseCycle) -> None:
        """The app stopped mid-response: the response cannot be completed."""

    def cycle_finished(self, cycle: RequestResponseCycle) -> None:
        """The app's call returned or raised; the cycle is over."""


def _disconnect() -> Message:
    return {"type": "http.disconnect"}


class RequestResponseCycle:
    """The ASGI receive/send pair for one request, and the state between them."""

    __slots__ = (
        "_body",
        "_body_delivered",
        "_body_sent",
        "_body_size",
        "_disconnected",
        "_expect_continue",
        "_more_body",
        "_trailers_pending",
        "_waiter",
        "bytes_sent",
        "loop",
        "response_complete",
        "response_headers",
        "response_started",
        "scope",
        "start_time",
        "status",
        "task",
        "writer",
    )

    def __init__(
        self,
        scope: Scope,
        writer: ResponseWriter,
        loop: asyncio.AbstractEventLoop,
        more_body: bool,
        expect_continue: bool = False,
    ) -> None:
        self.scope = scope
        self.writer = writer
        self.loop = loop
        self.task: asyncio.Task[None] | None = None
        self.status = 0
        self.bytes_sent = 0
        self.start_time = 0.0
        # response_headers: set only for a %({name}o)s access-log atom (read with getattr)
        self.response_started = False
        self.response_complete = False
        self._trailers_pending = False
        self._body_sent = False
        self._body: list[bytes] = []
        self._body_size = 0
        self._more_body = more_body
        self._body_delivered = False
        self._disconnected = False
        self._expect_continue = expect_continue
        self._waiter: asyncio.Future[None] | None = None

    # Fed by the connection ---------------------------------------------------------------------

    def feed_body(self, data: bytes) -> int:
        """Buffer request body bytes; returns how many bytes are now buffered."""
        self._body.append(data)
        self._body_size += len(data)
        self._wake()
        return self._body_size

    def end_body(self) -> None:
        self._more_body = False
        self._wake()

    @property
    def buffered(self) -> int:
        return self._body_size

    @property
    def request_complete(self) -> bool:
        """True once the whole request body has arrived (not necessarily been read)."""
        return not self._more_body

    @property
    def disconnected(self) -> bool:
        return self._disconnected

    def disconnect(self) -> None:
        """The client went away: wake ``receive`` with ``http.disconnect``, or cancel the app.

        An app waiting in ``receive()`` is told through the message. An app busy elsewhere
        (producing a response) is cancelled, since nobody will read what it produces; an app
        that already completed its response keeps running its background work.
        """
        if self._disconnected:
            return
        self._disconnected = True
        waiter = self._waiter
        if waiter is not None:
            # The app is in receive(): it learns of the disconnect from the message (even when
            # a body woke it in this same loop turn, so it gets that body first).
            if not waiter.done():
                waiter.set_result(None)
            return
        task = self.task
        if task is not None and not self.response_complete and not task.done():
            task.cancel()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _wait(self) -> None:
        waiter = self._waiter = self.loop.create_future()
        try:
            await waiter
        finally:
            self._waiter = None

    # ASGI --------------------------------------------------------------------------------------

    async def receive(self) -> Message:
        if self._body_delivered:
            # After the body, receive() blocks until the client goes or the response is done.
            if not (self._disconnected or self.response_complete):
                await self._wait()
            return _disconnect()
        if self._disconnected:
            return _disconnect()
        if not self._body and self._more_body:
            if self._expect_continue:
                self._expect_continue = False
                if not self.response_started:
                    self.writer.send_continue(self)
            await self._wait()
            if not self._body and (self._disconnected or self.response_complete):
                return _disconnect()
        body_parts = self._body
        nbytes = self._body_size
        if not body_parts:
            body = b""
        elif len(body_parts) == 1:
            body = body_parts[0]
            body_parts.clear()
        else:
            body = b"".join(body_parts)
            body_parts.clear()
        self._body_size = 0
        more_body = self._more_body
        if not more_body:
            self._body_delivered = True
        if nbytes:
            self.writer.body_consumed(self, nbytes)
        return {"type": "http.request", "body": body, "more_body": more_body}

    async def send(self, message: Message) -> None:
        mtype = message["type"]
        if not self.response_started:
            if mtype != "http.response.start":
                raise RuntimeError(
                    f"Expected ASGI message 'http.response.start', but got '{mtype}'."
                )
            status = message["status"]
            trailers = bool(message.get("trailers", False))
            if not self._disconnected:
                self.writer.write_start(self, status, message.get("headers", ()), trailers)
            self.response_started = True
            self.status = status
            self._trailers_pending = trailers
            if switches.response_headers and self.start_time:
                # Only for a %({name}o)s access-log atom (pounce/access_log.py). The bool
                # first: it is cheaper to test than the float (callgrind, bench/RESULTS.md).
                self.response_headers: Any = message.get("headers", ())
            return
        if self.response_complete:
            raise RuntimeError(
                f"Unexpected ASGI message '{mtype}' sent, after response already completed."
            )
        if mtype == "http.response.body" and not self._body_sent:
            body = message.get("body", b"")
            more_body = message.get("more_body", False)
            drain = None
            if not self._disconnected:  # after a disconnect, writes are dropped quietly
                drain = self.writer.write_body(self, body, more_body)
            if not more_body:
                self._body_sent = True
                if not self._trailers_pending:
                    self.response_complete = True
                    self._finish()
        elif mtype == "http.response.trailers" and self._body_sent and self._trailers_pending:
            drain = None
            if not self._disconnected:
                drain = self.writer.write_trailers(self, message.get("headers", ()))
            if not message.get("more_trailers", False):
                self.response_complete = True
                self._finish()
        else:
            expected = "trailers" if self._body_sent else "body"
            raise RuntimeError(
                f"Expected ASGI message 'http.response.{expected}', but got '{mtype}'."
            )
        if drain is not None:
            await drain

    def _finish(self) -> None:
        self.writer.response_complete(self)
        if self.start_time and access_logger.isEnabledFor(logging.INFO):
            log_access(self)
        self._wake()

    async def run_asgi(self, app: ASGIApp) -> None:
        """Call the app once and enforce the response rules on what it did."""
        try:
            result = await app(self.scope, self.receive, self.send)  # type: ignore[func-returns-value]  # an app may return a value: logged
        except asyncio.CancelledError:
            # Cancelled because the client left or the server gave up waiting on shutdown.
            if not self.response_complete:
                self.writer.app_failed(self)
        except Exception as exc:
            logger.error("Exception in ASGI application", exc_info=exc)
            if not self.response_started:
                self.writer.write_error(self, 500)
            elif not self.response_complete:
                self.writer.app_failed(self)
        else:
            if result is not None:
                logger.error("ASGI callable returned a value other than None: %r", result)
            if not self.response_started:
                if not self._disconnected:
                    logger.error("ASGI callable returned without starting response.")
                    self.writer.write_error(self, 500)
            elif not self.response_complete and not self._disconnected:
                logger.error("ASGI callable returned without completing response.")
                self.writer.app_failed(self)
        finally:
            self.writer.cycle_finished(self)


RequestResponseCyclePy = RequestResponseCycle

# With the compiled twin, a connection's apps can take their first step at once inside one
# long-lived runner task (_speedups/_http1.pyx, _Runner): an app that never waits costs no
# task. HTTP/2 uses it per connection; the pure twin starts a task per request.
AppRunner: Any = None

if not TYPE_CHECKING and USE_EXTENSIONS:
    try:
        from .._speedups._http1 import RequestResponseCycle
        from .._speedups._http1 import _Runner as AppRunner  # noqa: F401
    except ImportError as exc:
        EXTENSION_IMPORT_ERRORS[__name__] = str(exc)
