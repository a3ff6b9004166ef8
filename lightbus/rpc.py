"""RPC over Redis lists: the caller's reply reader and the worker's call server.

A call is one pipeline from the caller (``RPUSH`` of the call onto the API's queue plus
its ``rpc.called`` trace record). Each calling process has one reply list, read by one
blocking ``BLPOP`` loop that hands each result to the waiting call, so waiting for a
result costs no round trip of its own. The worker pops calls with ``BLPOP``, never starts
one whose deadline has passed, and answers with one pipeline (``RPUSH`` of the result,
``PEXPIRE`` of the reply list, and the ``rpc.handled``/``rpc.failed`` record).
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from typing import TYPE_CHECKING, Any

import msgspec

from lightbus import context, ids, trace
from lightbus.blocking import BlockingReader
from lightbus.connection import CONNECTION_ERRORS, Backoff
from lightbus.errors import LightbusError, ValidationError
from lightbus.message import ErrorInfo, Message, now_ms

if TYPE_CHECKING:
    from lightbus.client import BusClient

logger = logging.getLogger("lightbus.rpc")

BLOCK_SECONDS = 1
REPLY_TTL_MS = 60_000


class ReplyReader:
    """Reads this process's reply list and resolves the matching call's future."""

    def __init__(self, client: BusClient) -> None:
        self.client = client
        self.key = client.keys.reply(client.settings.process_name, ids.span_id())
        self._waiting: dict[str, asyncio.Future[Message]] = {}
        self._task: asyncio.Task[None] | None = None
        self._redis: Any = None

    def expect(self, call_id: str) -> asyncio.Future[Message]:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._read(), name="lightbus-reply-reader"
            )
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._waiting[call_id] = future
        return future

    def forget(self, call_id: str) -> None:
        self._waiting.pop(call_id, None)

    async def _read(self) -> None:
        self._redis = BlockingReader(self.client.settings)
        backoff = Backoff()
        try:
            while True:
                try:
                    item = await self._redis.blpop([self.key], timeout=BLOCK_SECONDS)
                except CONNECTION_ERRORS as exc:
                    logger.warning("Reply reader lost Redis (%s); retrying", exc)
                    await backoff.wait()
                    continue
                backoff.reset()
                if item is None:
                    continue
                try:
                    result = Message.from_json(item[1])
                except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                    logger.error("Dropped a reply that does not decode: %s", exc)
                    continue
                future = self._waiting.pop(result.causation_id, None)
                if future is not None and not future.done():
                    future.set_result(result)
                    # Let the caller resume before this loop spends its time sending the
                    # next BLPOP: that is on the caller's critical path otherwise.
                    await asyncio.sleep(0)
        finally:
            await self._redis.aclose(close_connection_pool=True)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None


class RpcServer:
    """Serves the RPCs of the locally registered APIs."""

    def __init__(self, client: BusClient) -> None:
        self.client = client
        self.in_flight: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._slots = asyncio.Semaphore(client.settings.rpc_concurrency)

    def stop(self) -> None:
        self._stopping.set()

    async def serve(self) -> None:
        """Pop and run calls until :meth:`stop`. Returns once reading has stopped."""
        client = self.client
        queues = [client.keys.rpc_queue(api) for api in sorted(client.apis)]
        if not queues:
            return
        redis = BlockingReader(client.settings)
        backoff = Backoff()
        try:
            while not self._stopping.is_set():
                await self._slots.acquire()
                try:
                    item = await redis.blpop(queues, timeout=BLOCK_SECONDS)
                except CONNECTION_ERRORS as exc:
                    self._slots.release()
                    logger.warning("RPC server lost Redis (%s); retrying", exc)
                    await backoff.wait()
                    continue
                backoff.reset()
                if item is None:
                    self._slots.release()
                    continue
                task = asyncio.create_task(self._handle(item[1]))
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

    async def _handle(self, raw: bytes) -> None:
        client = self.client
        try:
            call = Message.from_json(raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            logger.error("Dropped an RPC call that does not decode: %s", exc)
            return
        # This task's own context: the runtime's log lines about the call carry its trace.
        context.enter_message(call.trace_id, call.span_id, call.id)
        received = now_ms()
        queued_ms = max(0, received - call.sent_at)
        if call.deadline and received > call.deadline:
            record = client.tracer.for_message(
                trace.RPC_EXPIRED, call, status="expired", queued_ms=queued_ms
            )
            await client.write_records([record])
            logger.warning(
                "Skipped %s.%s (id %s): its deadline passed %d ms before a worker reached it",
                call.api,
                call.name,
                call.id,
                received - call.deadline,
            )
            return
        started = time.perf_counter()
        error: BaseException | None = None
        tb = ""
        result: Any = None
        try:
            result = await client.serve_call(call)
        except Exception as exc:  # the handler's exception goes back to the caller
            error = exc
            tb = traceback.format_exc()
        duration_ms = (time.perf_counter() - started) * 1000
        reply = client.make_message(
            "result",
            call.api,
            call.name,
            parent=call,
            result=result,
            error=_error_info(error, tb, client.tracer.traceback_cap),
        )
        try:
            data = reply.to_json()
        except LightbusError as exc:
            error, tb = exc, traceback.format_exc()
            reply.result = None
            reply.error = _error_info(exc, tb, client.tracer.traceback_cap)
            data = reply.to_json()
        step = trace.RPC_FAILED if error else trace.RPC_HANDLED
        record = client.tracer.for_message(
            step,
            call,
            status="error" if error else "ok",
            queued_ms=queued_ms,
            duration_ms=duration_ms,
            error=error,
            traceback=tb,
        )
        async with client.pipeline() as pipe:
            if call.reply_to:
                pipe.rpush(call.reply_to, data)
                pipe.pexpire(call.reply_to, REPLY_TTL_MS)
            client.tracer.add(pipe, record)
            await pipe.execute()


def _error_info(error: BaseException | None, tb: str, cap: int) -> ErrorInfo | None:
    if error is None:
        return None
    if len(tb) > cap:
        tb = "...\n" + tb[-cap:]
    detail = error.detail() if isinstance(error, ValidationError) else None
    return ErrorInfo(
        type=trace.qualified_name(type(error)), message=str(error), traceback=tb, detail=detail
    )
