"""The bus client: the composition root of the async core.

:class:`BusClient` holds what the user registers (APIs, listeners, schedules, hooks)
and builds the parts that do the work, handing each only the collaborators it needs
(:class:`~lightbus.parts.Parts`): the trace sink (:mod:`lightbus.tracesink`), the API
directory (:mod:`lightbus.apis`), validation (:mod:`lightbus.validation`), the RPC
caller (:mod:`lightbus.rpc.caller`), the publisher (:mod:`lightbus.publisher`) and the
consumer (:mod:`lightbus.consumer`). No part imports this module. ``bus.client`` is the
one a user meets; the blocking facade (:mod:`lightbus.facade`) and the worker
(:mod:`lightbus.worker`) drive it.

A process forked from one that used the client (gunicorn, multiprocessing) gets the
client rebuilt in the child on its first use: new connections, a new handler thread
pool, and a process name of its own (the consumer name of its listeners), so parent
and child never share a socket or take each other's pending events.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import socket
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from lightbus import context
from lightbus.api import Api
from lightbus.apis import ApiDirectory
from lightbus.autopipeline import Batch
from lightbus.background import FEATURES, BackgroundTasks
from lightbus.connection import connection_error, guarded
from lightbus.consumer import Consumer, Listener, ListenerRunner, default_listener_name
from lightbus.delayed import DelayedEvents
from lightbus.envelope import Envelopes
from lightbus.errors import BusConnectionError
from lightbus.invoke import Invoker
from lightbus.keys import Keys
from lightbus.message import Message
from lightbus.parts import Connections, Parts
from lightbus.publisher import Publisher
from lightbus.rpc.caller import RpcCaller
from lightbus.schedule import Schedule
from lightbus.scheduled import Timed, timed
from lightbus.settings import Settings
from lightbus.trace import TraceRecord
from lightbus.tracesink import TraceSink
from lightbus.validation import Validator

logger = logging.getLogger("lightbus")

__all__ = ["BusClient", "default_listener_name", "forked_process_name"]

F = TypeVar("F", bound=Callable[..., Any])


class BusClient:
    """The async bus. Bound to one event loop: the first one that uses it."""

    def __init__(self, settings: Settings) -> None:
        self.schedules: list[Schedule | Timed] = []
        self.features = frozenset(FEATURES)  # what a worker runs (lightbus run --only/--skip)
        self.start_hooks: list[Callable[..., Any]] = []
        self.stop_hooks: list[Callable[..., Any]] = []
        self.running_worker = False
        self.started = False  # the worker has started its listeners (lightbus.worker)
        self.stop_requested: asyncio.Event | None = None
        self.stop_reason = ""
        self._tasks: set[asyncio.Task[Any]] = set()
        self._build(settings, None, [])
        self._pid = os.getpid()
        _CLIENTS.add(self)

    def _build(
        self, settings: Settings, directory: ApiDirectory | None, listeners: list[Listener]
    ) -> None:
        """Build the parts for ``settings`` (again after a fork: see the module doc)."""
        self.settings = settings
        self.keys = Keys(settings.prefix)
        self.invoke = Invoker(settings.handler_threads)
        self.tracer = TraceSink(settings, self.keys.trace, pipeline=self.pipeline, spawn=self.spawn)
        spans = None
        if settings.otel_enabled:  # the lightbus[otel] extra: imported only when turned on
            from lightbus.otel import Spans

            spans = Spans()
            self.tracer.observers.append(spans)
        self.connections = Connections(settings, self.tracer)
        if directory is None:
            directory = ApiDirectory(settings, self.keys, lambda: self.connections.redis)
        directory.settings = settings
        self.directory: ApiDirectory = directory
        self.validator = Validator(directory)
        self.parts = Parts(
            settings=settings,
            keys=self.keys,
            tracer=self.tracer,
            connections=self.connections,
            validator=self.validator,
            invoke=self.invoke,
            spawn=self.spawn,
            request_stop=self.request_stop,
            spans=spans,
        )
        self.envelopes = Envelopes(settings, directory.schema_hash, spans)
        self.caller = RpcCaller(self.parts, directory, self.envelopes)
        self.publisher = Publisher(self.parts, directory, self.envelopes)
        self.consumer = Consumer(self.parts, directory)
        self.consumer.listeners.extend(listeners)
        self.delayed = DelayedEvents(self.parts)
        self.background = BackgroundTasks(self.parts, lambda: self.connections.loop)

    # ---------------------------------------------------------------- what is registered

    @property
    def apis(self) -> dict[str, Any]:
        return self.directory.apis

    @property
    def schemas(self) -> dict[str, dict[str, Any]]:
        return self.directory.schemas

    @property
    def listeners(self) -> list[Listener]:
        return self.consumer.listeners

    @property
    def runners(self) -> dict[str, ListenerRunner]:
        return self.consumer.runners

    def register_api(self, api: Api) -> None:
        """Serve ``api`` from this process (when it runs as a worker) and fire its events."""
        self.directory.register(api)

    def on_start(self) -> Callable[[F], F]:
        """Decorator: call the function when the worker starts (sync or async)."""

        def decorate(fn: F) -> F:
            self.start_hooks.append(fn)
            return fn

        return decorate

    def on_stop(self) -> Callable[[F], F]:
        """Decorator: call the function when the worker stops (sync or async)."""

        def decorate(fn: F) -> F:
            self.stop_hooks.append(fn)
            return fn

        return decorate

    def every(
        self,
        *,
        seconds: float = 0,
        minutes: float = 0,
        hours: float = 0,
        days: float = 0,
        also_run_immediately: bool = False,
    ) -> Callable[[F], F]:
        """Decorator: run the function on this interval in the worker (and, with
        ``also_run_immediately=True``, as each worker starts). Across all workers of the
        bus, each tick runs once (a Redis lock decides which)."""
        interval = seconds + minutes * 60 + hours * 3600 + days * 86400
        if interval <= 0:
            raise ValueError("every() needs a positive interval, e.g. every(seconds=30)")

        def decorate(fn: F) -> F:
            self.schedules.append(Schedule(fn, interval, also_run_immediately))
            return fn

        return decorate

    def schedule(self, spec: Any, **options: Any) -> Callable[[F], F]:
        """Decorator: run the function at the times of a cron expression or ``schedule`` job,
        once per tick across workers. Options (``tz=``, ``catch_up=``,
        ``also_run_immediately=``): :func:`lightbus.scheduled.timed`."""

        def decorate(fn: F) -> F:
            self.schedules.append(timed(fn, spec, **options))
            return fn

        return decorate

    def add_background_task(self, coroutine: Any, cancel_on_close: bool = True) -> None:
        """Run ``coroutine`` alongside the worker (see :mod:`lightbus.background`)."""
        self.background.add(coroutine, cancel_on_close)

    # ---------------------------------------------------------------- the loop

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        self._check_fork()
        return self.connections.loop

    def bind(self, loop: asyncio.AbstractEventLoop) -> asyncio.AbstractEventLoop:
        """Bind to ``loop`` if not bound yet; return the loop this client is bound to.

        Bound anew (the old loop closed), it closes the connections of the old loop.
        """
        self._check_fork()
        return self.connections.bind(loop)

    def rebind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind to ``loop`` whatever the loop bound before; its connections are closed."""
        self._check_fork()
        self.connections.rebind(loop)

    @property
    def redis(self) -> Any:
        return self.connections.redis

    def pipeline(self) -> Batch:
        """A group of writes sent in one round trip, with any other group sent meanwhile."""
        return self.connections.pipeline()

    def _check_fork(self) -> None:
        if self._pid != os.getpid():
            self._after_fork()

    def _after_fork(self) -> None:
        """In a forked child: a new process name, new connections, a new thread pool."""
        parent, self._pid = self._pid, os.getpid()
        self.connections.after_fork()
        name = forked_process_name(self.settings.process_name, parent, self._pid)
        settings = dataclasses.replace(self.settings, process_name=name)
        self._tasks = set()
        self.running_worker = False
        self.stop_requested = None
        self._build(settings, self.directory, list(self.consumer.listeners))

    # ---------------------------------------------------------------- messages

    def make_message(self, kind: Any, api: str, name: str, **options: Any) -> Message:
        """A message sent by this client (see :meth:`lightbus.envelope.Envelopes.make`)."""
        return self.envelopes.make(kind, api, name, **options)

    def schema_hash(self, api: str) -> str:
        return self.directory.schema_hash(api)

    async def remote_schema(self, api: str) -> dict[str, Any] | None:
        return await self.directory.remote_schema(api)

    async def live_schemas(self) -> dict[str, dict[str, Any]]:
        """Every API schema published on the bus right now."""
        return await self.directory.live_schemas()

    async def serves(self, api: str) -> bool:
        """Whether a live worker currently serves ``api``."""
        return await self.directory.serves(api)

    async def call(
        self,
        api: str,
        name: str,
        kwargs: dict[str, Any],
        *,
        timeout: float | None = None,
        args: tuple[Any, ...] = (),
        **options: Any,
    ) -> Any:
        """Call ``api.name(**kwargs)`` on whichever worker serves it; return its result.

        ``args``: positional arguments as the user passed them, refused (calls take
        keyword arguments only) with the rest of the checks, once. ``options`` go to the
        envelope (``replay_of``, ``parent``, ``message_id``: see :mod:`lightbus.replay`).
        """
        return await self.caller.call(api, name, kwargs, timeout=timeout, args=args, **options)

    async def fire(
        self,
        api: str,
        name: str,
        kwargs: dict[str, Any],
        *,
        args: tuple[Any, ...] = (),
        **options: Any,
    ) -> Message:
        """Fire ``api.name`` with ``kwargs``; return the sent message."""
        return await self.publisher.fire(api, name, kwargs, args=args, **options)

    async def fire_many(
        self, api: str, name: str, items: Iterable[Mapping[str, Any]], **options: Any
    ) -> list[Message]:
        """Fire ``api.name`` once per mapping of keyword arguments in ``items``, in one write.

        Every item is checked and encoded as :meth:`fire` would before anything is sent:
        a bad item raises the error ``fire`` raises, with ``item`` set to its index and
        the index in the message, and no event of the batch is sent. Returns the sent
        messages, in the order of ``items``. ``delay=`` / ``at=`` delay them all.
        """
        return await self.publisher.fire_many(api, name, items, **options)

    def listen(
        self,
        events: list[tuple[str, str]],
        handler: Callable[..., Any],
        *,
        listener_name: str | None = None,
        since: str = "$",
        max_attempts: int | None = None,
        on_error: str = "retry",
        concurrency: int | None = None,
    ) -> Listener:
        """Register ``handler`` for ``events``. Starts at once if the bus is running."""
        return self.consumer.listen(
            events,
            handler,
            listener_name=listener_name,
            since=since,
            max_attempts=max_attempts,
            on_error=on_error,
            concurrency=concurrency,
        )

    async def start_listener(self, listener: Listener) -> ListenerRunner | None:
        """Consume for ``listener`` and release its delayed events (None with ``--skip events``)."""
        if "events" not in self.features:
            return None
        runner = await self.consumer.start(listener)
        self.delayed.watch(listener.events)
        return runner

    # ---------------------------------------------------------------- housekeeping

    def spawn(self, coro: Any, *, name: str) -> asyncio.Task[Any]:
        """A background task of the runtime's, outside any trace (see context.detached)."""
        loop = asyncio.get_running_loop()
        task = loop.create_task(coro, name=name, context=context.detached())
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("Background task %s failed", task.get_name(), exc_info=task.exception())

    def request_stop(self, reason: str) -> None:
        self.stop_reason = reason
        if self.stop_requested is not None:
            self.stop_requested.set()

    async def flush_trace(self) -> None:
        """Write the trace records held for the next write now."""
        await self.tracer.flush()

    async def write_records(self, records: Sequence[TraceRecord | None]) -> None:
        """Write ``records`` (None entries are skipped) in one go, through the trace sink."""
        await self.tracer.write(records)

    async def ping(self) -> None:
        """Check that Redis answers; raise :class:`BusConnectionError` otherwise."""
        try:
            await guarded(self.settings, self.redis.ping())
        except BusConnectionError:
            raise
        except Exception as exc:
            raise connection_error(self.settings, exc) from None

    async def close(self) -> None:
        """Stop listeners started outside a worker, flush the trace, close connections."""
        self.bind(asyncio.get_running_loop())  # a new loop: the old one's are closed first
        await self.consumer.close()
        await self.background.close(self.settings.shutdown_grace)
        await self.tracer.flush()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.caller.close()
        await self.connections.close()
        self.invoke.shutdown()


def forked_process_name(name: str, parent_pid: int, pid: int) -> str:
    """The process name of a child forked from a process named ``name``.

    A default name (``<host>-<pid>``) becomes the child's default; a name the user set
    gets the child's pid appended, so it still says where the child came from.
    """
    host = socket.gethostname().split(".")[0]
    if name == f"{host}-{parent_pid}":
        return f"{host}-{pid}"
    return f"{name}-{pid}"


_CLIENTS: weakref.WeakSet[BusClient] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # Only what cannot wait for the client's next use: the rest happens in _check_fork.
    for client in list(_CLIENTS):
        client._check_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
