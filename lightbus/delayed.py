"""Delayed events: ``fire(..., delay=seconds)`` or ``fire(..., at=datetime)``.

A delayed event is not written to its stream when fired. Its encoded message goes into a
sorted set per event, ``<prefix>:delayed:<api>.<name>``, scored by the time it is due
(epoch milliseconds); ``event.fired`` is traced at once, with the due time.

Every process that runs a listener of the event also runs a mover for it
(:class:`DelayedEvents`). The mover runs one Lua script that, in one atomic step, takes
the entries that are due (``ZRANGEBYSCORE ... LIMIT``), appends each to the event's
stream (``XADD``) and removes it from the set (``ZREM``). Many workers may run the mover
at once: an entry is moved by exactly one script run, so it is delivered once to each
listener group. Since the wait is in Redis, not in a process, a delayed event survives
every worker stopping; the next mover to run releases it (late, but once). Each release
is traced as ``event.released``; the handler's records follow as for any event.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import time
from collections.abc import Iterable
from typing import Any

from lightbus import limits, trace
from lightbus.connection import CONNECTION_ERRORS, describe
from lightbus.errors import BusConnectionError
from lightbus.message import FIELD, Message, now_ms
from lightbus.runtime import Runtime, write_records

logger = logging.getLogger("lightbus.delayed")

WHEN = ("delay", "at")  # fire() options that delay an event

# How often a mover looks for newly delayed events when none is due sooner. A delayed
# event is released at most this long after its time (while a mover runs).
POLL_SECONDS = 0.25
BATCH = 200  # entries moved per script run

# KEYS: pairs of (sorted set, stream), one per event. ARGV: now (ms), how many at most
# per event, stream MAXLEN, the message field. Returns the messages moved (a list per
# event) and the due time (ms) of the next entry still waiting in any of the sets, or -1.
MOVE_DUE = """
local moved, nearest = {}, -1
for i = 1, #KEYS, 2 do
    local due = redis.call('ZRANGEBYSCORE', KEYS[i], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
    for _, message in ipairs(due) do
        if tonumber(ARGV[3]) > 0 then
            redis.call('XADD', KEYS[i + 1], 'MAXLEN', '~', ARGV[3], '*', ARGV[4], message)
        else
            redis.call('XADD', KEYS[i + 1], '*', ARGV[4], message)
        end
        redis.call('ZREM', KEYS[i], message)
    end
    moved[#moved + 1] = due
    local following = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
    if following[2] then
        local score = tonumber(following[2])
        if nearest < 0 or score < nearest then nearest = score end
    end
end
return {moved, nearest}
"""


def due_ms(delay: Any, at: Any) -> int | None:
    """When an event fired with ``delay=`` / ``at=`` is due (epoch ms); None for "now".

    Raises:
        TypeError: ``delay`` is not a number of seconds, or ``at`` not a datetime.
        ValueError: both are given, ``delay`` is negative or not finite, or ``at`` is a
            naive datetime.
    """
    if delay is None and at is None:
        return None
    if delay is not None and at is not None:
        raise ValueError("fire() takes delay= (seconds) or at= (a datetime), not both")
    if delay is not None:
        if isinstance(delay, dt.timedelta):
            delay = delay.total_seconds()
        if isinstance(delay, bool) or not isinstance(delay, int | float):
            raise TypeError(
                f"delay= is a number of seconds (or a timedelta), got {type(delay).__name__} "
                f"{delay!r}: e.g. fire(..., delay=30)"
            )
        if not math.isfinite(delay) or delay < 0:
            raise ValueError(f"delay= must be zero or more seconds, got {delay!r}")
        if delay == 0:
            return None
        return now_ms() + math.ceil(delay * 1000)
    if not isinstance(at, dt.datetime):
        raise TypeError(
            f"at= is a timezone-aware datetime, got {type(at).__name__} {at!r}: e.g. "
            f"fire(..., at=datetime.now(timezone.utc) + timedelta(hours=1))"
        )
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(
            f"at= needs a timezone-aware datetime, got the naive {at.isoformat()}: "
            f"which zone is meant is ambiguous. Pass e.g. at.replace(tzinfo=timezone.utc) "
            f"or a datetime from datetime.now(timezone.utc)."
        )
    due = math.ceil(at.timestamp() * 1000)
    return due if due > now_ms() else None


def fire_options(kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Take ``fire()``'s delay options out of ``kwargs``: (``delay=`` / ``at=`` given as
    keywords, those given in ``bus_options``). Refuses any other ``bus_options``."""
    if "bus_options" not in kwargs and "delay" not in kwargs and "at" not in kwargs:
        return {}, {}  # the usual fire: nothing to take
    options = dict(kwargs.pop("bus_options", None) or {})
    unknown = sorted(set(options) - set(WHEN))
    if unknown:
        raise TypeError(f"fire()'s bus_options takes delay and at, not {', '.join(unknown)}")
    return {key: kwargs.pop(key) for key in WHEN if key in kwargs}, options


def own_arguments(kwargs: dict[str, Any], when: dict[str, Any], parameters: Iterable[str]) -> None:
    """Give back to ``kwargs`` a ``delay`` / ``at`` keyword that names one of the event's
    own ``parameters``: it is an argument (delay that event with ``bus_options``)."""
    for key in [key for key in when if key in parameters]:
        kwargs[key] = when.pop(key)


def hold(pipe: Any, tracer: Any, key: str, made: Iterable[tuple[Message, bytes]], due: int) -> None:
    """Add delayed messages to their sorted set ``key`` (and their ``event.fired``
    records, status ``delayed``, with ``detail.due_at``) to ``pipe``: the firer's side."""
    for message, data in made:
        pipe.zadd(key, due, data)
        record = tracer.for_message(trace.EVENT_FIRED, message, status="delayed")
        if record is not None:
            record.detail = {"due_at": due}
        tracer.add(pipe, record)


class DelayedEvents:
    """Releases the delayed events of the events listened to here when they are due."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.watched: set[tuple[str, str]] = set()
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None

    # ---------------------------------------------------------------- releasing

    def watch(self, events: Iterable[tuple[str, str]]) -> None:
        """Release the delayed events of ``events`` from now on (a listener started here)."""
        new = set(events) - self.watched
        if not new:
            return
        self.watched |= new
        if self._task is None or self._task.done() or self._wake is None:
            self._wake = asyncio.Event()
            self._task = self.runtime.spawn(self._run(self._wake), name="lightbus-delayed-mover")
        self._wake.set()

    async def _run(self, wake: asyncio.Event) -> None:
        while True:
            wait = POLL_SECONDS
            try:
                following = await self.release(sorted(self.watched))
                if following is not None:
                    wait = min(wait, max(0.0, (following - now_ms()) / 1000))
            except (BusConnectionError, *CONNECTION_ERRORS) as exc:
                logger.warning("Delayed events: Redis unreachable (%s)", describe(exc))
                wait = 1.0
            except Exception:
                logger.exception("Delayed events: the mover failed; carrying on")
                wait = 1.0
            wake.clear()
            try:
                async with asyncio.timeout(wait):
                    await wake.wait()
            except TimeoutError:
                pass

    async def release(self, events: list[tuple[str, str]]) -> int | None:
        """Move the due delayed events of ``events`` to their streams, in one script run
        per batch; return when the next one is due (epoch ms), or None if none waits."""
        runtime = self.runtime
        # Registered on the connections of now (a rebound bus has new ones); EVALSHA, and
        # EVAL once if Redis does not hold the script (a restart).
        script = runtime.redis.register_script(MOVE_DUE)
        keys = [
            key
            for api, name in events
            for key in (runtime.keys.delayed(api, name), runtime.keys.event_stream(api, name))
        ]
        args = [BATCH, runtime.settings.event_stream_maxlen, FIELD]
        while True:
            started = time.time()
            moved, following = await script(keys=keys, args=[now_ms(), *args])
            released = [self._released(raw, started) for batch in moved for raw in batch]
            if released:
                await write_records(runtime, released)
            if all(len(batch) < BATCH for batch in moved):
                return int(following) if following >= 0 else None

    def _released(self, raw: bytes, started: float) -> trace.TraceRecord | None:
        try:
            message = limits.decode(raw, self.runtime.settings)
        except Exception:  # the listener dead-letters it, with the reason
            return None
        waited = max(0.0, started * 1000 - message.sent_at)
        record: trace.TraceRecord | None = self.runtime.tracer.for_message(
            trace.EVENT_RELEASED, message, queued_ms=waited, with_payload=False
        )
        return record
