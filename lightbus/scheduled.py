"""Running scheduled functions: cron and ``schedule`` jobs, traced runs, catch-up.

``@bus.client.schedule(spec, tz=None, catch_up=False)`` registers a :class:`Timed`
schedule (its times come from :mod:`lightbus.cron`). Every worker runs its clock, and
each tick runs once across the workers: the worker that takes the tick's lock
(``SET NX PX`` on ``<prefix>:schedule:<name>:<tick ms>``) runs it. The tick a run was
for is kept in ``<prefix>:schedule-last:<name>``.

A tick missed while no worker ran is not run later, unless ``catch_up=True``: then a
starting worker runs the ticks between the last recorded run and now, oldest first,
at most :data:`MAX_CATCH_UP` of them (the most recent ones), each once across workers.

Every run of a scheduled function, ``every()`` included, is traced (:func:`run_traced`):
a ``schedule.ran`` or ``schedule.failed`` record, with its duration and error. The run
is the root of its own trace, and what it fires or calls hangs under it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lightbus import ids, trace
from lightbus.connection import CONNECTION_ERRORS, describe
from lightbus.cron import CronTimes, Times, times_of
from lightbus.message import HOST, now_ms
from lightbus.runtime import Runtime, write_records

logger = logging.getLogger("lightbus.schedule")

MAX_CATCH_UP = 100
# A tick's lock outlives a worker that comes to the same tick late (clock skew, a busy
# machine): at least a minute, at most a day, else one period.
LOCK_MIN_MS = 60_000
LOCK_MAX_MS = 86_400_000

# KEYS: the tick's lock, the schedule's last-run key. ARGV: the process, the lock's
# time to live (ms), the tick (ms). Takes the lock; if taken, records the tick as the
# last run unless a later one is recorded. Returns 1 if the lock was taken.
TAKE_TICK = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
if tonumber(ARGV[3]) > last then redis.call('SET', KEYS[2], ARGV[3]) end
return 1
"""


@dataclass(frozen=True)
class Timed:
    """A function run at the times of a cron expression or a ``schedule`` job."""

    fn: Callable[..., Any]
    times: Times
    catch_up: bool = False
    immediately: bool = False

    @property
    def name(self) -> str:
        return f"{self.fn.__module__}.{self.fn.__qualname__}"


def timed(
    fn: Callable[..., Any],
    spec: Any,
    *,
    tz: str | None = None,
    catch_up: bool = False,
    also_run_immediately: bool = False,
) -> Timed:
    """The schedule of ``@bus.client.schedule(spec, tz=, catch_up=, also_run_immediately=)``.

    Args:
        spec: ``"*/5 * * * *"`` (a sixth field is seconds), or a ``schedule`` library job
            such as ``schedule.every().monday.at("01:00")``.
        tz: the time zone of a cron expression (default UTC), e.g. ``"Europe/London"``.
        catch_up: when a worker starts, run the cron ticks missed while no worker ran
            (at most :data:`MAX_CATCH_UP`, oldest first); by default they are skipped.
        also_run_immediately: also run it as each worker starts.

    Raises:
        ValueError: a bad expression or time zone (at registration, so at import).
        TypeError: ``spec`` is neither a string nor a ``schedule`` job.
        ImportError: a cron expression without croniter (``lightbus[cron]``).
    """
    where = f"schedule() of {getattr(fn, '__qualname__', fn)!r}"
    times = times_of(spec, tz, where)
    if catch_up and not isinstance(times, CronTimes):
        raise ValueError(f"{where}: catch_up=True is for cron expressions")
    return Timed(fn, times, catch_up, also_run_immediately)


async def run_traced(client: Runtime, name: str, fn: Callable[..., Any], tick: int = 0) -> bool:
    """Run ``fn`` as the root of a new trace; record ``schedule.ran`` / ``schedule.failed``.

    Returns whether it succeeded. An exception is logged and recorded, never raised: the
    schedule goes on.
    """
    run_id, trace_id, span_id = ids.message_id(), ids.trace_id(), ids.span_id()
    started_ms = now_ms()
    started = time.perf_counter()
    error: BaseException | None = None
    tb = ""
    try:
        await client.invoke(fn, trace=(trace_id, span_id, run_id))
    except Exception as exc:
        logger.exception("Scheduled function %s raised", name)
        error, tb = exc, traceback.format_exc()
    duration = (time.perf_counter() - started) * 1000
    if client.tracer.enabled:
        record = run_record(client, fn, run_id, trace_id, span_id, started_ms, tick)
        record.duration_ms = round(duration, 3)
        if error is not None:
            record.record, record.status = trace.SCHEDULE_FAILED, "error"
            record.error_type = trace.qualified_name(type(error))
            record.error = str(error)[: client.tracer.traceback_cap]
            record.traceback = client.tracer.cap_traceback(tb)
        try:
            await write_records(client, [record])
        except Exception as exc:
            logger.warning("Could not trace the run of %s: %s", name, describe(exc))
    return error is None


def run_record(
    client: Runtime,
    fn: Callable[..., Any],
    run_id: str,
    trace_id: str,
    span_id: str,
    ts: int,
    tick: int,
) -> trace.TraceRecord:
    """The ``schedule.ran`` record of one run (``api.name``: the function's module and name)."""
    settings = client.settings
    record = trace.TraceRecord(record=trace.SCHEDULE_RAN, ts=now_ms())
    record.id, record.kind, record.sent_at = run_id, "schedule", ts
    record.api = getattr(fn, "__module__", None) or ""
    record.name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    record.trace_id, record.span_id = trace_id, span_id
    record.service, record.process, record.handled_by = (
        settings.service_name,
        settings.process_name,
        settings.process_name,
    )
    record.host, record.pid, record.status = HOST, os.getpid(), "ok"
    if tick:
        record.detail = {"tick": tick}
    return record


async def run_timed(client: Runtime, schedule: Timed, stopping: asyncio.Event) -> None:
    """Run ``schedule`` at its times until ``stopping`` is set."""
    if schedule.immediately:
        await run_traced(client, schedule.name, schedule.fn)
    if schedule.catch_up:
        await _catch_up(client, schedule, stopping)
    while not stopping.is_set():
        due = schedule.times.next_after(time.time())
        if await _stopped_before(due, stopping):
            return
        await run_tick(client, schedule, due)


async def run_tick(client: Runtime, schedule: Timed, due: float) -> bool:
    """Run the tick due at ``due`` here if no other worker has; whether it ran here."""
    tick = round(due * 1000)
    window = schedule.times.window_ms
    if window is None:
        lock = client.keys.schedule_lock(f"{schedule.name}:{tick}")
        period = int((schedule.times.next_after(due) - due) * 1000)
        ttl = min(LOCK_MAX_MS, max(LOCK_MIN_MS, period))
    else:
        lock, ttl = client.keys.schedule_lock(schedule.name), window
    last = client.keys.schedule_last(schedule.name)
    try:
        won = await client.redis.eval(
            TAKE_TICK, 2, lock, last, client.settings.process_name, ttl, tick
        )
    except CONNECTION_ERRORS as exc:
        logger.warning("Skipped a tick of %s: Redis unreachable (%s)", schedule.name, describe(exc))
        return False
    if won:
        await run_traced(client, schedule.name, schedule.fn, tick)
    return bool(won)


async def _catch_up(client: Runtime, schedule: Timed, stopping: asyncio.Event) -> None:
    try:
        last = await client.redis.get(client.keys.schedule_last(schedule.name))
    except CONNECTION_ERRORS as exc:
        logger.warning("No catch-up for %s: Redis unreachable (%s)", schedule.name, describe(exc))
        return
    if last is None or not isinstance(schedule.times, CronTimes):
        return  # never ran: nothing was missed
    missed: list[float] = []
    due = time.time()
    while len(missed) < MAX_CATCH_UP:
        due = schedule.times.previous_before(due)
        if due * 1000 <= int(last):
            break
        missed.insert(0, due)
    if missed:
        logger.info("Catching up %d missed run(s) of %s", len(missed), schedule.name)
    for due in missed:
        if stopping.is_set():
            return
        await run_tick(client, schedule, due)


async def _stopped_before(due: float, stopping: asyncio.Event) -> bool:
    try:
        async with asyncio.timeout(max(0.0, due - time.time())):
            await stopping.wait()
        return True
    except TimeoutError:
        return False
