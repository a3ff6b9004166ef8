"""Event listeners: consumer groups on the event streams, at-least-once.

Each listener is a consumer group ``<service>.<listener>`` on every stream it listens
to; each process is a consumer named by its process name. An entry is acknowledged
(``XACK``, in one pipeline with its ``event.handled`` trace record) only after the
handler returns; what happens to one entry is :mod:`lightbus.consumer.delivery`'s job.

This module owns the reading loop: it reads at most as many entries as the listener
has free handler slots (``listener_concurrency``), so a slow handler never makes it
read without bound, and it schedules the work of :mod:`lightbus.consumer.claims` on the pending
entries:

- while a handler runs, its entry's lease is renewed (``XCLAIM ... JUSTID`` resets the
  idle time) so a slow but live handler is not reclaimed by another consumer;
- entries idle past ``ack_timeout`` (their consumer died or hung) are reclaimed with
  ``XAUTOCLAIM`` by any live consumer of the group, every ``ack_timeout / 2``, and at
  once when a stopping consumer says it handed entries back (its note arrives on the
  group's hand-back stream, read in the same ``XREADGROUP`` as the events); the same
  pass removes consumers that are gone and hold nothing;
- at start, and after every lost connection, it takes back its own pending entries at
  once (a restarted process with the same process name resumes where it died);
- at shutdown, entries whose handlers did not finish are handed back.

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

from lightbus.blocking import BlockingReader
from lightbus.connection import CONNECTION_ERRORS, Backoff, connect, describe
from lightbus.consumer.acks import AckWriter
from lightbus.consumer.claims import Claims
from lightbus.consumer.delivery import handle
from lightbus.consumer.entry import Entry, text
from lightbus.consumer.pool import HandlerPool
from lightbus.invoke import is_async

if TYPE_CHECKING:
    from lightbus.parts import Parts
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
    concurrency: int | None = None  # handlers at once in a process (None: the setting)

    def streams(self, parts: Parts) -> list[str]:
        return [parts.keys.event_stream(api, name) for api, name in self.events]


class ListenerRunner:
    """Consumes the streams of one :class:`Listener` until stopped."""

    def __init__(self, parts: Parts, listener: Listener) -> None:
        self.parts = parts
        self.listener = listener
        self.group = parts.keys.consumer_group(parts.settings.service_name, listener.name)
        self.consumer = parts.settings.process_name
        self.streams = listener.streams(parts)
        self.event_of = dict(zip(self.streams, listener.events, strict=True))
        self.max_attempts = listener.max_attempts or parts.settings.max_attempts
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
            handler_slots(parts.settings, self.handler_is_async, listener.concurrency),
            self._handle,
            finish=self.acks.flushed,
            name=f"lightbus-listener-{listener.name}",
        )
        self.redis: Any = None  # claims, leases, pending lists: not the hot path
        self._reader: Any = None  # XREADGROUP on a dedicated connection
        self.claims = Claims(self)
        self._reclaim_now = False  # another consumer handed entries back
        ack_ms = parts.settings.ack_timeout * 1000
        # Leases are renewed three times per ack_timeout, and a blocking read never
        # outlasts a renewal period, so a live handler's entry is never idle that long.
        self._renew_every = parts.settings.ack_timeout / 3
        self._block_ms = max(10, min(BLOCK_MS, int(ack_ms / 4)))

    @property
    def in_flight(self) -> set[asyncio.Task[None]]:
        """The handler tasks; after :meth:`stop` each ends once its work and acks are done."""
        return set(self.pool.tasks)

    @property
    def free(self) -> int:
        """Handler slots neither busy nor promised to a queued entry."""
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
        redis = self.redis or self.parts.redis
        # The hand-back stream from now on: what was handed back before is reclaimed by
        # the first pass anyway.
        starts = [(stream, since or self.listener.since) for stream in self.streams]
        for stream, start in [*starts, (self.claims.handback_stream, "$")]:
            try:
                await redis.xgroup_create(stream, self.group, id=start, mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    # ------------------------------------------------------------------ the loop

    async def run(self) -> None:
        """Read and handle entries until :meth:`stop`; then return (in-flight tasks remain)."""
        self.redis = connect(self.parts.settings, blocking=True, max_connections=1, retries=False)
        self._reader = BlockingReader(self.parts.settings)
        self.pool.start()
        backoff = Backoff()
        take_back_own = True
        recreate_groups = False
        next_renew = next_reclaim = next_cleanup = 0.0
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
                        take_back_own = not await self.claims.take_back_own()
                    now = time.monotonic()
                    if now >= next_renew:
                        next_renew = now + self._renew_every
                        await self.claims.renew_leases()
                    if now >= next_cleanup:
                        next_cleanup = now + self.parts.settings.ack_timeout / 2
                        await self.claims.remove_gone_consumers()
                    backlog = False
                    if now >= next_reclaim or self._reclaim_now:
                        next_reclaim = now + self.parts.settings.ack_timeout / 2
                        self._reclaim_now = False
                        backlog = await self.claims.reclaim_stale()
                        if backlog:
                            next_reclaim = now  # again as soon as a slot is free
                    # Older work first: while stale entries wait, no blocking read.
                    if self.free > 0 and not backlog:
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
            await self.redis.aclose(close_connection_pool=True)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)

    async def _wait_for_slot(self, timeout: float) -> None:
        self.pool.slot_freed.clear()
        if self.free <= 0 and not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.pool.slot_freed.wait(), timeout)

    async def _read_new(self) -> None:
        # Handlers finishing together free their slots over a few turns of the loop (and
        # their acks in one or two writes): waiting briefly for half the slots makes each
        # read fetch a batch instead of one entry per round trip.
        wanted = max(1, self.pool.size // 2)
        if self.free < wanted:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(BATCH_WAIT):
                    while self.free < wanted and not self.stopping.is_set():
                        self.pool.slot_freed.clear()
                        await self.pool.slot_freed.wait()
        if self.stopping.is_set():
            return
        handback = self.claims.handback_stream
        reply = await self._reader.xreadgroup(
            self.group,
            self.consumer,
            {**{stream: ">" for stream in self.streams}, handback: ">"},
            count=self.free,
            block=self._block_ms,
        )
        for stream, entries in reply or ():
            name = text(stream)
            if name == handback:
                await self._handed_back([text(entry_id) for entry_id, _ in entries])
                continue
            for entry_id, fields in entries:
                self.spawn(Entry(name, text(entry_id), fields, attempt=1))
        self.pool.dispatch()

    async def _handed_back(self, notes: list[str]) -> None:
        """A stopping consumer handed entries back: reclaim them now, not at the next pass."""
        self._reclaim_now = True
        self.claims.handed_back()
        await self.redis.xack(self.claims.handback_stream, self.group, *notes)

    # ------------------------------------------------------------------ handling

    def spawn(self, entry: Entry) -> None:
        """Queue ``entry`` for a handler slot; it is held (renewed, handed back) from now."""
        self.held[entry.stream, entry.entry_id] = entry
        self.pool.submit(entry)

    async def _handle(self, entry: Entry) -> None:
        try:
            await handle(self, entry)
        finally:
            if not entry.acking:  # dead-lettered, left pending, or cancelled
                self.forget(entry)

    async def hand_back(self, entries: list[Entry]) -> bool:
        """Make ``entries`` claimable by the group's live consumers at once (at a stop)."""
        return await self.claims.hand_back(entries)

    def forget(self, entry: Entry) -> None:
        """``entry`` is no longer ours to renew or hand back (acknowledged or given up)."""
        self.held.pop((entry.stream, entry.entry_id), None)


def handler_slots(
    settings: Settings, handler_is_async: bool, concurrency: int | None = None
) -> int:
    """How many events a listener handles at once: its own ``concurrency`` if given, else
    ``listener_concurrency``, and for a plain-function handler at most half the bus's
    ``handler_threads`` (all of them if the listener asked for more), so RPC methods and
    other listeners keep threads (and events the threads cannot take stay in Redis)."""
    if concurrency is not None:
        return concurrency if handler_is_async else min(concurrency, settings.handler_threads)
    if handler_is_async:
        return settings.listener_concurrency
    return min(settings.listener_concurrency, max(1, settings.handler_threads // 2))


def check_concurrency(concurrency: object) -> None:
    """Refuse a ``listen(concurrency=...)`` that is not a whole number of handlers, 1 or more."""
    if concurrency is None:
        return
    if isinstance(concurrency, bool) or not isinstance(concurrency, int):
        raise TypeError(
            f"listen(concurrency=...) is how many handlers of the listener run at once in a "
            f"process, a whole number; got {type(concurrency).__name__} {concurrency!r}"
        )
    if concurrency < 1:
        raise ValueError(
            f"listen(concurrency=...) must be 1 or more (1: one event at a time, in order), "
            f"got {concurrency}"
        )
