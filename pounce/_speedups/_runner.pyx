# cython: language_level=3
"""The runner that steps an app's coroutine without a task of its own (compiled build only).

A kernel of the one-source cycle (pounce/asgi/_cycle.py): it needs CPython internals
(``PyIter_Send``, ``PyContext_Enter``/``Exit``, asyncio's ``_enter_task``), so it has no
pure-Python twin; the pure build starts a task per request (pounce/asgi/tasks.py).
HTTP/1.1 (the compiled ``H1Protocol``) and HTTP/2 (pounce/http2/protocol.py, as ``AppRunner``)
use one per connection.
"""

import asyncio
import asyncio.tasks

cimport cython
from cpython.contextvars cimport PyContext_CopyCurrent, PyContext_Enter, PyContext_Exit
from cpython.object cimport PyObject
from cpython.ref cimport Py_DECREF

from pounce._speedups._cycle cimport RequestResponseCycle


cdef extern from "Python.h":
    ctypedef enum PySendResult:
        PYGEN_RETURN
        PYGEN_ERROR
        PYGEN_NEXT
    PySendResult PyIter_Send(object iter, object arg, PyObject** presult)


cdef inline int raise_current_error() except -1:
    """Propagate the exception PyIter_Send left set (an app's BaseException)."""
    return -1

cdef object _enter_task = asyncio.tasks._enter_task
cdef object _leave_task = asyncio.tasks._leave_task
cdef object Future = asyncio.Future
cdef object CancelledError = asyncio.CancelledError


cdef inline int _cancelling(task):
    return task.cancelling() if HAS_UNCANCEL else 0


cdef inline _uncancel(task):
    if HAS_UNCANCEL:
        task.uncancel()


cdef bint HAS_UNCANCEL = hasattr(asyncio.Task, "uncancel")  # Python 3.11+


@cython.final
cdef class _Step:
    """What the runner task awaits while an app waits: the app's own future, or one bare
    yield (``asyncio.sleep(0)``). The runner task's step machinery sees exactly what it would
    see if the app's coroutine were the task's own, and any exception it throws in here is
    swallowed: the app's coroutine reads its future's outcome itself when resumed."""

    cdef object fut
    cdef bint yielded

    def __cinit__(self, fut):
        self.fut = fut
        self.yielded = False

    def __await__(self):
        return self

    def __iter__(self):
        return self

    def __next__(self):
        if self.yielded:
            raise StopIteration
        self.yielded = True
        return self.fut

    def send(self, value):
        return self.__next__()

    def throw(self, typ, val=None, tb=None):
        raise StopIteration


cdef class _Runner:  # @cython.final, in _runner.pxd
    """Runs the apps of one HTTP/1.1 connection inside one long-lived task.

    A request's app coroutine takes its first step at once, in a fresh copy of the context
    and with the runner registered as the current task (so ``current_task()``, anyio and
    ``asyncio.timeout`` see a real task). An app that finishes in that step (most do) costs
    no task and no trip through the event loop. One that waits is handed to the runner
    task, which steps it as asyncio's Task would: it waits on the future the app waits on
    and resumes the app in the app's own context. While the runner drives an app, further
    requests get a task of their own (``start`` returns False).
    """

    def __init__(self, loop, tasks):
        self.loop = loop
        self.tasks = tasks
        self.wakeup = None
        self.pending = None
        self.cycle = None
        self.busy = False
        self.closed = False
        self.task = loop.create_task(self._main())

    cpdef bint start(self, RequestResponseCycle cycle, coro):
        """Run the first step of ``coro`` now. False (nothing run) if the runner is busy."""
        if self.busy or self.closed:
            return False
        ctx = PyContext_CopyCurrent()
        loop = self.loop
        try:
            _enter_task(loop, self.task)
        except RuntimeError:  # another task is current: let the caller start a task
            return False
        # ctx.run(coro.send, None) without the bound method and, when the app finishes in
        # this step, without raising and catching StopIteration (PyIter_Send, Python 3.10+).
        cdef PyObject* result = NULL
        cdef PySendResult sent
        PyContext_Enter(ctx)
        sent = PyIter_Send(coro, None, &result)
        PyContext_Exit(ctx)
        _leave_task(loop, self.task)
        if sent == PYGEN_ERROR:
            raise_current_error()
        fut = <object>result
        Py_DECREF(fut)
        if sent == PYGEN_RETURN:
            return True
        self.busy = True
        self.cycle = cycle
        cycle.task = self.task
        self.pending = (coro, ctx, fut)
        self.tasks.add(self.task)
        waiter = self.wakeup
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        return True

    cpdef close(self):
        self.closed = True
        waiter = self.wakeup
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _main(self):
        while True:
            if self.pending is None:
                if self.closed:
                    return
                self.wakeup = self.loop.create_future()
                try:
                    await self.wakeup
                except CancelledError:
                    if self.pending is None:
                        # Cancelled while idle (server shutdown, loop teardown): the runner
                        # ends; later requests on this connection get tasks of their own.
                        self.closed = True
                        raise
                    # Cancelled while an app's first step ran as this task: the app gets the
                    # cancellation as it would in a task of its own (its future is cancelled).
                    _uncancel(self.task)
                    if isinstance(self.pending[2], Future):
                        self.pending[2].cancel()
                finally:
                    self.wakeup = None
                continue_ = self.pending is not None
                if not continue_:
                    continue
            coro, ctx, fut = self.pending
            self.pending = None
            try:
                await self._drive(coro, ctx, fut)
            finally:
                cycle = self.cycle
                if cycle is not None and cycle.task is self.task:
                    cycle.task = None
                self.cycle = None
                self.busy = False
                self.tasks.discard(self.task)
                while _cancelling(self.task):
                    _uncancel(self.task)

    async def _drive(self, coro, ctx, fut):
        while True:
            if fut is not None and not isinstance(fut, Future) and not hasattr(
                fut, "_asyncio_future_blocking"
            ):
                exc = RuntimeError(f"Task got bad yield: {fut!r}")
                try:
                    fut = ctx.run(coro.throw, exc)
                except StopIteration:
                    return
                continue
            await _Step(fut)
            try:
                fut = ctx.run(coro.send, None)
            except StopIteration:
                return
