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
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

logger = logging.getLogger("lightbus.events")

T = TypeVar("T")


class HandlerPool(Generic[T]):
    """``size`` tasks running ``handle(item)`` for queued items until closed."""

    def __init__(
        self,
        size: int,
        handle: Callable[[T], Awaitable[None]],
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

    @property
    def free(self) -> int:
        """Slots neither handling nor promised to a queued item."""
        return self.size - len(self.running) - len(self._queue)

    @property
    def busy(self) -> int:
        """Items handled or queued right now."""
        return len(self.running) + len(self._queue)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        for n in range(self.size):
            task = loop.create_task(self._work(), name=f"{self._name}-{n}")
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
                item = queue.popleft()
                if queue:
                    self._wake_soon()
                self.running[me] = item
                try:
                    await self._handle(item)
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
