"""The bus client: the async core every other part is built on.

:class:`BusClient` holds the registered APIs, listeners, schedules and hooks, makes
messages, checks arguments, and sends calls and events. ``bus.client`` is the one a
user meets; the blocking facade (:mod:`lightbus.facade`) and the worker
(:mod:`lightbus.worker`) drive it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from lightbus import context, ids, limits, registry, trace
from lightbus.api import Api, ApiDefinition, define
from lightbus.arguments import ArgSpec
from lightbus.autopipeline import AutoPipeline, Batch
from lightbus.connection import CONNECTION_ERRORS, connect, connection_error, describe, guarded
from lightbus.errors import (
    BusConnectionError,
    InvalidArguments,
    LightbusError,
    RemoteError,
    RpcTimeout,
    UnknownApi,
    UnknownName,
)
from lightbus.events import Listener, ListenerRunner
from lightbus.invoke import Invoker
from lightbus.keys import Keys
from lightbus.message import FIELD, HOST, ErrorInfo, Kind, Message, now_ms
from lightbus.rpc import ReplyReader, deadline_guard
from lightbus.schedule import Schedule
from lightbus.schema import api_schema, schema_hash
from lightbus.settings import Settings
from lightbus.validation import Checker, Checkers, remote_validation_error

logger = logging.getLogger("lightbus")

F = TypeVar("F", bound=Callable[..., Any])

REMOTE_SCHEMA_TTL = 10.0
TRACE_FLUSH_SECONDS = 0.1
SERVED_LOOKUP_SECONDS = 0.5


class BusClient:
    """The async bus. Bound to one event loop: the first one that uses it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.keys = Keys(settings.prefix)
        self.tracer = trace.TraceWriter(settings, self.keys.trace)
        self.apis: dict[str, ApiDefinition] = {}
        self.schemas: dict[str, dict[str, Any]] = {}
        self.listeners: list[Listener] = []
        self.runners: dict[str, ListenerRunner] = {}
        self.schedules: list[Schedule] = []
        self.start_hooks: list[Callable[..., Any]] = []
        self.stop_hooks: list[Callable[..., Any]] = []
        self.invoke = Invoker(settings.handler_threads)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.running_worker = False
        self.stop_requested: asyncio.Event | None = None
        self.stop_reason = ""
        self._redis: Any = None
        self._autopipeline: AutoPipeline | None = None
        self._replies: ReplyReader | None = None
        self._specs: dict[tuple[str, str, str], ArgSpec] = {}
        self.checkers = Checkers(self)
        self._hashes: dict[str, tuple[dict[str, Any], str]] = {}
        self._remote: dict[str, tuple[float, dict[str, Any] | None]] = {}
        self._buffer: list[trace.TraceRecord] = []
        self._flusher: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # ---------------------------------------------------------------- registration

    def register_api(self, api: Api) -> None:
        """Serve ``api`` from this process (when it runs as a worker) and fire its events."""
        definition = define(api)
        if definition.name in self.apis:
            raise ValueError(f"An API named {definition.name!r} is already registered")
        self.apis[definition.name] = definition
        self.schemas[definition.name] = api_schema(definition)

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
        self, *, seconds: float = 0, minutes: float = 0, hours: float = 0, days: float = 0
    ) -> Callable[[F], F]:
        """Decorator: run the function on this interval in the worker.

        Across all workers of the bus, each tick runs once (a Redis lock decides which).
        """
        interval = seconds + minutes * 60 + hours * 3600 + days * 86400
        if interval <= 0:
            raise ValueError("every() needs a positive interval, e.g. every(seconds=30)")

        def decorate(fn: F) -> F:
            self.schedules.append(Schedule(fn, interval))
            return fn

        return decorate

    # ---------------------------------------------------------------- the loop

    def bind(self, loop: asyncio.AbstractEventLoop) -> asyncio.AbstractEventLoop:
        """Bind to ``loop`` if not bound yet; return the loop this client is bound to."""
        if self.loop is None or self.loop.is_closed():
            self.loop = loop
            self._redis = None
            self._autopipeline = None
        return self.loop

    @property
    def redis(self) -> Any:
        if self._redis is None:
            self._redis = connect(self.settings)
        return self._redis

    def pipeline(self) -> Batch:
        """A group of writes sent in one round trip, with any other group sent meanwhile."""
        if self._autopipeline is None:
            self._autopipeline = AutoPipeline(
                self.redis.connection_pool, self.settings, self.tracer.entries
            )
        return self._autopipeline.batch()

    # ---------------------------------------------------------------- messages

    def make_message(
        self,
        kind: Kind,
        api: str,
        name: str,
        *,
        kwargs: dict[str, Any] | None = None,
        parent: Message | None = None,
        deadline: int = 0,
        reply_to: str = "",
        result: Any = None,
        error: ErrorInfo | None = None,
        replay_of: str = "",
        to: str = "",
        message_id: str = "",
    ) -> Message:
        if parent is not None:
            trace_id, span_id = parent.trace_id, ids.span_id()
            parent_span, causation = parent.span_id, parent.id
        else:
            trace_id, span_id, parent_span, causation = context.new_span()
        return Message(
            id=message_id or ids.message_id(),
            kind=kind,
            api=api,
            name=name,
            trace_id=trace_id,
            span_id=span_id,
            parent_span_id=parent_span,
            causation_id=causation,
            service=self.settings.service_name,
            process=self.settings.process_name,
            host=HOST,
            pid=os.getpid(),
            sent_at=now_ms(),
            deadline=deadline,
            reply_to=reply_to,
            replay_of=replay_of,
            to=to,
            schema=self.schema_hash(api),
            kwargs=kwargs or {},
            result=result,
            error=error,
        )

    def schema_hash(self, api: str) -> str:
        """The hash of the local schema of ``api`` (empty if not local), computed once."""
        schema = self.schemas.get(api)
        if not schema:
            return ""
        cached = self._hashes.get(api)
        if cached is None or cached[0] is not schema:
            cached = self._hashes[api] = (schema, schema_hash(schema))
        return cached[1]

    def _encode(self, message: Message) -> bytes:
        return limits.encode(message, self.settings)

    def _outgoing(self, checker: Checker, kwargs: dict[str, Any], side: str) -> dict[str, Any]:
        """The arguments in their wire form (see :meth:`Checker.outgoing`), within limits."""
        try:
            return checker.outgoing(kwargs, side)
        except RecursionError:  # nested deeper than any decoder reads
            raise limits.beyond_recursion(checker.api, checker.name, self.settings) from None

    # ---------------------------------------------------------------- argument specs

    async def spec(self, api: str, name: str, kind: str) -> ArgSpec:
        """The argument spec of ``api.name``, from the local API or the live registry."""
        key = (api, name, kind)
        cached = self._specs.get(key)
        if cached is not None and (api in self.apis or self._remote_fresh(api)):
            return cached
        schema = self.schemas.get(api) or await self.remote_schema(api)
        if schema is None:
            # Loaded schemas (`run --schema`, the CLI's bus module) are known too.
            known = set(self.apis) | set(self.schemas) | set(await self.live_schemas())
            raise UnknownApi(api, known)
        section = schema.get("rpcs" if kind == "rpc" else "events", {})
        if name not in section:
            other = schema.get("events" if kind == "rpc" else "rpcs", {})
            actual = ("event" if kind == "rpc" else "rpc") if name in other else ""
            raise UnknownName(api, name, kind=kind, known=section, actual=actual)
        spec = ArgSpec.from_schema(api, name, kind, section[name].get("parameters", {}))
        self._specs[key] = spec
        return spec

    def _remote_fresh(self, api: str) -> bool:
        entry = self._remote.get(api)
        return entry is not None and time.monotonic() - entry[0] < REMOTE_SCHEMA_TTL

    async def remote_schema(self, api: str) -> dict[str, Any] | None:
        entry = self._remote.get(api)
        if entry is not None and time.monotonic() - entry[0] < REMOTE_SCHEMA_TTL and entry[1]:
            return entry[1]
        schema = await guarded(self.settings, registry.fetch_schema(self.redis, self.keys, api))
        self._remote[api] = (time.monotonic(), schema)
        return schema

    async def live_schemas(self) -> dict[str, dict[str, Any]]:
        """Every API schema published on the bus right now."""
        return await guarded(self.settings, registry.fetch_all_schemas(self.redis, self.keys))

    async def serves(self, api: str) -> bool:
        """Whether a live worker currently serves ``api``."""
        workers = await registry.list_workers(self.redis, self.keys)
        return any(api in w.apis for w in workers)

    # ---------------------------------------------------------------- RPC

    async def call(
        self,
        api: str,
        name: str,
        kwargs: dict[str, Any],
        *,
        timeout: float | None = None,
        **options: Any,
    ) -> Any:
        """Call ``api.name(**kwargs)`` on whichever worker serves it; return its result.

        ``options`` go to the envelope (``replay_of``, ``parent``, ``message_id``: see
        :mod:`lightbus.replay`)."""
        spec = await self.spec(api, name, "rpc")
        spec.check((), kwargs)
        checker = await self.checkers.get(api, name, "rpc")
        kwargs = self._outgoing(checker, kwargs, "caller")
        timeout = timeout or self.settings.rpc_timeouts.get(api) or self.settings.rpc_timeout
        if self._replies is None:
            self._replies = ReplyReader(self)
        deadline = now_ms() + int(timeout * 1000)
        message = self.make_message(
            "rpc",
            api,
            name,
            kwargs=kwargs,
            deadline=deadline,
            reply_to=self._replies.key,
            **options,
        )
        data = self._encode(message)
        record = self.tracer.for_message(trace.RPC_CALLED, message)
        future = self._replies.expect(message.id)
        started = time.perf_counter()
        try:
            async with self.pipeline() as pipe:
                pipe.rpush(self.keys.rpc_queue(api), data)
                self.tracer.add(pipe, record)
                self._drain_buffer(pipe)
                await pipe.execute()  # bounded, errors as BusConnectionError, like guarded()
            try:
                async with asyncio.timeout(timeout):
                    reply = await future
            except TimeoutError:
                self._buffer_record(
                    self.tracer.for_message(
                        trace.RPC_RETURNED,
                        message,
                        status="timeout",
                        duration_ms=(time.perf_counter() - started) * 1000,
                        with_payload=False,
                    )
                )
                try:
                    # Only a hint for the error message: never delay the timeout for it.
                    async with asyncio.timeout(SERVED_LOOKUP_SECONDS):
                        served: bool | None = await self.serves(api)
                except CONNECTION_ERRORS:  # includes the builtin TimeoutError
                    served = None
                raise RpcTimeout(api=api, name=name, timeout=timeout, served=served) from None
        finally:
            self._replies.forget(message.id)
        returned = self.tracer.for_message(
            trace.RPC_RETURNED,
            message,
            status="error" if reply.error else "ok",
            duration_ms=(time.perf_counter() - started) * 1000,
            payload=reply.result,
        )
        if reply.error and returned is not None:
            returned.error_type = reply.error.type
            returned.error = reply.error.message
        self._buffer_record(returned)
        if reply.error:
            invalid = remote_validation_error(api, name, reply.error)
            if invalid is not None:
                raise invalid
            raise RemoteError(
                api=api,
                name=name,
                remote_type=reply.error.type,
                remote_message=reply.error.message,
                remote_traceback=reply.error.traceback,
            )
        return checker.result_in(reply.result)

    async def serve_call(self, call: Message) -> Any:
        """Run one incoming call against the local API (used by the worker)."""
        definition = self.apis.get(call.api)
        if definition is None:
            raise UnknownApi(call.api, self.apis)
        rpc = definition.rpcs.get(call.name)
        if rpc is None:
            raise UnknownName(call.api, call.name, kind="rpc", known=definition.rpcs)
        checker = await self.checkers.get(call.api, call.name, "rpc")
        # Validation first: its ValidationError (names included) travels back intact.
        kwargs = checker.incoming(call.kwargs, "worker")
        spec = await self.spec(call.api, call.name, "rpc")
        spec.check((), call.kwargs)
        method = rpc.method if rpc.is_async else deadline_guard(rpc.method, call.deadline)
        result = await self.invoke(
            method, trace=(call.trace_id, call.span_id, call.id, call.replay_of), **kwargs
        )
        try:
            return checker.result_out(result)
        except RecursionError:  # the result nests deeper than any decoder reads
            raise limits.beyond_recursion(call.api, call.name, self.settings) from None

    # ---------------------------------------------------------------- events

    async def fire(self, api: str, name: str, kwargs: dict[str, Any], **options: Any) -> Message:
        """Fire ``api.name`` with ``kwargs``; return the sent message."""
        return (await self._fire(api, name, [kwargs], options, batch=False))[0]

    async def fire_many(
        self, api: str, name: str, items: Iterable[Mapping[str, Any]]
    ) -> list[Message]:
        """Fire ``api.name`` once per mapping of keyword arguments in ``items``, in one write.

        Every item is checked and encoded as :meth:`fire` would before anything is sent:
        a bad item raises the error ``fire`` raises, with ``item`` set to its index and
        the index in the message, and no event of the batch is sent. Returns the sent
        messages, in the order of ``items``.
        """
        if isinstance(items, Mapping | str | bytes) or not isinstance(items, Iterable):
            raise InvalidArguments(
                f"{api}.{name}.fire_many() takes a list of keyword-argument dicts, one per "
                f"event, not {type(items).__name__}: fire_many([{{...}}, {{...}}]).",
                api=api,
                name=name,
            )
        return await self._fire(api, name, list(items), {}, batch=True)

    async def _fire(
        self,
        api: str,
        name: str,
        items: list[Any],
        options: dict[str, Any],
        *,
        batch: bool,
    ) -> list[Message]:
        spec = await self.spec(api, name, "event")
        checker = await self.checkers.get(api, name, "event")
        made: list[tuple[Message, bytes, dict[str, Any]]] = []
        for index, kwargs in enumerate(items):
            try:
                if not isinstance(kwargs, Mapping):
                    raise InvalidArguments(
                        f"{api}.{name}: an event's arguments are a dict of keyword arguments, "
                        f"not {type(kwargs).__name__}.",
                        api=api,
                        name=name,
                    )
                spec.check((), kwargs)
                kwargs = spec.with_defaults(dict(kwargs))
                sent = self._outgoing(checker, kwargs, "firer")
                message = self.make_message("event", api, name, kwargs=sent, **options)
                made.append((message, self._encode(message), kwargs))
            except LightbusError as exc:
                if batch:
                    exc.item = index
                    exc.args = (f"fire_many item {index}: {exc.args[0]}", *exc.args[1:])
                raise
        if not made:
            return []
        stream = self.keys.event_stream(api, name)
        maxlen = self.settings.event_stream_maxlen
        async with self.pipeline() as pipe:
            pipe.xadd_each(stream, FIELD, [data for _, data, _ in made], maxlen)
            for message, data, _ in made:
                self.tracer.add(pipe, self.tracer.message_step(trace.EVENT_FIRED, message, data))
            self._drain_buffer(pipe)
            await pipe.execute()  # bounded, errors as BusConnectionError, like guarded()
        for message, _, kwargs in made:
            message.kwargs = kwargs  # the sender gets back its own values; the wire got `sent`
        return [message for message, _, _ in made]

    def listen(
        self,
        events: list[tuple[str, str]],
        handler: Callable[..., Any],
        *,
        listener_name: str | None = None,
        since: str = "$",
        max_attempts: int | None = None,
        on_error: str = "retry",
    ) -> Listener:
        """Register ``handler`` for ``events``. Starts at once if the bus is running."""
        if not callable(handler):
            raise TypeError(f"listen() needs a callable handler, got {handler!r}")
        if on_error not in ("retry", "stop"):
            raise ValueError(f"on_error must be 'retry' or 'stop', got {on_error!r}")
        name = listener_name or default_listener_name(handler)
        if name in self.runners or any(lst.name == name for lst in self.listeners):
            raise ValueError(
                f"A listener named {name!r} is already registered in this process; "
                f"pass a different listener_name"
            )
        for api, event in events:
            rule = self.checkers.local(api, event, "event")
            if rule is not None:
                # Known here: refuse a handler that cannot take the event at once (an API
                # known only from the registry is checked when the listener starts).
                rule.check_handler(handler, name)
        listener = Listener(tuple(events), handler, name, since, max_attempts, on_error)
        self.listeners.append(listener)
        return listener

    async def check_events(self, listener: Listener) -> None:
        """Refuse an event name that a known API does not have (unknown APIs are allowed),
        and a handler that cannot take the arguments of an event that is known."""
        for api, name in listener.events:
            if api in self.apis or await self.remote_schema(api) is not None:
                spec = await self.spec(api, name, "event")
                spec.check_handler(listener.handler, listener.name)

    async def start_listener(self, listener: Listener) -> ListenerRunner:
        """Check the events, create the consumer groups and consume in a background task.

        Idempotent: a listener already started (or starting) is left as it is.
        """
        existing = self.runners.get(listener.name)
        if existing is not None:
            return existing
        runner = ListenerRunner(self, listener)
        self.runners[listener.name] = runner
        try:
            await self.check_events(listener)
            await guarded(self.settings, runner.create_groups())
        except BaseException:
            self.runners.pop(listener.name, None)
            raise
        runner.task = self.spawn(runner.run(), name=f"lightbus-listener-{listener.name}")
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

    def _buffer_record(self, record: trace.TraceRecord | None) -> None:
        """Hold a caller-side record for the next pipeline, or a short timer at the latest."""
        if record is None or not self.tracer.enabled:
            return
        self._buffer.append(record)
        if self._flusher is None:
            loop = asyncio.get_running_loop()
            self._flusher = loop.call_later(
                TRACE_FLUSH_SECONDS, self._flush_soon, context=context.detached()
            )

    def _drain_buffer(self, pipe: Any) -> None:
        for record in self._buffer:
            self.tracer.add(pipe, record)
        self._buffer.clear()

    def _flush_soon(self) -> None:
        self._flusher = None
        if self._buffer:
            self.spawn(self.flush_trace(), name="lightbus-trace-flush")

    async def flush_trace(self) -> None:
        records, self._buffer = self._buffer, []
        if records:
            try:
                await self.write_records(records)
            except (BusConnectionError, *CONNECTION_ERRORS) as exc:
                logger.warning("Dropped %d trace records: %s", len(records), describe(exc))

    async def write_records(self, records: Sequence[trace.TraceRecord | None]) -> None:
        """Write ``records`` (None entries, as made with tracing off, are skipped) in one go."""
        present = [record for record in records if record is not None]
        if not self.tracer.enabled or not present:
            return
        async with self.pipeline() as pipe:
            for record in present:
                self.tracer.add(pipe, record)
            await guarded(self.settings, pipe.execute())

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
        runners = list(self.runners.values())
        for runner in runners:
            runner.stop()
        for runner in runners:
            await runner.stopped()
        handlers = [task for runner in runners for task in runner.in_flight]
        for task in handlers:
            task.cancel()  # unacknowledged: redelivered to the group later
        await asyncio.gather(*handlers, return_exceptions=True)
        if self._flusher is not None:
            self._flusher.cancel()
            self._flusher = None
        await self.flush_trace()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.runners.clear()
        if self._replies is not None:
            await self._replies.close()
            self._replies = None
        if self._autopipeline is not None:
            await self._autopipeline.close()
            self._autopipeline = None
        if self._redis is not None:
            await self._redis.aclose(close_connection_pool=True)
            self._redis = None
        self.invoke.shutdown()


def default_listener_name(handler: Callable[..., Any]) -> str:
    """A stable listener name for a handler: its module and qualified name."""
    module = getattr(handler, "__module__", None) or "handler"
    qualname = getattr(handler, "__qualname__", None) or type(handler).__qualname__
    return f"{module}.{qualname}".replace("<", "").replace(">", "")
