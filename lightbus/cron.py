"""When scheduled functions are due: cron expressions and ``schedule`` library jobs.

``@bus.client.schedule(...)`` takes either form; each becomes an object with one method,
``next_after(ts) -> ts`` (epoch seconds), that :mod:`lightbus.scheduled` runs on.

- A cron expression (``"*/5 * * * *"``, with an optional sixth field of seconds,
  ``"*/10 * * * * *"``) is read by croniter, an optional extra (``lightbus[cron]``)
  imported only when a cron schedule is registered. Its ticks are wall-clock times in
  ``tz`` (default UTC), the same in every worker, so each tick runs once across them.
- A job of the `schedule <https://schedule.readthedocs.io>`_ library, Lightbus 1.x's
  form (``schedule.every().monday.at("01:00")``, ``schedule.every(1).to(3).seconds``).
  Plain intervals (``schedule.every(10).minutes``) are aligned to the clock as
  ``every()`` is; ``at(...)`` and weekday jobs are asked of the library (its times are
  local time, as in 1.x). A random interval (``.to(...)``) differs per worker, so one
  lock per shortest interval (:attr:`JobTimes.window_ms`) keeps the runs apart.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UNIT_SECONDS = {
    "seconds": 1,
    "minutes": 60,
    "hours": 3600,
    "days": 86400,
    "weeks": 7 * 86400,
}
CRON_HELP = (
    "A cron expression has five fields, minute hour day-of-month month day-of-week "
    "(e.g. '*/5 * * * *' or '0 1 * * mon'), and optionally a sixth for seconds "
    "('*/10 * * * * *')."
)


class Times(Protocol):
    """When a scheduled function is next due."""

    description: str
    window_ms: int | None  # lock once per window instead of once per tick (random times)

    def next_after(self, ts: float) -> float: ...


class CronTimes:
    """The ticks of a cron expression in a time zone."""

    window_ms: int | None = None

    def __init__(self, expression: str, tz: str | None, where: str) -> None:
        croniter = _croniter(where)
        try:
            self.zone: dt.tzinfo = ZoneInfo(tz) if tz else dt.UTC
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{where}: unknown time zone {tz!r}; give an IANA name such as "
                f"'Europe/London' or 'UTC'."
            ) from None
        try:
            croniter(expression, dt.datetime.now(self.zone))
        except (ValueError, KeyError, TypeError) as exc:  # CroniterBadCronError is a ValueError
            raise ValueError(
                f"{where}: bad cron expression {expression!r} ({exc}). {CRON_HELP}"
            ) from None
        self._croniter = croniter
        self.expression = expression
        self.description = f"cron {expression!r}" + (f" ({tz})" if tz else "")

    def next_after(self, ts: float) -> float:
        start = dt.datetime.fromtimestamp(ts, self.zone)
        return float(self._croniter(self.expression, start).get_next(float))

    def previous_before(self, ts: float) -> float:
        start = dt.datetime.fromtimestamp(ts, self.zone)
        return float(self._croniter(self.expression, start).get_prev(float))


class JobTimes:
    """The runs of a ``schedule`` library job (not registered with any scheduler)."""

    def __init__(self, job: Any, where: str) -> None:
        unit = getattr(job, "unit", None)
        if unit not in UNIT_SECONDS:
            raise ValueError(
                f"{where}: the schedule job {job!r} has no unit; finish it, e.g. "
                f"schedule.every(10).minutes or schedule.every().monday.at('01:00')"
            )
        self.job = job
        self.period = float(job.interval) * UNIT_SECONDS[unit]
        self.aligned = job.at_time is None and job.start_day is None and job.latest is None
        self.window_ms = None if job.latest is None else max(100, int(self.period * 900))
        self.description = f"schedule job {job!r}"
        job._schedule_next_run()  # refuses a job the library cannot run, here and now

    def next_after(self, ts: float) -> float:
        if self.aligned:
            return (math.floor(ts / self.period) + 1) * self.period
        # The library computes from its own clock (local time); `ts` is about now.
        self.job.last_run = dt.datetime.now()
        self.job._schedule_next_run()
        return max(float(self.job.next_run.timestamp()), ts + 0.001)


def times_of(spec: Any, tz: str | None, where: str) -> Times:
    """The times of ``spec``: a cron expression or a ``schedule`` library job."""
    if isinstance(spec, str):
        return CronTimes(spec, tz, where)
    if type(spec).__module__.split(".")[0] == "schedule" and hasattr(spec, "unit"):
        if tz is not None:
            raise ValueError(
                f"{where}: tz= is for cron expressions; a schedule job takes its own "
                f"zone: schedule.every().day.at('01:00', 'Europe/London')"
            )
        return JobTimes(spec, where)
    raise TypeError(
        f"{where}: schedule() takes a cron expression such as '*/5 * * * *' or a job of "
        f"the schedule library such as schedule.every().monday.at('01:00'), not "
        f"{type(spec).__name__} {spec!r}. For a plain interval use @bus.client.every()."
    )


def _croniter(where: str) -> Any:
    try:
        from croniter import croniter  # type: ignore[import-untyped]
    except ImportError:
        raise ImportError(
            f"{where}: cron schedules need croniter, an optional extra: "
            f"pip install 'lightbus[cron]'"
        ) from None
    return croniter
