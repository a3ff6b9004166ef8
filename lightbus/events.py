"""Event listeners: consumer groups on the event streams, at-least-once.

Each listener is a consumer group ``<service>.<listener>`` on every stream it listens
to; each process is a consumer named by its process name. An entry is acknowledged
(``XACK``, in one pipeline with its ``event.handled`` trace record) only after the
handler returns; what happens to one entry is :mod:`lightbus.delivery`'s job.

This module owns the reading loop and the ownership of pending entries:

- it reads at most as many entries as the listener has free handler slots
  (``listener_concurrency``), so a slow handler never makes it read without bound;
- while a handler runs, its entry's lease is renewed (``XCLAIM ... JUSTID`` resets the
  idle time) so a slow but live handler is not reclaimed by another consumer;
- entries idle past ``ack_timeout`` (their consumer died or hung) are reclaimed with
  ``XAUTOCLAIM`` by any live consumer of the group;
- at start, and after every lost connection, it takes back its own pending entries at
  once (a restarted process with the same process name resumes where it died);
- at shutdown, entries whose handlers did not finish are handed back: their idle time
  is set past ``ack_timeout`` so another consumer reclaims them without waiting.

A redelivery (``XCLAIM`` and ``XAUTOCLAIM`` bump the delivery count) is the next
``attempt``; the lost attempt is recorded in the trace as ``event.failed`` with the
error type ``lightbus.delivery.Unacknowledged``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from redis.exceptions import ResponseError

from lightbus import delivery, trace
from lightbus.acks import AckWriter
from lightbus.blocking import BlockingReader
from lightbus.connection import CONNECTION_ERRORS, Backoff, connect, describe, guarded
from lightbus.delivery import Entry, Unacknowledged, text
from lightbus.errors import BusConnectionError
from lightbus.invoke import is_async
from lightbus.message import Message, now_ms
from lightbus.pool import HandlerPool

if TYPE_CHECKING:
    from lightbus.client import BusClient
    from lightbus.settings import Settings

logger = logging.getLogger("lightbus.events")

BLOCK_MS = 1000
BATCH_WAIT = 0.002


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


class ListenerRunner:
    """Consumes the streams of one :class:`Listener` until stopped."""

    def __init__(self, client: BusClient, listener: Listener) -> None:
        self.client = client
        self.listener = listener
        self.group = client.keys.consumer_group(client.settings.service_name, listener.name)
        self.consumer = client.settings.process_name
        self.streams = listener.streams(client)
        self.max_attempts = listener.max_attempts or client.settings.max_attempts
        # Every entry this process holds: queued, being handled, or waiting for its ack.
        self.held: dict[tuple[str, str], Entry] = {}
        # Events that nothing here or live describes, and since when (see delivery).
        self.unchecked: dict[tuple[str, str], float] = {}
        self.ready = asyncio.Event()
        self.stopping = asyncio.Event()
        self.task: asyncio.Task[None] | None = None  # the reading loop, once started
        self.fatal: BaseException | None = None
        self.acks = AckWriter(self)
        self.handler_is_async = is_async(listener.handler)
        self.pool: HandlerPool[Entry] = HandlerPool(
            handler_slots(client.settings, self.handler_is_async),
            self._handle,
            finish=self.acks.flushed,
            name=f"lightbus-listener-{listener.name}",
        )
        self._redis: Any = None  # claims, leases, pending lists: not the hot path
        self._reader: Any = None  # XREADGROUP on a dedicated connection
        self._cursors: dict[str, str] = {}  # XAUTOCLAIM's position per stream
        ack_ms = client.settings.ack_timeout * 1000
        # Leases are renewed three times per ack_timeout, and a blocking read never
        # outlasts a renewal period, so a live handler's entry is never idle that long.
        self._renew_every = client.settings.ack_timeout / 3
        self._block_ms = max(10, min(BLOCK_MS, int(ack_ms / 4)))

    @property
    def in_flight(self) -> set[asyncio.Task[None]]:
        """The handler tasks; after :meth:`stop` each ends once its work and acks are done."""
        return set(self.pool.tasks)

    @property
    def _free(self) -> int:
        return self.pool.free

    def unfinished(self) -> list[Entry]:
        """Entries being handled or queued (at shutdown: to hand back)."""
        return self.pool.unfinished()

    def stop(self) -> None:
        self.stopping.set()
        self.pool.slot_freed.set()

    async def stopped(self, timeout: float = 5.0) -> None:
        """Wait until the reading loop has returned (so no new handler starts)."""
        if self.task is not None and not self.task.done():
            done, _ = await asyncio.wait([self.task], timeout=timeout)
            if not done:
                self.task.cancel()
                await asyncio.gather(self.task, return_exceptions=True)

    async def create_groups(self, since: str | None = None) -> None:
        redis = self._redis or self.client.redis
        for stream in self.streams:
            try:
                await redis.xgroup_create(
                    stream, self.group, id=since or self.listener.since, mkstream=True
                )
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    # ------------------------------------------------------------------ the loop

    async def run(self) -> None:
        """Read and handle entries until :meth:`stop`; then return (in-flight tasks remain)."""
        self._redis = connect(self.client.settings, blocking=True, max_connections=1, retries=False)
        self._reader = BlockingReader(self.client.settings)
        self.pool.start()
        backoff = Backoff()
        take_back_own = True
        recreate_groups = False
        next_renew = next_reclaim = 0.0
        self.ready.set()
        try:
            while not self.stopping.is_set():
                try:
                    if recreate_groups:
                        # From the start of what the stream holds now, so events fired
                        # since the group vanished are not skipped.
                        await self.create_groups(since="0")
                        recreate_groups = False
                    if take_back_own:
                        take_back_own = not await self._take_back_own_pending()
                    now = time.monotonic()
                    if now >= next_renew:
                        next_renew = now + self._renew_every
                        await self._renew_leases()
                    backlog = False
                    if now >= next_reclaim:
                        next_reclaim = now + self.client.settings.ack_timeout / 2
                        backlog = await self._reclaim_stale()
                        if backlog:
                            next_reclaim = now  # again as soon as a slot is free
                    # Older work first: while stale entries wait, no blocking read.
                    if self._free > 0 and not backlog:
                        await self._read_new()
                    else:
                        await self._wait_for_slot(self._renew_every)
                    backoff.reset()
                except CONNECTION_ERRORS as exc:
                    logger.warning(
                        "Listener %s lost Redis (%s); reconnecting in %.2fs",
                        self.group,
                        describe(exc),
                        backoff.delay,
                    )
                    # A reply lost with the connection may have delivered entries to us
                    # that we never saw: take back our own pending entries on reconnect.
                    take_back_own = True
                    await self._pause(backoff.next())
                except ResponseError as exc:
                    if "NOGROUP" in str(exc):
                        # Deleted, or Redis restarted without persistence.
                        logger.warning("Consumer group %s is gone; recreating it", self.group)
                        recreate_groups = True
                        continue
                    logger.error("Listener %s: Redis refused a command: %s", self.group, exc)
                    await self._pause(backoff.next())
                except Exception:
                    # Never let one surprise end consuming while the worker looks alive.
                    logger.exception("Listener %s failed; carrying on", self.group)
                    await self._pause(backoff.next())
        finally:
            self.ready.set()
            self.pool.close()  # what was read still runs; then the handler tasks end
            await self._reader.aclose()
            await self._redis.aclose(close_connection_pool=True)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)

    async def _wait_for_slot(self, timeout: float) -> None:
        self.pool.slot_freed.clear()
        if self._free <= 0 and not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.pool.slot_freed.wait(), timeout)

    async def _read_new(self) -> None:
        # Handlers finishing together free their slots over a few turns of the loop (and
        # their acks in one or two writes): waiting briefly for half the slots makes each
        # read fetch a batch instead of one entry per round trip.
        wanted = max(1, self.client.settings.listener_concurrency // 2)
        if self._free < wanted:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(BATCH_WAIT):
                    while self._free < wanted and not self.stopping.is_set():
                        self.pool.slot_freed.clear()
                        await self.pool.slot_freed.wait()
        if self.stopping.is_set():
            return
        reply = await self._reader.xreadgroup(
            self.group,
            self.consumer,
            {stream: ">" for stream in self.streams},
            count=self._free,
            block=self._block_ms,
        )
        for stream, entries in reply or ():
            name = text(stream)
            for entry_id, fields in entries:
                self._spawn(Entry(name, text(entry_id), fields, attempt=1))
        self.pool.dispatch()

    # ------------------------------------------------------------------ ownership

    def _held(self, stream: str) -> set[str]:
        return {entry_id for s, entry_id in self.held if s == stream}

    async def _take_back_own_pending(self) -> bool:
        """Claim our own pending entries that no task holds. True when none are left."""
        done = True
        for stream in self.streams:
            if self._free <= 0:
                return False
            held = self._held(stream)
            want = self._free + len(held)
            pending = await self._redis.xpending_range(
                stream, self.group, min="-", max="+", count=want, consumername=self.consumer
            )
            ids = [text(p["message_id"]) for p in pending]
            ids = [i for i in ids if i not in held][: self._free]
            if len(pending) >= want:
                done = False
            if ids:
                claimed = await self._redis.xclaim(
                    stream, self.group, self.consumer, min_idle_time=0, message_ids=ids
                )
                await self._spawn_claimed(stream, claimed, "its earlier delivery to this process")
        return done

    async def _reclaim_stale(self) -> bool:
        """Claim entries idle past ``ack_timeout``. True when more may be waiting."""
        idle_ms = int(self.client.settings.ack_timeout * 1000)
        more = False
        for stream in self.streams:
            if self._free <= 0:
                return True
            reply = await self._redis.xautoclaim(
                stream,
                self.group,
                self.consumer,
                min_idle_time=idle_ms,
                start_id=self._cursors.get(stream, "0-0"),
                count=self._free,
            )
            # Go on from where this pass stopped: a dead consumer's backlog is taken a
            # batch per free slots, as fast as handlers free them, not one per period.
            cursor = text(reply[0])
            self._cursors[stream] = cursor
            more = more or cursor != "0-0"
            held = self._held(stream)
            claimed = [(eid, f) for eid, f in reply[1] if text(eid) not in held]
            if claimed:
                logger.warning(
                    "Reclaimed %d entries of %s idle past ack_timeout (%gs)",
                    len(claimed),
                    stream,
                    self.client.settings.ack_timeout,
                )
            await self._spawn_claimed(
                stream,
                claimed,
                f"no acknowledgement within ack_timeout ({self.client.settings.ack_timeout:g}s)",
            )
            for dead_id in reply[2] if len(reply) > 2 else ():
                logger.warning(
                    "Entry %s of %s was trimmed from the stream before it was handled",
                    text(dead_id),
                    stream,
                )
        return more

    async def _spawn_claimed(self, stream: str, claimed: list[Any], why: str) -> None:
        """Start handling claimed entries, with their delivery counts as the attempt."""
        entries = [(text(eid), fields) for eid, fields in claimed if fields]
        if not entries:
            return
        ids = sorted((eid for eid, _ in entries), key=_id_order)  # "5-10" comes after "5-9"
        pending = await self._redis.xpending_range(
            stream, self.group, min=ids[0], max=ids[-1], count=len(ids) + 100
        )
        counts = {text(p["message_id"]): int(p["times_delivered"]) for p in pending}
        lost: list[trace.TraceRecord] = []
        for eid, fields in entries:
            attempt = max(2, counts.get(eid, 2))
            entry = Entry(stream, eid, fields, attempt=attempt)
            record = self._lost_record(entry, why)
            if record is not None:
                lost.append(record)
            self._spawn(entry)
        self.pool.dispatch()
        if lost and self.client.tracer.enabled:
            async with self._redis.pipeline(transaction=False) as pipe:
                for record in lost:
                    self.client.tracer.add(pipe, record)
                await pipe.execute()

    def _lost_record(self, entry: Entry, why: str) -> trace.TraceRecord | None:
        try:
            message = Message.from_fields(entry.fields)
        except ValueError:
            return None  # the delivery dead-letters it and records that
        message.attempt = entry.attempt - 1
        return self.client.tracer.for_message(
            trace.EVENT_FAILED,
            message,
            listener=self.listener.name,
            status="error",
            queued_ms=max(0, now_ms() - message.sent_at),
            error=Unacknowledged(
                f"attempt {entry.attempt - 1} was not acknowledged ({why}); "
                f"redelivered as attempt {entry.attempt}"
            ),
            with_payload=False,
        )

    async def _renew_leases(self) -> None:
        by_stream: dict[str, list[str]] = {}
        for stream, entry_id in self.held:
            by_stream.setdefault(stream, []).append(entry_id)
        for stream, ids in by_stream.items():
            await self._redis.xclaim(
                stream, self.group, self.consumer, min_idle_time=0, message_ids=ids, justid=True
            )

    async def hand_back(self, entries: list[Entry]) -> bool:
        """Make unfinished entries reclaimable by another consumer at once (at shutdown).

        True when Redis took the hand-back; False when it could not be reached (the
        entries then stay pending on this consumer until ``ack_timeout``).
        """
        idle_ms = int(self.client.settings.ack_timeout * 1000) + 1000
        by_stream: dict[str, list[str]] = {}
        for entry in entries:
            by_stream.setdefault(entry.stream, []).append(entry.entry_id)
        try:
            async with self.client.redis.pipeline(transaction=False) as pipe:
                for stream, ids in by_stream.items():
                    pipe.xclaim(
                        stream,
                        self.group,
                        self.consumer,
                        min_idle_time=0,
                        message_ids=ids,
                        idle=idle_ms,
                        justid=True,
                    )
                await guarded(self.client.settings, pipe.execute())
        except (BusConnectionError, *CONNECTION_ERRORS) as exc:
            logger.warning("Could not hand back %d entries (%s)", len(entries), exc)
            return False
        return True

    # ------------------------------------------------------------------ handling

    def _spawn(self, entry: Entry) -> None:
        self.held[entry.stream, entry.entry_id] = entry
        self.pool.submit(entry)

    async def _handle(self, entry: Entry) -> None:
        try:
            await delivery.handle(self, entry)
        finally:
            if not entry.acking:  # dead-lettered, left pending, or cancelled
                self.forget(entry)

    def forget(self, entry: Entry) -> None:
        """``entry`` is no longer ours to renew or hand back (acknowledged or given up)."""
        self.held.pop((entry.stream, entry.entry_id), None)


def handler_slots(settings: Settings, handler_is_async: bool) -> int:
    """How many events a listener handles at once: ``listener_concurrency``, and for a
    plain-function handler at most half the bus's ``handler_threads``, so RPC methods and
    other listeners keep threads (and events the threads cannot take stay in Redis)."""
    if handler_is_async:
        return settings.listener_concurrency
    return min(settings.listener_concurrency, max(1, settings.handler_threads // 2))


def _id_order(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)
