# cython: language_level=3, annotation_typing=False
"""One ASGI HTTP request/response exchange, shared by HTTP/1.1 and HTTP/2: the one source.

This file runs as it is in the pure build (``pounce.asgi._cycle``), and Cython compiles the
same file a second time as ``pounce._speedups._cycle`` (``_speedups/_cycle.py`` is a link to it)
with ``_speedups/_cycle.pxd`` declaring its classes as ``cdef`` classes, their attributes as C
slots and the hot methods as C methods. ``pounce.asgi.cycle`` picks one. Imports are
absolute: relative ones would resolve differently under ``_speedups``. Type hints are for mypy
only (``annotation_typing=False``): the ``.pxd`` is what types the compiled build.

The cycle owns everything that is the same on both protocols: the ASGI ``receive``/``send``
state machine (HTTP spec 2.4), request-body buffering with flow-control credit handed back as
the app consumes it, disconnect delivery, and the error rules (500 before the response starts,
with the traceback under ``--debug``; abort after). What differs per protocol, how a head and
body reach the wire, is behind the ``ResponseWriter`` interface that the connection implements.

``receive()`` and ``send()`` are plain methods that return an awaitable: a ready one
(``_Ready``, ``_TakeBody``) when no wait is needed, which is nearly always, so the common case
costs no coroutine object; a coroutine only when the app must wait.
"""

from __future__ import annotations

import asyncio
import collections.abc
import logging
from collections.abc import Awaitable, Iterable
from typing import Any, Protocol

from pounce.access_log import access_logger, log_access, switches
from pounce.asgi.types import ASGIApp, Message, Scope
from pounce.debug_page import error_page

logger = logging.getLogger("pounce.error")

Headers = Iterable[tuple[bytes, bytes]]

CancelledError = asyncio.CancelledError
INFO = logging.INFO

# What a timed cycle (one with a start_time) does at its end, set once by the server as it
# starts (one server per worker process) through time_requests: count it into the worker's
# WorkerMetrics (--metrics-bind, pounce/metrics.py; None when off) and make the access record
# unless the access log is off (then the logger is not even asked). Module globals, compiled C
# globals (_speedups/_cycle.pxd): read in C per response, no attribute lookup.
_metrics: Any = None
_access_log = True


def time_requests(metrics: Any, access_log: bool) -> None:
    """What a timed cycle does at its end (the server's ``ServerState.metrics`` and
    ``ServerState.access_log``)."""
    global _metrics, _access_log
    _metrics = metrics
    _access_log = access_log


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

    def write_error(
        self, cycle: RequestResponseCycle, status: int, page: tuple[bytes, bytes] | None = None
    ) -> None:
        """Answer with an error response when the app has sent nothing usable: the status
        phrase as plain text, or ``page`` (content type, body) when given."""

    @property
    def debug_errors(self) -> bool:
        """``--debug``: a 500 for an app's exception shows its traceback (pounce/debug_page.py)."""

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


class CompiledWriter:
    """Base class of a ``ResponseWriter`` whose hot methods the compiled cycle calls as C
    methods (``H1Protocol``, pounce/http1/_protocol.py, whose compiled build derives from the
    compiled one). Any other writer (HTTP/2's streams) is called through Python, and so is
    every writer in the pure build, where this is a plain class."""

    def write_start(
        self, cycle: RequestResponseCycle, status: int, headers: Headers, trailers: bool
    ) -> None:
        raise NotImplementedError

    def write_body(
        self, cycle: RequestResponseCycle, body: bytes, more_body: bool
    ) -> Awaitable[None] | None:
        raise NotImplementedError

    def body_consumed(self, cycle: RequestResponseCycle, nbytes: int) -> None:
        raise NotImplementedError

    def response_complete(self, cycle: RequestResponseCycle) -> None:
        raise NotImplementedError


def _disconnect() -> Message:
    return {"type": "http.disconnect"}


def _get(message: Message, key: str, default: Any) -> Any:
    """``message.get(key, default)``. Compiled, ``as_dict`` is a C ``dict`` (``_cycle.pxd``),
    so a plain dict message (nearly every app's) is read with a C lookup."""
    if type(message) is dict:
        as_dict = message
        return as_dict.get(key, default)
    return message.get(key, default)


class _ReadyAwaitable:
    """The base of ``_Ready`` and ``_TakeBody``: an awaitable that finishes at its first step,
    instead of a coroutine object per call. It also speaks the coroutine protocol
    (send/throw/close) and is registered as a ``collections.abc.Coroutine``, so
    ``asyncio.create_task(send(...))`` keeps working. Subclasses give ``__next__`` and
    ``send``: raise ``StopIteration`` with the result."""

    def __await__(self) -> _ReadyAwaitable:
        return self

    def __iter__(self) -> _ReadyAwaitable:
        return self

    def __next__(self) -> Any:
        raise NotImplementedError

    def send(self, arg: Any) -> Any:
        return self.__next__()

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        if val is None:
            val = typ() if isinstance(typ, type) else typ
        raise val

    def close(self) -> None:
        pass


collections.abc.Coroutine.register(_ReadyAwaitable)


class _Ready(_ReadyAwaitable):
    """What ``send()`` and ``receive()`` return when they complete without waiting (nearly
    always): already done with ``value``."""

    def __init__(self, value: Any = None) -> None:
        self.value = value

    def __next__(self) -> Any:
        if self.value is None:
            raise StopIteration
        raise StopIteration(self.value)

    def send(self, arg: Any) -> Any:
        if self.value is None:
            raise StopIteration
        raise StopIteration(self.value)


_DONE = _Ready(None)


class _TakeBody(_ReadyAwaitable):
    """What ``receive()`` returns when request body bytes are buffered: an awaitable that takes
    them when it is awaited, not when ``receive()`` is called. ASGI's ``receive`` is an
    awaitable callable, and callers rely on the work happening at the await, as with an
    ``async def``: a2wsgi (and so any Flask app mounted in FastAPI with it) calls ``receive()``
    in a worker thread and awaits it on the loop with ``run_coroutine_threadsafe``. Taking the
    body at call time would touch the buffer and resume the transport from that thread, racing
    the loop: a lost wake-up that hangs the request.
    """

    def __init__(self, cycle: RequestResponseCycle) -> None:
        self.cycle = cycle

    def __next__(self) -> Any:
        raise StopIteration(self.cycle._take_body())

    def send(self, arg: Any) -> Any:
        raise StopIteration(self.cycle._take_body())


class RequestResponseCycle:
    """The ASGI receive/send pair for one request, and the state between them."""

    def __init__(
        self,
        scope: Scope,
        writer: ResponseWriter,
        loop: asyncio.AbstractEventLoop,
        more_body: bool,
        expect_continue: bool = False,
    ) -> None:
        self._setup(scope, writer, loop, more_body, expect_continue)

    def _setup(
        self,
        scope: Scope,
        writer: ResponseWriter,
        loop: asyncio.AbstractEventLoop,
        more_body: bool,
        expect_continue: bool,
    ) -> None:
        """``__init__``'s work, which the compiled ``H1Protocol`` calls as a C method on a
        cycle made with ``__new__`` (no argument parsing per request)."""
        self.scope = scope
        self.writer = writer
        # The writer, when the compiled cycle may call it as C methods (see CompiledWriter).
        self._fast_writer = writer if isinstance(writer, CompiledWriter) else None
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

    def receive(self) -> Awaitable[Message]:
        """ASGI receive(): a ready awaitable when a message is at hand, else a coroutine."""
        if self._body_delivered:
            if not (self._disconnected or self.response_complete):
                return self._receive_after_body()
            return _Ready(_disconnect())
        if self._disconnected:
            return _Ready(_disconnect())
        if not self._body and self._more_body:
            return self._receive_wait()
        return _TakeBody(self)  # the body is taken when awaited (see _TakeBody)

    # The two coroutines below check the state again before they wait: receive() may have been
    # called well before its result is awaited (a2wsgi calls it in a worker thread and awaits
    # it on the loop), and a body that arrived in between, with reading then paused, would
    # never wake a waiter created after it: the request would hang (see _TakeBody).

    async def _receive_after_body(self) -> Message:
        # After the body, receive() blocks until the client goes or the response is done.
        if not (self._disconnected or self.response_complete):
            await self._wait()
        return _disconnect()

    async def _receive_wait(self) -> Message:
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
        return self._take_body()

    def _take_body(self) -> Message:
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
            fast = self._fast_writer
            if fast is not None:
                fast.body_consumed(self, nbytes)
            else:
                self.writer.body_consumed(self, nbytes)
        return {"type": "http.request", "body": body, "more_body": more_body}

    def send(self, message: Message) -> Awaitable[None]:
        """ASGI send(): does the work now; returns the drain future or a ready awaitable."""
        mtype = message["type"]
        if not self.response_started:
            if mtype != "http.response.start":
                raise RuntimeError(
                    f"Expected ASGI message 'http.response.start', but got '{mtype}'."
                )
            status = message["status"]
            trailers = bool(_get(message, "trailers", False))
            if not self._disconnected:
                headers = _get(message, "headers", ())
                fast = self._fast_writer
                if fast is not None:
                    fast.write_start(self, status, headers, trailers)
                else:
                    self.writer.write_start(self, status, headers, trailers)
            self.response_started = True
            self.status = status
            self._trailers_pending = trailers
            if self.start_time and _access_log and switches.response_headers:
                # Only for a %({name}o)s access-log atom (pounce/access_log.py); timed for the
                # metrics only (_access_log false), no attribute read.
                self.response_headers: Any = _get(message, "headers", ())
            return _DONE
        if self.response_complete:
            raise RuntimeError(
                f"Unexpected ASGI message '{mtype}' sent, after response already completed."
            )
        drain = None
        if mtype == "http.response.body" and not self._body_sent:
            body = _get(message, "body", b"")
            more_body = _get(message, "more_body", False)
            if not self._disconnected:  # after a disconnect, writes are dropped quietly
                fast = self._fast_writer
                if fast is not None:
                    drain = fast.write_body(self, body, more_body)
                else:
                    drain = self.writer.write_body(self, body, more_body)
            if not more_body:
                self._body_sent = True
                if not self._trailers_pending:
                    self.response_complete = True
                    self._finish()
        elif mtype == "http.response.trailers" and self._body_sent and self._trailers_pending:
            if not self._disconnected:
                drain = self.writer.write_trailers(self, _get(message, "headers", ()))
            if not _get(message, "more_trailers", False):
                self.response_complete = True
                self._finish()
        else:
            expected = "trailers" if self._body_sent else "body"
            raise RuntimeError(
                f"Expected ASGI message 'http.response.{expected}', but got '{mtype}'."
            )
        if drain is not None:
            return drain
        return _DONE

    def _finish(self) -> None:
        fast = self._fast_writer
        if fast is not None:
            fast.response_complete(self)
        else:
            self.writer.response_complete(self)
        if self.start_time:
            # Timed: the access log or the metrics are on.
            metrics = _metrics
            if metrics is not None:
                scope = self.scope
                metrics.count(
                    scope["method"], scope["http_version"], self.status, self.start_time,
                    self.bytes_sent,
                )  # fmt: skip
            # --no-access-log disables the logger: skip isEnabledFor, a Python call, then.
            if _access_log and not access_logger.disabled and access_logger.isEnabledFor(INFO):
                log_access(self)
        self._wake()

    async def run_asgi(self, app: ASGIApp) -> None:
        """Call the app once and enforce the response rules on what it did."""
        try:
            result = await app(self.scope, self.receive, self.send)  # type: ignore[func-returns-value]  # an app may return a value: logged
        except CancelledError:
            # Cancelled because the client left or the server gave up waiting on shutdown.
            if not self.response_complete:
                self.writer.app_failed(self)
        except Exception as exc:
            logger.error("Exception in ASGI application", exc_info=exc)
            if not self.response_started:
                # --debug is looked up here, on the error path: a request that does not fail
                # never reads it.
                if self.writer.debug_errors:
                    self.writer.write_error(self, 500, error_page(self.scope, exc))
                else:
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
