"""Serving RPCs: the worker's side (the caller's is :mod:`lightbus.rpc.caller`).

The worker pops calls with ``BLPOP``, never starts one whose deadline has passed, and
answers with one write (``RPUSH`` of the result, ``PEXPIRE`` of the reply list, and the
``rpc.handled``/``rpc.failed`` record).

Delivery of a call is at-most-once per pop: ``BLPOP`` removes it, so a worker that dies
mid-call loses it and the caller gets :class:`~lightbus.errors.RpcTimeout` at its
deadline. A call can reach the queue twice (a caller's pipeline re-sent after a dropped
connection, or a replay of the same message): the deadline is checked again at the
moment the method starts (a sync method may wait for a thread), so no copy runs after
the deadline, and a worker remembers the ids it ran until their deadlines pass, so a
copy it sees again is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from lightbus import context, limits, trace
from lightbus.blocking import BlockingReader
from lightbus.connection import CONNECTION_ERRORS, Backoff, describe
from lightbus.errors import (
    BusConnectionError,
    InvalidArguments,
    LightbusError,
    UnknownApi,
    UnknownName,
    ValidationError,
)
from lightbus.message import ErrorInfo, Message, now_ms

if TYPE_CHECKING:
    from lightbus.apis import ApiDirectory
    from lightbus.envelope import Envelopes
    from lightbus.parts import Parts

logger = logging.getLogger("lightbus.rpc")

BLOCK_SECONDS = 1
REPLY_TTL_MS = 60_000
SEEN_MAX = 10_000


class CallExpired(Exception):
    """The call's deadline passed before its method could start."""

    def __init__(self, late_ms: int) -> None:
        super().__init__(f"deadline passed {late_ms} ms before the method could start")
        self.late_ms = late_ms


def deadline_guard(fn: Callable[..., Any], deadline: int) -> Callable[..., Any]:
    """Wrap a sync RPC method so it refuses to start after ``deadline`` (epoch ms).

    A sync method runs in the handler thread pool and may queue there; the check must
    happen when it really starts, on its thread.
    """
    if not deadline:
        return fn

    @functools.wraps(fn)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        late = now_ms() - deadline
        if late > 0:
            raise CallExpired(late)
        return fn(*args, **kwargs)

    return guarded


class RpcServer:
    """Serves the RPCs of the locally registered APIs."""

    def __init__(self, parts: Parts, directory: ApiDirectory, envelopes: Envelopes) -> None:
        self.parts = parts
        self.directory = directory
        self.envelopes = envelopes
        self.in_flight: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._slots = asyncio.Semaphore(parts.settings.rpc_concurrency)
        # Call ids this worker has started, until their deadlines pass: a duplicate copy
        # of a call (a re-sent pipeline) that reaches this worker again is skipped.
        self._seen: OrderedDict[str, int] = OrderedDict()

    def stop(self) -> None:
        self._stopping.set()

    async def serve(self) -> None:
        """Pop and run calls until :meth:`stop`. Returns once reading has stopped."""
        parts = self.parts
        apis = {parts.keys.rpc_queue(api): api for api in sorted(self.directory.apis)}
        queues = list(apis)
        if not queues:
            return
        redis = BlockingReader(parts.settings)
        backoff = Backoff()
        try:
            while not self._stopping.is_set():
                await self._slots.acquire()
                try:
                    item = await redis.blpop(queues, timeout=BLOCK_SECONDS)
                except (*CONNECTION_ERRORS, RedisError) as exc:
                    self._slots.release()
                    logger.warning("RPC server lost Redis (%s); retrying", describe(exc))
                    with contextlib.suppress(TimeoutError):  # a stop ends the wait
                        await asyncio.wait_for(self._stopping.wait(), backoff.next())
                    continue
                backoff.reset()
                if item is None:
                    self._slots.release()
                    continue
                task = asyncio.create_task(self._handle(item[1], apis.get(item[0].decode(), "")))
                self.in_flight.add(task)
                task.add_done_callback(self._done)
                # Let the call start before the next BLPOP is sent (same reason as above).
                await asyncio.sleep(0)
        finally:
            await redis.aclose(close_connection_pool=True)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.in_flight.discard(task)
        self._slots.release()
        if not task.cancelled() and task.exception() is not None:
            logger.error("RPC task failed", exc_info=task.exception())

    async def _handle(self, raw: bytes, api: str) -> None:
        parts = self.parts
        try:
            call = limits.decode(raw, parts.settings, api=api)
        except Exception as exc:  # whatever it holds, the server serves on
            await self._refuse(raw, exc)
            return
        # This task's own context: the runtime's log lines about the call carry its trace.
        span_id = call.span_id if parts.spans is None else parts.spans.begin(call)  # OpenTelemetry
        context.enter_message(call.trace_id, span_id, call.id, call.replay_of)
        received = now_ms()
        queued_ms = max(0, received - call.sent_at)
        if call.deadline and received > call.deadline:
            await self._expired(call, received - call.deadline, queued_ms)
            return
        if self._duplicate(call):
            logger.warning(
                "Skipped a second copy of %s.%s (id %s): this worker already ran it",
                call.api,
                call.name,
                call.id,
            )
            return
        started = time.perf_counter()
        error: BaseException | None = None
        tb = ""
        result: Any = None
        try:
            result = await self.serve_call(call)
        except CallExpired as exc:
            await self._expired(call, exc.late_ms, queued_ms)
            return
        except Exception as exc:  # the handler's exception goes back to the caller
            error = exc
            tb = traceback.format_exc()
            _log_failure(call, exc)
        duration_ms = (time.perf_counter() - started) * 1000
        reply = self.envelopes.make(
            "result",
            call.api,
            call.name,
            parent=call,
            result=result,
            error=_error_info(error, tb, parts.tracer.traceback_cap),
        )
        try:
            data = limits.encode(reply, parts.settings)
        except LightbusError as exc:  # not JSON, too large, too deep: the caller is told
            error, tb = exc, traceback.format_exc()
            reply.result = None
            reply.error = _error_info(exc, tb, parts.tracer.traceback_cap)
            data = reply.to_json()
        record: trace.TraceRecord | trace.MessageStep | None
        if error is None:
            # By reference to the call as it came (the compact form, see TraceSink).
            record = parts.tracer.message_step(
                trace.RPC_HANDLED, call, raw, queued_ms=queued_ms, duration_ms=duration_ms
            )
        else:
            record = parts.tracer.for_message(
                trace.RPC_FAILED,
                call,
                status="error",
                queued_ms=queued_ms,
                duration_ms=duration_ms,
                error=error,
                traceback=tb,
            )
        await self._answer(call, data, record)

    async def _refuse(self, raw: bytes, exc: Exception) -> None:
        """A call that cannot be read: answer with the error if it says where to."""
        call = limits.header(raw)
        logger.error(
            "Refused an RPC call that cannot be read (id %s): %s: %s",
            call.id if call else "unknown",
            trace.qualified_name(type(exc)),
            exc,
        )
        if call is None or not call.reply_to or not call.id:
            return  # nobody to answer
        parts = self.parts
        reply = self.envelopes.make(
            "result",
            call.api,
            call.name,
            parent=call,
            error=_error_info(exc, "", parts.tracer.traceback_cap),
        )
        record = parts.tracer.for_message(trace.RPC_FAILED, call, status="error", error=exc)
        await self._answer(call, reply.to_json(), record)

    async def _answer(
        self, call: Message, data: bytes, record: trace.TraceRecord | trace.MessageStep | None
    ) -> None:
        """Send the result (if the call has a reply list) with its trace record."""
        parts = self.parts
        backoff = Backoff()
        while True:
            try:
                async with parts.pipeline() as pipe:
                    if call.reply_to:
                        pipe.rpush(call.reply_to, data)
                        pipe.pexpire(call.reply_to, REPLY_TTL_MS)
                    parts.tracer.add(pipe, record)
                    await pipe.execute()  # bounded, errors as BusConnectionError
                return
            except (BusConnectionError, *CONNECTION_ERRORS) as exc:
                # Keep trying while the caller still waits: the result is worth it.
                if not call.deadline or now_ms() >= call.deadline:
                    logger.error("Lost the result of %s (id %s): %s", call.full_name, call.id, exc)
                    return
                await asyncio.sleep(backoff.next())

    async def _expired(self, call: Message, late_ms: int, queued_ms: float) -> None:
        record = self.parts.tracer.for_message(
            trace.RPC_EXPIRED, call, status="expired", queued_ms=queued_ms
        )
        logger.warning(
            "Skipped %s.%s (id %s): its deadline passed %d ms before it could start",
            call.api,
            call.name,
            call.id,
            late_ms,
        )
        try:
            await self.parts.tracer.write([record])
        except (LightbusError, *CONNECTION_ERRORS) as exc:
            logger.warning("Could not record the expiry: %s", exc)

    async def serve_call(self, call: Message) -> Any:
        """Run one incoming call against the local API; return the result's JSON form."""
        definition = self.directory.apis.get(call.api)
        if definition is None:
            raise UnknownApi(call.api, self.directory.apis)
        rpc = definition.rpcs.get(call.name)
        if rpc is None:
            raise UnknownName(call.api, call.name, kind="rpc", known=definition.rpcs)
        parts = self.parts
        rule = await parts.validator.rule(call.api, call.name, "rpc")
        # Its ValidationError (names included) travels back to the caller intact.
        kwargs = rule.incoming(call.kwargs, "worker")
        method = rpc.method if rpc.is_async else deadline_guard(rpc.method, call.deadline)
        result = await parts.invoke(
            method, trace=(call.trace_id, call.span_id, call.id, call.replay_of), **kwargs
        )
        return rule.result_out(result)

    def _duplicate(self, call: Message) -> bool:
        seen = self._seen
        if call.id in seen:
            return True
        now = now_ms()
        while seen and (len(seen) >= SEEN_MAX or next(iter(seen.values())) < now):
            seen.popitem(last=False)
        # Calls arrive roughly in deadline order, so pruning from the front is enough.
        seen[call.id] = call.deadline or now + REPLY_TTL_MS
        return False


def _log_failure(call: Message, exc: Exception) -> None:
    """The worker's own account of a failed call (the caller gets it as an exception)."""
    about_this_call = (
        getattr(exc, "api", None) == call.api and getattr(exc, "name", call.name) == call.name
    )
    refused = isinstance(exc, UnknownApi | UnknownName) or (
        isinstance(exc, InvalidArguments | ValidationError)
        and getattr(exc, "part", "parameters") == "parameters"
    )
    if refused and about_this_call:
        # The caller's mistake, told to the caller in full: one line here, no traceback.
        logger.warning("Refused a call of %s (id %s): %s", call.full_name, call.id, exc)
        return
    logger.error(
        "RPC %s failed (id %s): %s: %s",
        call.full_name,
        call.id,
        type(exc).__name__,
        exc,
        exc_info=exc,
    )


def _error_info(error: BaseException | None, tb: str, cap: int) -> ErrorInfo | None:
    if error is None:
        return None
    if len(tb) > cap:
        tb = "...\n" + tb[-cap:]
    detail = error.detail() if isinstance(error, ValidationError) else None
    return ErrorInfo(
        type=trace.qualified_name(type(error)), message=str(error), traceback=tb, detail=detail
    )
