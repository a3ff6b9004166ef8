"""How values read in the monitor's cells: times, durations, ages, short ids (pure Python).

Kept apart from the widgets so that what a row says is tested without a terminal; the
widgets only choose colours. Times are shown in ``tz`` (the machine's local zone unless
a test fixes one).
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from lightbus_tools.monitor.source import TraceRecord

SHORT_ID = 8
STATUS_MARK = {"ok": "ok", "error": "ERROR", "dead": "DEAD", "expired": "EXPIRED"}


def clock(ts_ms: int, tz: tzinfo | None, *, millis: bool = True) -> str:
    """``14:05:03.120`` for an epoch-ms time (``""`` for 0)."""
    if not ts_ms:
        return ""
    moment = datetime.fromtimestamp(ts_ms / 1000, tz)
    text = moment.strftime("%H:%M:%S.%f")
    return text[:-3] if millis else text[:8]


def stamp(ts_ms: int, tz: tzinfo | None, *, year: bool = True) -> str:
    """``2026-11-28 14:05:03`` (``11-28 14:05:03`` without the year) for an epoch-ms
    time (``""`` for 0)."""
    if not ts_ms:
        return ""
    shape = "%Y-%m-%d %H:%M:%S" if year else "%m-%d %H:%M:%S"
    return datetime.fromtimestamp(ts_ms / 1000, tz).strftime(shape)


def duration(ms: float | None) -> str:
    """``0.4ms``, ``12ms``, ``1.5s``, ``2m05s``; ``""`` for None."""
    if ms is None:
        return ""
    if ms < 10:
        return f"{ms:.1f}ms"
    if ms < 1000:
        return f"{ms:.0f}ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f}s"
    minutes, seconds = divmod(int(ms // 1000), 60)
    return f"{minutes}m{seconds:02d}s"


def age(seconds: float | None) -> str:
    """``3s``, ``4m``, ``2h``, ``3d`` ago; ``""`` for None."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds // 60:.0f}m"
    if seconds < 86400:
        return f"{seconds // 3600:.0f}h"
    return f"{seconds // 86400:.0f}d"


def short_id(value: str) -> str:
    """The last characters of an id: a UUIDv7's first ones are the time, alike for all."""
    return value[-SHORT_ID:] if value else ""


def rate(per_second: float) -> str:
    if per_second == 0:
        return "0"
    if per_second < 10:
        return f"{per_second:.1f}"
    return f"{per_second:,.0f}"


def percent(fraction: float) -> str:
    return f"{fraction * 100:.0f}%" if fraction else ""


def target(record: TraceRecord) -> str:
    """``api.name``, or the process for a worker record."""
    return f"{record.api}.{record.name}" if record.api else record.process


def who(record: TraceRecord) -> str:
    """The sending service, and the listener that handled it when there is one."""
    if record.listener:
        return f"{record.service}/{record.listener}" if record.service else record.listener
    return record.service


def live_cells(record: TraceRecord, tz: tzinfo | None, *, millis: bool = True) -> tuple[str, ...]:
    """The Live screen's row: time, step, api.name, service/listener, status, queued,
    handler, message id."""
    return (
        clock(record.ts, tz, millis=millis),
        record.record,
        target(record),
        who(record),
        record.status,
        duration(record.queued_ms) if record.queued_ms else "",
        duration(record.duration_ms) if record.duration_ms else "",
        short_id(record.id),
    )


def sparkline(values: tuple[float, ...]) -> str:
    """One block character per value, scaled to the largest."""
    bars = " ▁▂▃▄▅▆▇█"
    top = max(values, default=0)
    if top <= 0:
        return " " * len(values)
    return "".join(bars[max(1, min(8, round(v / top * 8)))] if v else " " for v in values)
