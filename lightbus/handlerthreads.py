"""The handler threads: where plain (``def``) user functions run, off the event loop.

``loop.run_in_executor`` costs a ``concurrent.futures.Future``, its chaining to an
asyncio future and a wake-up of the loop per call. A plain-``def`` RPC method or listener
pays that on every message, which made it cost twice the ``async def`` form. Here a
bounded set of long-lived threads takes calls from one ``queue.SimpleQueue`` (a C queue:
a put is a cheap wake-up of a waiting thread), and finished calls go back to the loop in
batches: a thread appends the outcome to a list and wakes the loop only when the list was
empty, so calls finishing together cost one wake-up.

Threads start on demand up to the bound and stay; :meth:`HandlerThreads.shutdown` ends
them (a running call finishes first) and cancels calls not yet started. They are not
daemons: as with the standard thread pool, the interpreter waits at exit for a call still
running, and idle threads are told to end at exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import weakref
from collections.abc import Callable
from typing import Any

# (the loop to answer on, the future to answer, the call) or None: end the thread.
_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[[], Any]] | None

_pools: weakref.WeakSet[HandlerThreads] = weakref.WeakSet()


def _end_all_at_exit() -> None:
    for pool in list(_pools):
        pool.shutdown()


# Like concurrent.futures: run before the interpreter joins non-daemon threads.
_register = getattr(threading, "_register_atexit", None)
if _register is not None:
    _register(_end_all_at_exit)


class HandlerThreads:
    """At most ``size`` threads named ``<prefix>_<n>`` running plain functions for a loop."""

    def __init__(self, size: int, prefix: str) -> None:
        self._size = size
        self._prefix = prefix
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._lock = threading.Lock()
        self._done: list[tuple[asyncio.Future[Any], bool, Any]] = []
        self._waking: set[asyncio.AbstractEventLoop] = set()
        self._closed = False
        _pools.add(self)

    def submit(self, fn: Callable[[], Any]) -> asyncio.Future[Any]:
        """Run ``fn()`` on a handler thread; a future (of the running loop) for its outcome."""
        if self._closed:
            raise RuntimeError("the handler threads have been shut down")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._jobs.put((loop, future, fn))
        with self._lock:
            start = self._idle == 0 and len(self._threads) < self._size
            if start:
                thread = threading.Thread(
                    target=self._work, name=f"{self._prefix}_{len(self._threads)}"
                )
                self._threads.append(thread)
        if start:
            thread.start()
        return future

    def _work(self) -> None:
        jobs = self._jobs
        while True:
            with self._lock:
                self._idle += 1
            job = jobs.get()
            with self._lock:
                self._idle -= 1
            if job is None:
                return
            loop, future, fn = job
            if future.cancelled():  # the caller gave up before it started
                continue
            try:
                outcome = (future, True, fn())
            except StopIteration as exc:  # a future refuses it: the caller would never hear
                error = RuntimeError("a plain function raised StopIteration")
                error.__cause__ = exc
                outcome = (future, False, error)
            except BaseException as exc:  # handed to the caller, as run_in_executor does
                outcome = (future, False, exc)
            self._finished(loop, outcome)

    def _finished(
        self, loop: asyncio.AbstractEventLoop, outcome: tuple[asyncio.Future[Any], bool, Any]
    ) -> None:
        with self._lock:
            self._done.append(outcome)
            if loop in self._waking:
                return  # a wake-up is already on its way: it takes this outcome too
            self._waking.add(loop)
        try:
            loop.call_soon_threadsafe(self._deliver, loop)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            with self._lock:
                self._waking.discard(loop)
                self._done = [d for d in self._done if d[0].get_loop() is not loop]

    def _deliver(self, loop: asyncio.AbstractEventLoop) -> None:
        """On ``loop``: hand every finished call of this loop to its caller."""
        with self._lock:
            self._waking.discard(loop)
            mine = [d for d in self._done if d[0].get_loop() is loop]
            if len(mine) == len(self._done):
                self._done = []
            else:
                self._done = [d for d in self._done if d[0].get_loop() is not loop]
        for future, ok, value in mine:
            if future.cancelled():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    def shutdown(self) -> None:
        """Cancel calls not started, end the threads (each after its running call)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            threads = len(self._threads)
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                loop, future, _fn = job
                with contextlib.suppress(RuntimeError):  # its loop is closed
                    loop.call_soon_threadsafe(future.cancel)
        for _ in range(threads):
            self._jobs.put(None)
