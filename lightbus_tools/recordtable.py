"""The table of trace records that ``lightbus inspect`` prints, laid out for the terminal.

A terminal rarely has room for every column. Rather than let rich squeeze columns to
nothing, the table is laid out by priority:

- the key columns (time, step, ``api.name`` and the message id) are always shown at the
  width of their values (``api.name`` up to :data:`NAME_CAP`, then folded), never cut;
- the error gets a column of its own when at least :data:`ERROR_FLOOR` characters are
  left for it (it is given up to :data:`ERROR_WANT` before other columns are added, and
  takes whatever is left); on a narrower terminal it is folded under ``api.name``, as a
  second line of that cell;
- the other columns join in order of use (status, listener, handler time, trace id,
  queued time, service) while they fit; a column with no value in any row is left out;
- without its own column, the status still shows: the step is drawn in its colour.

The columns keep their usual order left to right. ``docs/reference/cli-inspect.md``
shows the result at 80 and 120 columns.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from rich.table import Table
from rich.text import Text

import lightbus

STATUS_STYLE = {"ok": "green", "error": "bold red", "dead": "bold magenta", "expired": "yellow"}
NAME_CAP = 28
ERROR_FLOOR = 16
ERROR_WANT = 24
GAP = 3  # a column separator and its padding


@dataclass(frozen=True)
class Column:
    name: str
    rank: int  # lower is kept longer; rank 0 is always shown
    cap: int  # widest it is drawn; longer values fold (or, with no_wrap, never occur)
    no_wrap: bool = True


# In their order on screen.
COLUMNS = (
    Column("time", 0, 12),
    Column("step", 0, 19),
    Column("api.name", 0, NAME_CAP, no_wrap=False),
    Column("listener", 3, 20, no_wrap=False),
    Column("status", 2, 7),
    Column("queued", 6, 9),
    Column("handler", 4, 9),
    Column("service", 7, 16, no_wrap=False),
    Column("message", 0, 12),
    Column("trace", 5, 12),
)
ERROR = "error"


def record_table(records: Iterable[lightbus.TraceRecord], width: int) -> Table:
    """A table of ``records`` that fits ``width`` columns of terminal."""
    rows = [cells(record) for record in records]
    shown, error_column = _layout(rows, width)
    table = Table(show_edge=False, pad_edge=False, header_style="bold")
    for column, size in shown:
        table.add_column(
            column.name, width=size, min_width=size, no_wrap=column.no_wrap, overflow="fold"
        )
    if error_column:
        table.add_column(ERROR, overflow="fold", min_width=ERROR_FLOOR, ratio=1)
    status_shown = any(column.name == "status" for column, _ in shown)
    for row in rows:
        if not status_shown:
            row["step"].stylize(row["status"].style)  # the status, folded into the step
        if not error_column and row[ERROR].plain:
            row["api.name"] = Text("\n").join([row["api.name"], row[ERROR]])
        table.add_row(*(row[c.name] for c, _ in shown), *([row[ERROR]] if error_column else []))
    return table


def record_line(record: lightbus.TraceRecord) -> Text:
    """One record as one line (``lightbus inspect --follow``)."""
    return Text("  ").join(cells(record).values())


def cells(record: lightbus.TraceRecord) -> dict[str, Text]:
    when = datetime.fromtimestamp(record.ts / 1000).strftime("%H:%M:%S.%f")[:-3]
    target = f"{record.api}.{record.name}" if record.api else record.process
    error = f"{record.error_type}: {record.error}" if record.error_type else ""
    return {
        "time": Text(when, style="dim"),
        "step": Text(record.record),
        "api.name": Text(target, style="bold"),
        "listener": Text(record.listener),
        "status": Text(record.status, style=STATUS_STYLE.get(record.status, "")),
        "queued": Text(duration(record.queued_ms) if record.queued_ms else ""),
        "handler": Text(duration(record.duration_ms) if record.duration_ms else ""),
        "service": Text(record.service),
        "message": Text(record.id[-12:], style="cyan"),
        "trace": Text(record.trace_id[:12], style="blue"),
        ERROR: Text(error.splitlines()[0] if error else "", style="red"),
    }


def _layout(rows: list[dict[str, Text]], width: int) -> tuple[list[tuple[Column, int]], bool]:
    """The columns to show (in screen order) with their widths, and whether the error has
    a column of its own (else it is folded under ``api.name``)."""
    natural = {}
    for column in COLUMNS:
        values = [row[column.name].cell_len for row in rows]
        if column.rank and not any(values):
            continue  # nothing to show in it
        natural[column.name] = min(column.cap, max([len(column.name), *values]))
    keys = [c.name for c in COLUMNS if c.rank == 0]
    room = width - sum(natural[name] + GAP for name in keys) + GAP
    errors = [row[ERROR].cell_len for row in rows]
    error_column = bool(any(errors)) and room >= ERROR_FLOOR + GAP
    if error_column:
        room -= min(max(errors), ERROR_WANT) + GAP
    chosen = set(keys)
    if error_column or not any(errors):
        for column in sorted(COLUMNS, key=lambda c: c.rank):
            cost = natural.get(column.name, 0) + GAP
            if column.rank and column.name in natural and cost <= room:
                chosen.add(column.name)
                room -= cost
    elif room > 0:
        natural["api.name"] += room  # the folded errors get the room that is left
    return [(c, natural[c.name]) for c in COLUMNS if c.name in chosen], error_column


def duration(value: float) -> str:
    """A time in ms as people read it: ``3.6 ms``, ``1.25 s``."""
    return f"{value:.1f} ms" if value < 1000 else f"{value / 1000:.2f} s"
