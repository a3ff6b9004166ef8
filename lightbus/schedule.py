"""Scheduled functions: ``@bus.client.every(seconds=...)``.

Every worker runs the schedule's clock, but each tick runs once across the bus: before
running, a worker takes a lock (``SET NX PX``) named for the function and the tick, so
two workers of the same app do not both run the job.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lightbus.connection import CONNECTION_ERRORS, describe
from lightbus.scheduled import Timed, run_timed, run_traced

if TYPE_CHECKING:
    from lightbus.parts import Parts

logger = logging.getLogger("lightbus.schedule")


@dataclass(frozen=True)
class Schedule:
    """A function and its interval in seconds."""

    fn: Callable[..., Any]
    interval: float
    immediately: bool = False  # also run as the worker starts (1.x's also_run_immediately)

    @property
    def name(self) -> str:
        return f"{self.fn.__module__}.{self.fn.__qualname__}"


async def run_schedule(parts: Parts, schedule: Schedule | Timed, stopping: asyncio.Event) -> None:
    """Run ``schedule`` every interval until ``stopping`` is set."""
    if isinstance(schedule, Timed):
        return await run_timed(parts, schedule, stopping)
    if schedule.immediately:
        await run_traced(parts, schedule.name, schedule.fn)
    interval = schedule.interval
    while not stopping.is_set():
        tick = int(time.time() // interval)
        next_at = (tick + 1) * interval
        try:
            async with asyncio.timeout(max(0.0, next_at - time.time())):
                await stopping.wait()
            return
        except TimeoutError:
            pass
        lock = parts.keys.schedule_lock(f"{schedule.name}:{tick + 1}")
        try:
            won = await parts.redis.set(
                lock, parts.settings.process_name, nx=True, px=max(1000, int(interval * 1000))
            )
        except CONNECTION_ERRORS as exc:
            logger.warning(
                "Skipped a tick of %s: Redis unreachable (%s)", schedule.name, describe(exc)
            )
            continue
        if not won:
            continue
        # Each tick is the root of its own trace: what it sends forms one tree.
        await run_traced(parts, schedule.name, schedule.fn, int(next_at * 1000))
