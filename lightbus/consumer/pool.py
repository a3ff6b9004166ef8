"""A listener's handler slots: long-lived tasks that take queued entries one by one.

A listener runs at most ``listener_concurrency`` handlers at once. Rather than a task per
entry (created, stepped, finished and called back for every event), the pool keeps that
many tasks alive and each takes the next queued entry when its handler returns:

- A handler that never waits (the common cheap handler) runs to its end inside the
  task that took it, and the same task goes on with the next entry: a read's whole
  batch is handled in one step of one task, with no task or loop callback per entry.
- A handler that waits (I/O) frees the loop, and another idle task is woken for the
  entries still queued, one loop turn later. So ``listener_concurrency`` keeps its
  meaning: that many handlers in progress at once, never more.

Only as many entries are read as there are free slots (:attr:`HandlerPool.free`), so
the queue never holds more than the idle tasks will take at once.

Each item is handled in its own copy of the context, as a task of its own would be: a
context variable a handler sets (a request id, a tenant, a logging binding) does not
leak into the next item the same task takes. A handler that raises ``CancelledError``
without this task being cancelled is a failing handler, not the end of the task.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any, Generic, TypeVar

logger = logging.getLogger("lightbus.events")

T = TypeVar("T")


class HandlerPool(Generic[T]):
    """``size`` tasks running ``handle(item)`` for queued items until closed."""

    def __init__(
        self,
        size: int,
        handle: Callable[[T], Coroutine[Any, Any, None]],
        *,
        finish: Callable[[], Awaitable[None]],
        name: str,
    ) -> None:
        self.size = size
        self._handle = handle
        self._finish = finish  # awaited by each task before it ends (pending acks)
        self._name = name
        self._queue: deque[T] = deque()
        self.running: dict[asyncio.Task[None], T] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.slot_freed = asyncio.Event()
        self._idle: list[asyncio.Future[None]] = []
        self._wake_scheduled = False
        self._closing = False
        self._owner: asyncio.Task[Any] | None = None  # the task that started the pool

    @property
    def free(self) -> int:
        """Slots neither handling nor promised to a queued item."""
        return self.size - len(self.running) - len(self._queue)

    @property
    def busy(self) -> int:
        """Items handled or queued right now."""
        return len(self.running) + len(self._queue)

    def start(self) -> None:
        """Start the tasks; the calling task (the listener's reading loop) owns them."""
        self._owner = asyncio.current_task()
        for _ in range(self.size):
            self._start_task()

    def _start_task(self) -> None:
        task = asyncio.get_running_loop().create_task(self._work(), name=self._name)
        self.tasks.add(task)
        task.add_done_callback(self._ended)

    def submit(self, item: T) -> None:
        """Queue ``item``; call :meth:`dispatch` once the items of a read are queued."""
        self._queue.append(item)

    def dispatch(self) -> None:
        """Wake one idle task for the queue; it wakes more if a handler waits."""
        if self._queue and self._idle:
            waiter = self._idle.pop()
            if not waiter.done():
                waiter.set_result(None)

    def close(self) -> None:
        """Let every task end once the queue is empty (items queued before still run)."""
        self._closing = True
        idle, self._idle = self._idle, []
        for waiter in idle:
            if not waiter.done():
                waiter.set_result(None)

    def unfinished(self) -> list[T]:
        """Items being handled or still queued (at shutdown: to hand back)."""
        return [*self.running.values(), *self._queue]

    def _wake_soon(self) -> None:
        # Runs after the current task yields: if its handler finished the queue without
        # waiting, nothing is left and nobody is woken for nothing.
        if not self._wake_scheduled:
            self._wake_scheduled = True
            asyncio.get_running_loop().call_soon(self._woken)

    def _woken(self) -> None:
        self._wake_scheduled = False
        self.dispatch()

    async def _work(self) -> None:
        me = asyncio.current_task()
        assert me is not None
        loop = asyncio.get_running_loop()
        queue = self._queue
        while True:
            while queue:
                if me.cancelling():
                    raise asyncio.CancelledError  # a handler swallowed our cancel: stop here
                item = queue.popleft()
                if queue:
                    self._wake_soon()
                self.running[me] = item
                try:
                    await run_in_context(contextvars.copy_context(), self._handle(item))
                except asyncio.CancelledError:
                    if me.cancelling():
                        raise
                    logger.error("A handler of %s raised CancelledError", self._name)
                except Exception:
                    logger.exception("Handler task %s failed", self._name)
                finally:
                    del self.running[me]
                    self.slot_freed.set()
            if self._closing:
                break
            waiter = loop.create_future()
            self._idle.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._idle:  # cancelled while idle
                    self._idle.remove(waiter)
        await self._finish()

    def _ended(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        self.running.pop(task, None)
        if self._closing or not self._owner_alive():
            return
        # Cancelled from outside while the listener goes on: keep the slot alive, or
        # entries would be read into a queue no task takes.
        self._start_task()

    def _owner_alive(self) -> bool:
        """Whether the task that started the pool goes on (not done, not being cancelled).

        At loop teardown every task is cancelled at once: a handler task that ends then
        must not be replaced, or the new task is left pending when the loop closes
        ("Task was destroyed but it is pending!").
        """
        owner = self._owner
        if owner is None:
            return True
        return not owner.done() and not owner.cancelling() and not owner.get_loop().is_closed()


class _Yield:
    """Awaiting it yields one value to the running task and returns what the task sends."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __await__(self) -> Generator[Any, Any, Any]:
        return (yield self.value)


async def run_in_context(context: contextvars.Context, coro: Coroutine[Any, Any, T]) -> T:
    """Await ``coro`` with each of its steps run in ``context``, in the current task.

    What ``asyncio.create_task(coro, context=context)`` gives, without a task: every
    step of the coroutine runs inside ``context.run``; whatever it waits on is waited on
    by the current task, and a cancellation of the current task is passed into it.
    """
    send, throw = coro.send, coro.throw
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = context.run(send, value) if error is None else context.run(throw, error)
        except StopIteration as done:
            result: T = done.value
            return result
        try:
            value, error = await _Yield(step), None
        except BaseException as exc:  # e.g. this task cancelled while coro waited
            value, error = None, exc
