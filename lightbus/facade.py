"""The user-facing bus: ``bus.<api>.<name>`` paths and the blocking facade.

The core is async (:class:`~lightbus.client.BusClient`). Blocking calls
(``bus.auth.check_password(...)``, ``fire()``) run the client's coroutines on the
bus's event loop: the loop of the worker when running under ``lightbus run`` or inside
an async app, otherwise one background thread started on first use. A blocking call
made on the loop's own thread would deadlock, so it raises
:class:`~lightbus.errors.SyncCallInLoopError` naming the async twin instead.

No blocking call waits without a bound on a loop that cannot answer: if the loop's
thread is gone (it was stopped, or this process was forked from the one that ran it)
the call starts a new loop thread, or raises :class:`~lightbus.errors.BusClosedError`
saying why.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import threading
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from concurrent.futures import Future
from typing import Any, TypeVar

from lightbus import delayed
from lightbus.client import BusClient
from lightbus.consumer import Listener
from lightbus.context import importing_for_worker
from lightbus.errors import LightbusError, SyncCallInLoopError
from lightbus.message import Message
from lightbus.settings import Settings

T = TypeVar("T")

# How often a blocking call checks that the loop it waits on still runs.
LIVENESS_SECONDS = 1.0


class BusClosedError(LightbusError, RuntimeError):
    """The bus's event loop stopped while a blocking call waited on it."""


class Bus:
    """``bus.client`` is the async client; ``bus.<api>.<name>`` reaches RPCs and events."""

    def __init__(self, client: BusClient) -> None:
        self.client = client
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        _BUSES.add(self)

    def _after_fork(self) -> None:
        # The loop thread does not exist in a forked child, and another thread may have
        # held the lock at the fork: neither may be waited on here.
        self._thread = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Path:
        if name.startswith("_"):
            raise AttributeError(name)
        return Path(self, name)

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | {a.split(".")[0] for a in self.client.apis})

    def __repr__(self) -> str:
        return (
            f"<Bus service={self.client.settings.service_name!r} apis={sorted(self.client.apis)}>"
        )

    # ------------------------------------------------------------ running coroutines

    def _loop_for_blocking(self, what: str) -> asyncio.AbstractEventLoop:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not None:
            raise SyncCallInLoopError(
                f"{what} blocks, but it was called inside a running event loop. "
                f"Use the async twin instead: `await {_async_twin(what)}`."
            )
        with self._lock:
            loop = self.client.loop  # a forked child's client forgets the parent's loop
            if loop is None or loop.is_closed() or not loop.is_running():
                loop = self._start_thread()
        return loop

    def _start_thread(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.new_event_loop()
        self.client.rebind(loop)
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="lightbus-loop", daemon=True)
        self._thread.start()
        ready.wait()
        atexit.register(self.close)
        return loop

    def run(self, coro: Coroutine[Any, Any, T], what: str) -> T:
        """Run ``coro`` on the bus loop and wait for its result (the blocking path)."""
        try:
            loop = self._loop_for_blocking(what)
        except BaseException:
            coro.close()
            raise
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, loop)
        try:
            while True:
                try:
                    return future.result(timeout=LIVENESS_SECONDS)
                except TimeoutError:
                    if future.done():
                        raise  # the coroutine's own TimeoutError
                    if loop.is_closed() or not loop.is_running():
                        future.cancel()
                        raise BusClosedError(
                            f"{what} was waiting on the bus's event loop, which stopped "
                            f"(the bus was closed meanwhile?)."
                        ) from None
        except KeyboardInterrupt:
            future.cancel()
            raise

    async def run_async(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` on the bus loop, from whichever loop the caller is on."""
        running = asyncio.get_running_loop()
        loop = self.client.bind(running)
        if loop is running:
            return await coro
        if not loop.is_running():
            coro.close()
            raise RuntimeError("The bus's event loop is not running")
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))

    def close(self) -> None:
        """Flush the trace and close connections (called at exit for the blocking facade)."""
        loop = self.client.loop
        if loop is None or loop.is_closed():
            return
        if self._thread is not None and loop.is_running():
            with contextlib.suppress(Exception):  # closing is best effort at exit
                asyncio.run_coroutine_threadsafe(self.client.close(), loop).result(timeout=5)
            loop.call_soon_threadsafe(loop.stop)
            self._thread.join(timeout=5)
            self._thread = None
            loop.close()
            atexit.unregister(self.close)
        elif self._thread is not None and not self._thread.is_alive():
            # The loop thread's loop was stopped under it: finish here what it left.
            self._thread = None
            loop.run_until_complete(self._finish_stopped_loop())
            loop.close()
            atexit.unregister(self.close)

    async def _finish_stopped_loop(self) -> None:
        with contextlib.suppress(Exception):  # closing is best effort
            await asyncio.wait_for(self.client.close(), 5)
        left = asyncio.all_tasks() - {asyncio.current_task()}
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)


class Path:
    """``bus.<api>.<name>``: an RPC (call it) or an event (fire or listen to it)."""

    __slots__ = ("_bus", "_path")

    def __init__(self, bus: Bus, path: str) -> None:
        self._bus = bus
        self._path = path

    def __getattr__(self, name: str) -> Path:
        if name.startswith("_"):
            raise AttributeError(name)
        return Path(self._bus, f"{self._path}.{name}")

    def __dir__(self) -> list[str]:
        client = self._bus.client
        names = {"call_async", "fire", "fire_async", "fire_many", "fire_many_async", "listen"}
        definition = client.apis.get(self._path)
        if definition is not None:
            names |= set(definition.rpcs) | set(definition.events)
        prefix = self._path + "."
        names |= {a[len(prefix) :].split(".")[0] for a in client.apis if a.startswith(prefix)}
        return sorted(names)

    def __repr__(self) -> str:
        return f"<bus.{self._path}>"

    def _split(self) -> tuple[str, str]:
        api, dot, name = self._path.rpartition(".")
        if not dot:
            raise AttributeError(
                f"bus.{self._path} names an API, not an RPC or event: use bus.{self._path}.<name>"
            )
        return api, name

    # ------------------------------------------------------------ RPC

    def __call__(self, *args: Any, bus_options: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """Call the RPC and block until its result arrives."""
        return self._bus.run(self._call(args, kwargs, bus_options), f"bus.{self._path}()")

    async def call_async(
        self, *args: Any, bus_options: dict[str, Any] | None = None, **kwargs: Any
    ) -> Any:
        """Call the RPC and await its result."""
        return await self._bus.run_async(self._call(args, kwargs, bus_options))

    async def _call(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], options: dict[str, Any] | None
    ) -> Any:
        api, name = self._split()
        timeout = (options or {}).get("timeout")
        return await self._bus.client.call(api, name, kwargs, timeout=timeout, args=args)

    # ------------------------------------------------------------ events

    def fire(self, *args: Any, **kwargs: Any) -> Message:
        """Fire the event; return the sent message (its ``id`` identifies it in the trace).

        ``delay=`` (seconds or a timedelta) or ``at=`` (a timezone-aware datetime) hold the
        event back until then (:mod:`lightbus.delayed`), unless the event has a parameter
        of that name; ``bus_options={"delay": ...}`` delays it in any case.
        """
        return self._bus.run(self._fire(args, kwargs), f"bus.{self._path}.fire()")

    async def fire_async(self, *args: Any, **kwargs: Any) -> Message:
        """Fire the event; return the sent message (``delay=`` / ``at=`` as for :meth:`fire`)."""
        return await self._bus.run_async(self._fire(args, kwargs))

    async def _fire(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Message:
        api, name = self._split()
        client = self._bus.client
        when, options = delayed.fire_options(kwargs)
        if when:  # the event's own parameter named delay/at is an argument
            rule = await client.validator.rule(api, name, "event")
            delayed.own_arguments(kwargs, when, rule.spec.allowed)
        return await client.fire(api, name, kwargs, args=args, **when, **options)

    def fire_many(
        self, items: Iterable[Mapping[str, Any]], *, delay: Any = None, at: Any = None
    ) -> list[Message]:
        """Fire the event once per dict of keyword arguments, all in one write; blocking.

        Each item is checked as :meth:`fire` checks its arguments, before anything is
        sent: a bad item raises that error naming its index (``exc.item``), and no event
        is sent. Returns the sent messages, in order. ``delay=`` / ``at=`` delay them all.
        """
        api, name = self._split()
        return self._bus.run(
            self._bus.client.fire_many(api, name, items, delay=delay, at=at),
            f"bus.{self._path}.fire_many()",
        )

    async def fire_many_async(
        self, items: Iterable[Mapping[str, Any]], *, delay: Any = None, at: Any = None
    ) -> list[Message]:
        """Fire the event once per dict of keyword arguments, all in one write."""
        api, name = self._split()
        return await self._bus.run_async(
            self._bus.client.fire_many(api, name, items, delay=delay, at=at)
        )

    def listen(
        self,
        handler: Callable[..., Any | Awaitable[Any]],
        listener_name: str | None = None,
        *,
        since: str = "$",
        max_attempts: int | None = None,
        on_error: str = "retry",
        concurrency: int | None = None,
    ) -> Listener:
        """Call ``handler(event, **kwargs)`` for every firing of this event.

        Args:
            listener_name: names the consumer group (``<service>.<listener_name>``):
                processes sharing it share the work; different names each get every
                event. Defaults to the handler's module and qualified name.
            since: where a new listener starts: ``"$"`` (only new events), ``"0"`` (the
                whole stream) or a stream id.
            max_attempts: failed deliveries before the event is dead-lettered
                (default: the ``max_attempts`` setting).
            on_error: ``"retry"`` (retry, then dead-letter) or ``"stop"`` (stop the worker).
            concurrency: how many handlers of this listener run at once in one process
                (default: the ``listener_concurrency`` setting; a plain-function handler
                is also bounded by ``handler_threads``). ``concurrency=1`` in one process
                handles the events one at a time, in the order they were fired.
        """
        api, name = self._split()
        client = self._bus.client
        listener = client.listen(
            [(api, name)],
            handler,
            listener_name=listener_name,
            since=since,
            max_attempts=max_attempts,
            on_error=on_error,
            concurrency=concurrency,
        )
        if importing_for_worker.get() or (client.running_worker and not client.started):
            return listener  # the worker starts it (and a failure to start stops it)
        try:
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is not None and client.bind(running) is running:
                # On the bus's loop (an async hook or app): what can be checked without
                # Redis is checked now, so a misspelt event raises here; then the start
                # (which may ask the registry) runs without blocking the loop.
                client.consumer.check_known_events(listener)
                client.spawn(
                    client.start_listener(listener), name=f"lightbus-start-{listener.name}"
                )
            elif running is not None:
                raise SyncCallInLoopError(
                    f"bus.{self._path}.listen() was called on an event loop that is not the "
                    f"bus's; call it from the bus's loop or from a plain thread."
                )
            else:
                self._bus.run(client.start_listener(listener), f"bus.{self._path}.listen()")
        except BaseException:
            client.listeners.remove(listener)
            raise
        return listener


_BUSES: weakref.WeakSet[Bus] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for bus in list(_BUSES):
        bus._after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


def create(**settings: Any) -> Bus:
    """Create a bus. Settings: keyword arguments > ``LIGHTBUS_*`` env > config file."""
    return Bus(BusClient(Settings.resolve(**settings)))


def _async_twin(what: str) -> str:
    if what.endswith(".fire_many()"):
        return what[: -len(".fire_many()")] + ".fire_many_async([...])"
    if what.endswith(".fire()"):
        return what[: -len(".fire()")] + ".fire_async(...)"
    if what.endswith(".listen()"):
        return what + " from a plain thread, or await it in an on_start hook"
    if what.endswith("()"):
        return what[:-2] + ".call_async(...)"
    return what
