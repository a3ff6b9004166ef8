"""Background tasks and the parts of a worker to run (Lightbus 1.x's forms).

``bus.client.add_background_task(coroutine)`` runs a coroutine for the life of the
worker: started with the worker (or at once if the bus is already running), cancelled
when the bus closes, and an exception in it stops the worker with exit status 1, as
Lightbus 1.x documents. ``cancel_on_close=False`` lets it finish instead, within
``shutdown_grace`` seconds.

``lightbus run --only tasks`` / ``--skip rpcs`` choose what a worker runs among
:data:`FEATURES`: ``rpcs`` (serving RPCs), ``events`` (listeners, and releasing their
delayed events) and ``tasks`` (scheduled functions: ``every()`` and ``schedule()``).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from lightbus.errors import ConfigError
from lightbus.runtime import Runtime

logger = logging.getLogger("lightbus.worker")

FEATURES = ("rpcs", "events", "tasks")


class BackgroundTasks:
    """The coroutines given to ``add_background_task``, started with the worker."""

    def __init__(
        self, runtime: Runtime, loop: Callable[[], asyncio.AbstractEventLoop | None]
    ) -> None:
        self.runtime = runtime
        self._loop = loop  # the bus's event loop, if bound
        self.pending: list[tuple[Awaitable[Any], bool]] = []
        self.kept: set[asyncio.Task[Any]] = set()  # cancel_on_close=False
        self.failed: BaseException | None = None
        self.started = False

    def add(self, coroutine: Awaitable[Any], cancel_on_close: bool = True) -> None:
        if not inspect.isawaitable(coroutine):
            raise TypeError(
                f"add_background_task() takes a coroutine, e.g. add_background_task(poll()) "
                f"(the async function called), not {type(coroutine).__name__} {coroutine!r}"
            )
        if not self.started:
            self.pending.append((coroutine, cancel_on_close))
            return
        loop = self._loop()
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop or loop is None:
            self._start(coroutine, cancel_on_close)
        else:  # from a plain-function handler's thread: start it on the bus's loop
            loop.call_soon_threadsafe(self._start, coroutine, cancel_on_close)

    def start(self) -> None:
        """Start the tasks added so far, and any added later at once (the worker started)."""
        self.started = True
        pending, self.pending = self.pending, []
        for coroutine, cancel_on_close in pending:
            self._start(coroutine, cancel_on_close)

    def _start(self, coroutine: Awaitable[Any], cancel_on_close: bool) -> None:
        name = f"lightbus-background-{getattr(coroutine, '__qualname__', 'task')}"
        if cancel_on_close:
            task = self.runtime.spawn(coroutine, name=name)
        else:
            task = asyncio.ensure_future(coroutine)
            task.set_name(name)
            self.kept.add(task)
            task.add_done_callback(self.kept.discard)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled() or task.exception() is None:
            return
        self.failed = task.exception()
        if task in self.kept:  # the runtime logs the tasks it spawned
            logger.error("Background task %s failed", task.get_name(), exc_info=self.failed)
        self.runtime.request_stop(f"background task {task.get_name()} failed: {self.failed!r}")

    async def close(self, grace: float) -> None:
        """Wait (up to ``grace`` seconds) for the tasks that are not cancelled at close."""
        for coroutine, _ in self.pending:
            with contextlib.suppress(AttributeError):
                coroutine.close()  # type: ignore[attr-defined]
        self.pending = []
        if self.kept:
            _, late = await asyncio.wait(list(self.kept), timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)


def choose_features(only: Iterable[str], skip: Iterable[str]) -> frozenset[str]:
    """The features a worker runs for ``--only`` / ``--skip`` (comma-separated or repeated)."""
    chosen = {_feature(word, "--only") for item in only for word in _words(item)}
    skipped = {_feature(word, "--skip") for item in skip for word in _words(item)}
    features = (chosen or set(FEATURES)) - skipped
    if not features:
        raise ConfigError(
            "--only/--skip leave nothing to run; the features are " + ", ".join(FEATURES),
            key="features",
        )
    return frozenset(features)


def _words(item: str) -> list[str]:
    return [word.strip() for word in item.split(",") if word.strip()]


def _feature(word: str, option: str) -> str:
    if word not in FEATURES:
        raise ConfigError(
            f"{option} {word!r}: not a feature; choose from {', '.join(FEATURES)} "
            f"(e.g. --only tasks, or --skip rpcs,events)",
            key="features",
        )
    return word
