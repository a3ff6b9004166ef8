"""Who holds a listener's pending entries: taking them back, reclaiming, handing back.

A listener's consumer group keeps, per consumer, the entries delivered and not yet
acknowledged (the PEL). :class:`Claims` does everything a listener does with that
ownership, apart from reading new entries and handling them (:mod:`lightbus.consumer.listener`):

- **take back its own** pending entries at start and after a lost connection (a process
  restarted with the same process name resumes where it died);
- **renew leases** of the entries it holds (``XCLAIM ... JUSTID`` resets their idle
  time), so a slow but live handler is not reclaimed by another consumer;
- **reclaim** entries idle past ``ack_timeout`` (their consumer died or froze) with
  ``XAUTOCLAIM``, continuing from where the last pass stopped;
- **hand back** entries at a stop: their idle time is set past ``ack_timeout`` and one
  entry is added to the group's hand-back stream (``<prefix>:handback:<group>``), which
  every live consumer of the group reads in the same blocking ``XREADGROUP`` as its event
  streams. The consumer that gets it reclaims at once. Nothing is read or written for
  this while no worker stops;
- **remove consumers that are gone**: no live heartbeat under their name, idle past
  ``ack_timeout``, and nothing pending (checked and deleted in one script, so a consumer
  that just took an entry is never removed with it).

One pass may meet an entry that does not decode, or worse: whatever it holds, the entry
is handed to :mod:`lightbus.consumer.delivery` like any other, which dead-letters it, and the
pass goes on with the rest.
"""

from __future__ import annotations

import logging
from typing import Any

from lightbus import registry, trace
from lightbus.connection import CONNECTION_ERRORS, describe, guarded
from lightbus.consumer.delivery import decoded_or_none
from lightbus.consumer.entry import UNACKNOWLEDGED, Entry, Holder, Unacknowledged, text
from lightbus.errors import BusConnectionError
from lightbus.message import now_ms

logger = logging.getLogger("lightbus.events")

HANDBACK_MAXLEN = 100

# KEYS[1]: the stream; ARGV: the group, the idle time in ms, then the names to keep (live
# workers). Deletes each consumer of the group with nothing pending that has been idle
# that long and is not kept; returns the names deleted. One script: no entry can be
# delivered to a consumer between the check and the delete.
_REMOVE_GONE = """
local keep = {}
for i = 3, #ARGV do keep[ARGV[i]] = true end
local removed = {}
for _, consumer in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local info = {}
  for i = 1, #consumer, 2 do info[consumer[i]] = consumer[i + 1] end
  local name = info['name']
  if info['pending'] == 0 and info['idle'] >= tonumber(ARGV[2]) and not keep[name] then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], name)
    table.insert(removed, name)
  end
end
return removed
"""


class Claims:
    """The pending-entry side of one :class:`~lightbus.consumer.listener.ListenerRunner`."""

    def __init__(self, runner: Holder) -> None:
        self.runner = runner
        self.handback_stream = runner.parts.keys.handback(runner.group)
        self._cursors: dict[str, str] = {}  # XAUTOCLAIM's position per stream
        self._remove_gone: Any = None

    def _held(self, stream: str) -> set[str]:
        return {entry_id for s, entry_id in self.runner.held if s == stream}

    async def take_back_own(self) -> bool:
        """Claim our own pending entries that no task holds. True when none are left."""
        runner = self.runner
        done = True
        for stream in runner.streams:
            if runner.free <= 0:
                return False
            held = self._held(stream)
            want = runner.free + len(held)
            pending = await runner.redis.xpending_range(
                stream, runner.group, min="-", max="+", count=want, consumername=runner.consumer
            )
            ids = [text(p["message_id"]) for p in pending]
            ids = [i for i in ids if i not in held][: runner.free]
            if len(pending) >= want:
                done = False
            if ids:
                claimed = await runner.redis.xclaim(
                    stream, runner.group, runner.consumer, min_idle_time=0, message_ids=ids
                )
                await self._spawn_claimed(stream, claimed, "its earlier delivery to this process")
        return done

    def handed_back(self) -> None:
        """Another consumer handed entries back: the next pass starts from the beginning."""
        self._cursors.clear()

    async def reclaim_stale(self) -> bool:
        """Claim entries idle past ``ack_timeout``. True when more may be waiting."""
        runner = self.runner
        ack_timeout = runner.parts.settings.ack_timeout
        more = False
        for stream in runner.streams:
            if runner.free <= 0:
                return True
            reply = await runner.redis.xautoclaim(
                stream,
                runner.group,
                runner.consumer,
                min_idle_time=int(ack_timeout * 1000),
                start_id=self._cursors.get(stream, "0-0"),
                count=runner.free,
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
                    ack_timeout,
                )
            await self._spawn_claimed(
                stream, claimed, f"no acknowledgement within ack_timeout ({ack_timeout:g}s)"
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
        runner = self.runner
        entries = [(text(eid), fields) for eid, fields in claimed if fields]
        if not entries:
            return
        ids = sorted((eid for eid, _ in entries), key=_id_order)  # "5-10" comes after "5-9"
        pending = await runner.redis.xpending_range(
            stream, runner.group, min=ids[0], max=ids[-1], count=len(ids) + 100
        )
        counts = {text(p["message_id"]): int(p["times_delivered"]) for p in pending}
        lost: list[trace.TraceRecord] = []
        for eid, fields in entries:
            entry = Entry(stream, eid, fields, attempt=max(2, counts.get(eid, 2)))
            record = self._lost_record(entry, why)
            if record is not None:
                lost.append(record)
            runner.spawn(entry)
        runner.pool.dispatch()
        tracer = runner.parts.tracer
        if lost and tracer.enabled:
            async with runner.redis.pipeline(transaction=False) as pipe:
                for record in lost:
                    tracer.add(pipe, record)
                await pipe.execute()

    def _lost_record(self, entry: Entry, why: str) -> trace.TraceRecord | None:
        runner = self.runner
        message = decoded_or_none(runner, entry)
        if message is None:
            return None  # the delivery dead-letters it and records that
        message.attempt = entry.attempt - 1
        record = runner.parts.tracer.for_message(
            trace.EVENT_FAILED,
            message,
            listener=runner.listener.name,
            status="error",
            queued_ms=max(0, now_ms() - message.sent_at),
            error=Unacknowledged(
                f"attempt {entry.attempt - 1} was not acknowledged ({why}); "
                f"redelivered as attempt {entry.attempt}"
            ),
            with_payload=False,
        )
        if record is not None:
            record.error_type = UNACKNOWLEDGED  # a documented value, whatever the module
        return record

    async def renew_leases(self) -> None:
        runner = self.runner
        by_stream: dict[str, list[str]] = {}
        for stream, entry_id in runner.held:
            by_stream.setdefault(stream, []).append(entry_id)
        for stream, ids in by_stream.items():
            await runner.redis.xclaim(
                stream, runner.group, runner.consumer, min_idle_time=0, message_ids=ids, justid=True
            )

    async def hand_back(self, entries: list[Entry]) -> bool:
        """Make unfinished entries reclaimable by another consumer at once (at shutdown).

        True when Redis took the hand-back; False when it could not be reached (the
        entries then stay pending on this consumer until ``ack_timeout``).
        """
        runner = self.runner
        settings = runner.parts.settings
        idle_ms = int(settings.ack_timeout * 1000) + 1000
        by_stream: dict[str, list[str]] = {}
        for entry in entries:
            by_stream.setdefault(entry.stream, []).append(entry.entry_id)
        try:
            async with runner.parts.redis.pipeline(transaction=False) as pipe:
                for stream, ids in by_stream.items():
                    pipe.xclaim(
                        stream,
                        runner.group,
                        runner.consumer,
                        min_idle_time=0,
                        message_ids=ids,
                        idle=idle_ms,
                        justid=True,
                    )
                # After the claims: whoever reads this finds the entries claimable.
                pipe.xadd(
                    self.handback_stream,
                    {"n": len(entries), "from": settings.process_name},
                    maxlen=HANDBACK_MAXLEN,
                    approximate=True,
                )
                await guarded(settings, pipe.execute())
        except (BusConnectionError, *CONNECTION_ERRORS) as exc:
            logger.warning("Could not hand back %d entries (%s)", len(entries), describe(exc))
            return False
        return True

    async def remove_gone_consumers(self) -> list[str]:
        """Delete the group's consumers that are gone and hold nothing; return their names."""
        runner = self.runner
        parts = runner.parts
        if self._remove_gone is None:
            self._remove_gone = runner.redis.register_script(_REMOVE_GONE)
        live = await registry.list_workers(runner.redis, parts.keys)
        keep = {runner.consumer, *(worker.process for worker in live)}
        idle_ms = int(parts.settings.ack_timeout * 1000)
        removed: list[str] = []
        # The hand-back stream too: from Redis 7.2 on, every read creates its consumer.
        for stream in [*runner.streams, self.handback_stream]:
            names = await self._remove_gone(keys=[stream], args=[runner.group, idle_ms, *keep])
            removed += [text(name) for name in names]
        if removed:
            gone = sorted(set(removed))
            logger.info(
                "Removed %d consumers of %s that are gone and held nothing: %s",
                len(gone),
                runner.group,
                ", ".join(gone),
            )
        return removed


def _id_order(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)
