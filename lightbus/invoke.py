"""Running user code (handlers, RPC methods, hooks, schedules) in the right place.

``async def`` functions run on the bus's event loop; plain functions run on the bus's
handler threads (:mod:`lightbus.handlerthreads`) so they can block (and can use the
blocking API). Either way the function
runs inside the trace context it is given, so messages it sends join that trace.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import threading
from collections.abc import Callable
from typing import Any

from lightbus import context
from lightbus.handlerthreads import HandlerThreads

THREAD_PREFIX = "lightbus-handler"


class Invoker:
    """Calls user functions, sync ones on a bounded thread pool."""

    def __init__(self, threads: int) -> None:
        self._size = threads
        self._pool: HandlerThreads | None = None
        self._running = 0
        self._lock = threading.Lock()

    @property
    def running(self) -> int:
        """Plain functions running on the pool's threads right now (idle threads are not
        counted: after a stop they end by themselves)."""
        return self._running

    async def __call__(
        self,
        fn: Callable[..., Any],
        *args: Any,
        trace: tuple[str, ...] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Call ``fn(*args, **kwargs)``; ``trace`` is (trace_id, span_id, message_id[,
        replay_of])."""
        if not is_async(fn):
            return await self.in_thread(fn, *args, trace=trace, **kwargs)
        token = context.enter_message(*trace) if trace else None
        try:
            return await fn(*args, **kwargs)
        finally:
            if token is not None:
                context.leave(token)

    async def in_thread(
        self,
        fn: Callable[..., Any],
        *args: Any,
        trace: tuple[str, ...] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Call the plain function ``fn`` on a handler thread (for callers that know it is
        one: no check per call); ``trace`` as for :meth:`__call__`."""
        token = context.enter_message(*trace) if trace else None
        try:
            ctx = contextvars.copy_context()
            call = functools.partial(ctx.run, self._counted, fn, *args, **kwargs)
            result = await self._threads().submit(call)
            if inspect.isawaitable(result):
                # A plain function that returned a coroutine (e.g. a lambda or partial).
                result = await result
            return result
        finally:
            if token is not None:
                context.leave(token)

    def _counted(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            self._running += 1
        try:
            return fn(*args, **kwargs)
        finally:
            with self._lock:
                self._running -= 1

    def _threads(self) -> HandlerThreads:
        if self._pool is None:
            self._pool = HandlerThreads(self._size, THREAD_PREFIX)
        return self._pool

    def shutdown(self) -> None:
        """End the handler threads (each after its running call); calls not started are
        cancelled. A later call starts new ones."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


def is_async(fn: Callable[..., Any]) -> bool:
    try:
        return _is_async_cached(fn)
    except TypeError:  # unhashable callable
        return _is_async(fn)


# Asked for every handled message; the answer never changes for a function.
@functools.lru_cache(maxsize=1024)
def _is_async_cached(fn: Callable[..., Any]) -> bool:
    return _is_async(fn)


def _is_async(fn: Callable[..., Any]) -> bool:
    target = fn.func if isinstance(fn, functools.partial) else fn
    return inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(
        getattr(target, "__call__", None)  # noqa: B004 - an object with an async __call__
    )
