"""Calling an RPC: the caller's side (the worker's is :mod:`lightbus.rpc.server`).

A call is one write from the caller (``RPUSH`` of the call onto the API's queue plus
its ``rpc.called`` trace record). Each calling process has one reply list, read by one
blocking ``BLPOP`` loop (:class:`ReplyReader`) that hands each result to the waiting
call, so waiting for a result costs no round trip of its own. At the deadline the
caller gets :class:`~lightbus.errors.RpcTimeout`, saying whether any live worker serves
the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from lightbus import context, ids, limits, trace
from lightbus.blocking import BlockingReader
from lightbus.connection import CONNECTION_ERRORS, Backoff, describe
from lightbus.envelope import Envelopes
from lightbus.errors import RemoteError, RpcTimeout
from lightbus.message import ErrorInfo, Message, now_ms
from lightbus.validation import remote_validation_error

if TYPE_CHECKING:
    from lightbus.apis import ApiDirectory
    from lightbus.parts import Parts

logger = logging.getLogger("lightbus.rpc")

# Pushed onto a reply list to wake its reader when it should stop; never a message.
WAKE = b"-"
BLOCK_SECONDS = 1
SERVED_LOOKUP_SECONDS = 0.5


class RpcCaller:
    """Sends calls and waits for their results, for one client."""

    def __init__(self, parts: Parts, directory: ApiDirectory, envelopes: Envelopes) -> None:
        self.parts = parts
        self.directory = directory
        self.envelopes = envelopes
        self.replies: ReplyReader | None = None

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
        ``options`` go to the envelope (a replay's ``replay_of``, ``parent``...)."""
        parts = self.parts
        settings, tracer = parts.settings, parts.tracer
        # Checked once: names, values, and their wire form (lightbus.rules).
        rule = await parts.validator.rule(api, name, "rpc")
        kwargs = rule.send(kwargs, side="caller", args=args).wire
        timeout = timeout or settings.rpc_timeouts.get(api) or settings.rpc_timeout
        if self.replies is None:
            self.replies = ReplyReader(parts)
        deadline = now_ms() + int(timeout * 1000)
        message = self.envelopes.make(
            "rpc",
            api,
            name,
            kwargs=kwargs,
            deadline=deadline,
            reply_to=self.replies.key,
            **options,
        )
        data = limits.encode(message, settings)
        record = tracer.message_step(trace.RPC_CALLED, message, data)
        future = self.replies.expect(message.id)
        started = time.perf_counter()
        try:
            async with parts.pipeline() as pipe:
                pipe.rpush(parts.keys.rpc_queue(api), data)
                tracer.add(pipe, record)
                tracer.drain_into(pipe)
                await pipe.execute()  # bounded, errors as BusConnectionError, like guarded()
            try:
                async with asyncio.timeout(timeout):
                    reply = await future
            except TimeoutError:
                tracer.hold(
                    tracer.for_message(
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
                        served: bool | None = await self.directory.serves(api)
                except CONNECTION_ERRORS:  # includes the builtin TimeoutError
                    served = None
                raise RpcTimeout(api=api, name=name, timeout=timeout, served=served) from None
        finally:
            self.replies.forget(message.id)
        returned = tracer.for_message(
            trace.RPC_RETURNED,
            message,
            status="error" if reply.error else "ok",
            duration_ms=(time.perf_counter() - started) * 1000,
            payload=reply.result,
        )
        if reply.error and returned is not None:
            returned.error_type = reply.error.type
            returned.error = reply.error.message
        tracer.hold(returned)
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
        return rule.result_in(reply.result)

    async def close(self) -> None:
        replies, self.replies = self.replies, None
        if replies is not None:
            await replies.close()


class ReplyReader:
    """Reads this process's reply list and resolves the matching call's future."""

    def __init__(self, parts: Parts) -> None:
        self.parts = parts
        self.key = parts.keys.reply(parts.settings.process_name, ids.span_id())
        self._waiting: dict[str, asyncio.Future[Message]] = {}
        self._task: asyncio.Task[None] | None = None
        self._redis: Any = None
        self._stopping = False

    def expect(self, call_id: str) -> asyncio.Future[Message]:
        if self._task is None or self._task.done():
            # Started by the first call, maybe inside a handler: it must not keep that
            # handler's trace (its log lines would carry it for good).
            self._task = asyncio.get_running_loop().create_task(
                self._read(), name="lightbus-reply-reader", context=context.detached()
            )
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._waiting[call_id] = future
        return future

    def forget(self, call_id: str) -> None:
        self._waiting.pop(call_id, None)

    async def _read(self) -> None:
        self._redis = BlockingReader(self.parts.settings)
        backoff = Backoff()
        try:
            while not self._stopping:
                try:
                    item = await self._redis.blpop([self.key], timeout=BLOCK_SECONDS)
                except (*CONNECTION_ERRORS, RedisError) as exc:
                    logger.warning("Reply reader lost Redis (%s); retrying", describe(exc))
                    await backoff.wait()
                    continue
                backoff.reset()
                if item is None or item[1] == WAKE:
                    continue
                result = self._reply(item[1])
                if result is None:
                    continue
                future = self._waiting.pop(result.causation_id, None)
                if future is not None and not future.done():
                    future.set_result(result)
                    # Let the caller resume before this loop spends its time sending the
                    # next BLPOP: that is on the caller's critical path otherwise.
                    await asyncio.sleep(0)
        finally:
            await self._redis.aclose(close_connection_pool=True)

    def _reply(self, raw: bytes) -> Message | None:
        """The reply in ``raw``; one that cannot be read fails its call, if it names it."""
        try:
            return limits.decode(raw, self.parts.settings)
        except Exception as exc:  # whatever it holds, the reader reads on
            head = limits.header(raw)
            logger.error(
                "A reply to call %s cannot be read: %s: %s",
                head.causation_id if head else "(unknown)",
                trace.qualified_name(type(exc)),
                exc,
            )
            if head is None or not head.causation_id:
                return None
            return Message(
                id=head.id,
                kind="result",
                api=head.api,
                name=head.name,
                trace_id=head.trace_id,
                span_id=head.span_id,
                causation_id=head.causation_id,
                error=ErrorInfo(
                    type=trace.qualified_name(type(exc)),
                    message=f"its reply could not be read here: {exc}",
                ),
            )

    async def close(self) -> None:
        """Stop reading. Bounded: returns within about two seconds whatever Redis does.

        The reader is woken with a marker pushed onto its own list rather than
        cancelled: cancelling a task blocked in a read on redis-py's connection was
        seen to be lost now and then on Python 3.11, leaving ``close()`` waiting forever.
        """
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        if not task.done():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.parts.redis.rpush(self.key, WAKE), 1.0)
            done, _ = await asyncio.wait([task], timeout=BLOCK_SECONDS + 1)
            if not done:
                task.cancel()
                await asyncio.wait([task], timeout=1.0)
        if task.done() and not task.cancelled() and task.exception() is not None:
            logger.warning("Reply reader ended with %r", task.exception())
