"""Event listeners: consumer groups on the event streams, at-least-once.

Each listener is a consumer group ``<service>.<listener>`` on every stream it listens
to; each process is a consumer named by its process name. An entry is acknowledged
(``XACK``, in one pipeline with its ``event.handled`` trace record) only after the
handler returns. A handler that raises is retried with backoff (``XCLAIM`` bumps the
delivery count, which is the ``attempt``); after ``max_attempts`` the entry goes to the
dead-letter stream and is acknowledged. Entries left pending by a dead consumer are
reclaimed with ``XAUTOCLAIM`` after ``ack_timeout``; a restarted process first takes
back its own pending entries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
from redis.exceptions import ResponseError

from lightbus import context, trace
from lightbus.blocking import BlockingReader
from lightbus.connection import CONNECTION_ERRORS, Backoff, connect
from lightbus.deadletter import DeadLetter
from lightbus.errors import ValidationError
from lightbus.message import Message, now_ms

if TYPE_CHECKING:
    from lightbus.client import BusClient

logger = logging.getLogger("lightbus.events")

BLOCK_MS = 1000
BATCH_WAIT = 0.002
MAX_BACKOFF = 30.0


@dataclass(frozen=True)
class Listener:
    """A handler listening to one or more events under one listener name."""

    events: tuple[tuple[str, str], ...]
    handler: Callable[..., Any]
    name: str
    since: str = "$"
    max_attempts: int | None = None
    on_error: str = "retry"

    def streams(self, client: BusClient) -> list[str]:
        return [client.keys.event_stream(api, name) for api, name in self.events]


@dataclass
class _Entry:
    stream: str
    entry_id: str
    fields: dict[bytes, bytes]
    attempt: int


class ListenerRunner:
    """Consumes the streams of one :class:`Listener` until stopped."""

    def __init__(self, client: BusClient, listener: Listener) -> None:
        self.client = client
        self.listener = listener
        self.group = client.keys.consumer_group(client.settings.service_name, listener.name)
        self.consumer = client.settings.process_name
        self.streams = listener.streams(client)
        self.max_attempts = listener.max_attempts or client.settings.max_attempts
        self.in_flight: set[asyncio.Task[None]] = set()
        self.ready = asyncio.Event()
        self.stopping = asyncio.Event()
        self.fatal: BaseException | None = None
        self._free = client.settings.listener_concurrency
        self._slot_freed = asyncio.Event()
        self._redis: Any = None
        self._reader: Any = None
        self.task: asyncio.Task[None] | None = None  # the reading loop, once started

    def stop(self) -> None:
        self.stopping.set()
        self._slot_freed.set()

    async def stopped(self, timeout: float = 5.0) -> None:
        """Wait until the reading loop has returned (so no new handler starts)."""
        if self.task is not None and not self.task.done():
            done, _ = await asyncio.wait([self.task], timeout=timeout)
            if not done:
                self.task.cancel()
                await asyncio.gather(self.task, return_exceptions=True)

    async def create_groups(self) -> None:
        redis = self.client.redis
        for stream in self.streams:
            try:
                await redis.xgroup_create(stream, self.group, id=self.listener.since, mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def run(self) -> None:
        """Read and handle entries until :meth:`stop`; then return (in-flight tasks remain)."""
        self._redis = connect(self.client.settings, blocking=True, max_connections=1)
        self._reader = BlockingReader(self.client.settings)
        backoff = Backoff()
        try:
            await self.create_groups()
            self.ready.set()
            await self._take_back_own_pending()
            last_claim = time.monotonic()
            while not self.stopping.is_set():
                try:
                    if time.monotonic() - last_claim > self.client.settings.ack_timeout / 2:
                        last_claim = time.monotonic()
                        await self._reclaim_stale()
                    await self._read_new()
                    backoff.reset()
                except CONNECTION_ERRORS as exc:
                    logger.warning("Listener %s lost Redis (%s); retrying", self.group, exc)
                    await backoff.wait()
                except ResponseError as exc:
                    if "NOGROUP" not in str(exc):
                        raise
                    # The stream or group was deleted under us: make it again.
                    await self.create_groups()
        finally:
            self.ready.set()
            await self._reader.aclose()
            await self._redis.aclose(close_connection_pool=True)

    async def _wait_for_slot(self) -> int:
        while self._free <= 0 and not self.stopping.is_set():
            self._slot_freed.clear()
            await self._slot_freed.wait()
        # Handlers finishing together free their slots over a few turns of the loop (and
        # their acks in one or two writes): waiting briefly for half the slots makes each
        # read fetch a batch instead of one entry per round trip.
        wanted = max(1, self.client.settings.listener_concurrency // 2)
        if self._free < wanted:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(BATCH_WAIT):
                    while self._free < wanted and not self.stopping.is_set():
                        self._slot_freed.clear()
                        await self._slot_freed.wait()
        return self._free

    async def _read_new(self) -> None:
        count = await self._wait_for_slot()
        if self.stopping.is_set():
            return
        reply = await self._reader.xreadgroup(
            self.group,
            self.consumer,
            {stream: ">" for stream in self.streams},
            count=count,
            block=BLOCK_MS,
        )
        for stream, entries in reply or ():
            name = stream.decode() if isinstance(stream, bytes) else stream
            for entry_id, fields in entries:
                self._spawn(_Entry(name, _text(entry_id), fields, attempt=1))

    async def _take_back_own_pending(self) -> None:
        """After a restart under the same process name, handle our own pending entries now."""
        for stream in self.streams:
            reply = await self._redis.xreadgroup(
                self.group, self.consumer, {stream: "0"}, count=1000
            )
            entries = [(eid, f) for _, items in reply or () for eid, f in items if f]
            await self._spawn_with_counts(stream, entries)

    async def _reclaim_stale(self) -> None:
        idle_ms = int(self.client.settings.ack_timeout * 1000)
        for stream in self.streams:
            reply = await self._redis.xautoclaim(
                stream, self.group, self.consumer, min_idle_time=idle_ms, count=100
            )
            entries = [(eid, f) for eid, f in reply[1] if f]
            if entries:
                logger.info("Reclaimed %d stale entries of %s", len(entries), stream)
            await self._spawn_with_counts(stream, entries)
            for dead_id in reply[2] if len(reply) > 2 else ():
                logger.warning("Entry %s of %s was deleted before it was handled", dead_id, stream)

    async def _spawn_with_counts(self, stream: str, entries: list[Any]) -> None:
        if not entries:
            return
        ids = [_text(eid) for eid, _ in entries]
        pending = await self._redis.xpending_range(
            stream, self.group, min=min(ids), max=max(ids), count=len(ids) + 10
        )
        counts = {_text(p["message_id"]): int(p["times_delivered"]) for p in pending}
        for entry_id, fields in entries:
            eid = _text(entry_id)
            self._spawn(_Entry(stream, eid, fields, attempt=max(1, counts.get(eid, 1))))

    def _spawn(self, entry: _Entry) -> None:
        self._free -= 1
        task = asyncio.create_task(self._handle(entry))
        self.in_flight.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.in_flight.discard(task)
        self._free += 1
        self._slot_freed.set()
        if not task.cancelled() and task.exception() is not None:
            logger.error("Listener task of %s failed", self.group, exc_info=task.exception())

    async def _handle(self, entry: _Entry) -> None:
        client = self.client
        while True:
            try:
                message = Message.from_fields(entry.fields)
            except (ValueError, msgspec.DecodeError, msgspec.ValidationError) as exc:
                await self._dead_letter(entry, None, exc, "", entry.attempt)
                return
            message.attempt = entry.attempt
            # This task's own context: the runtime's log lines about M carry M's trace.
            context.enter_message(message.trace_id, message.span_id, message.id)
            started = time.perf_counter()
            queued_ms = max(0, now_ms() - message.sent_at)
            try:
                kwargs = await self._checked_kwargs(message)
            except ValidationError as exc:
                # Retrying cannot make a bad payload good: dead-letter it at once.
                logger.error("Listener %s refused %s: %s", self.listener.name, message.id, exc)
                await self._dead_letter(entry, message, exc, "", entry.attempt)
                return
            try:
                await client.invoke(
                    self.listener.handler,
                    message,
                    trace=(message.trace_id, message.span_id, message.id),
                    **kwargs,
                )
            except Exception as exc:
                tb = traceback.format_exc()
                duration = (time.perf_counter() - started) * 1000
                if await self._failed(entry, message, exc, tb, queued_ms, duration):
                    return
                entry.attempt += 1
                continue
            duration = (time.perf_counter() - started) * 1000
            record = client.tracer.for_message(
                trace.EVENT_HANDLED,
                message,
                listener=self.listener.name,
                queued_ms=queued_ms,
                duration_ms=duration,
                with_payload=False,
            )
            async with client.pipeline() as pipe:
                pipe.xack(entry.stream, self.group, entry.entry_id)
                client.tracer.add(pipe, record)
                await pipe.execute()
            return

    async def _checked_kwargs(self, message: Message) -> dict[str, Any]:
        """The event's kwargs, validated and cast to the event's parameter types if known."""
        checker = await self.client.checkers.for_listener(message.api, message.name)
        return message.kwargs if checker is None else checker.incoming(message.kwargs, "listener")

    async def _failed(
        self,
        entry: _Entry,
        message: Message,
        exc: Exception,
        tb: str,
        queued_ms: float,
        duration: float,
    ) -> bool:
        """Record a failure; dead-letter or wait for the retry. True when done with it."""
        client = self.client
        logger.error(
            "Listener %s failed on %s (id %s, attempt %d/%d): %s: %s",
            self.listener.name,
            message.full_name,
            message.id,
            entry.attempt,
            self.max_attempts,
            type(exc).__name__,
            exc,
        )
        record = client.tracer.for_message(
            trace.EVENT_FAILED,
            message,
            listener=self.listener.name,
            status="error",
            queued_ms=queued_ms,
            duration_ms=duration,
            error=exc,
            traceback=tb,
        )
        await client.write_records([record])
        if self.listener.on_error == "stop":
            self.fatal = exc
            client.request_stop(f"listener {self.listener.name} failed and on_error='stop'")
            return True
        if entry.attempt >= self.max_attempts:
            await self._dead_letter(entry, message, exc, tb, entry.attempt)
            return True
        delay = min(client.settings.retry_backoff * 2 ** (entry.attempt - 1), MAX_BACKOFF)
        await asyncio.sleep(delay)
        # XCLAIM bumps the delivery count, so a crash from here on still counts attempts.
        claimed = await client.redis.xclaim(
            entry.stream, self.group, self.consumer, min_idle_time=0, message_ids=[entry.entry_id]
        )
        return not claimed  # nothing claimed: acknowledged or deleted meanwhile

    async def _dead_letter(
        self,
        entry: _Entry,
        message: Message | None,
        exc: BaseException,
        tb: str,
        attempts: int,
    ) -> None:
        client = self.client
        api, _, name = entry.stream.rpartition(":")[2].rpartition(".")
        api, name = (message.api, message.name) if message else (api, name)
        letter = DeadLetter(
            api=api,
            name=name,
            listener=self.listener.name,
            group=self.group,
            stream=entry.stream,
            entry_id=entry.entry_id,
            message_id=message.id if message else "",
            attempts=attempts,
            error_type=trace.qualified_name(type(exc)),
            error=str(exc),
            traceback=client.tracer.cap_traceback(tb),
            ts=now_ms(),
            raw=entry.fields.get(b"m", b""),
        )
        if message is None:
            logger.error(
                "Dead-lettered undecodable entry %s of %s: %s", entry.entry_id, entry.stream, exc
            )
            record = trace.TraceRecord(
                record=trace.EVENT_DEAD_LETTERED,
                ts=now_ms(),
                kind="event",
                api=api,
                name=name,
                listener=self.listener.name,
                attempt=attempts,
                status="dead",
                error_type=letter.error_type,
                error=letter.error,
            )
        else:
            record = client.tracer.for_message(
                trace.EVENT_DEAD_LETTERED,
                message,
                listener=self.listener.name,
                status="dead",
                error=exc,
                traceback=tb,
                with_payload=False,
            )
        async with client.redis.pipeline(transaction=False) as pipe:
            pipe.xadd(client.keys.dead_letters(api, name), letter.to_fields())
            pipe.xack(entry.stream, self.group, entry.entry_id)
            client.tracer.add(pipe, record)
            await pipe.execute()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
