"""``lightbus inspect --backlog``: how far each listener is behind, per event stream and
consumer group.

The figures come from :func:`lightbus.groups.backlog`, the code the monitor's backlog
screen reads through: length, lag, pending, oldest pending age, highest attempt and dead
letters. A rich table for a person; with ``--output json``, one JSON object per group
(:meth:`lightbus.groups.Backlog.to_dict`).
"""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console
from rich.table import Table
from rich.text import Text

import lightbus
from lightbus import groups
from lightbus_tools.monitor.cells import age

COLUMNS = (
    "event",
    "group",
    "length",
    "lag",
    "pending",
    "oldest pending",
    "highest attempt",
    "dead letters",
)


async def show(bus: lightbus.Bus, args: argparse.Namespace, console: Console) -> int:
    """Print the backlog of the consumer groups (of ``args.api``, ``args.name``)."""
    if args.name and not args.api:
        print("lightbus inspect: error: --name needs --api with --backlog", file=sys.stderr)
        return 2
    rows = await groups.backlog(bus, args.api, args.name)
    if args.json:
        for row in rows:
            sys.stdout.write(json.dumps(row.to_dict(), sort_keys=True) + "\n")
        return 0
    if not rows:
        where = f" of {args.api}" + (f".{args.name}" if args.name else "") if args.api else ""
        console.print(f"No consumer groups{where}: no listener has started yet.", style="dim")
        return 0
    console.print(table(rows))
    return 0


def table(rows: list[groups.Backlog]) -> Table:
    """The backlog as a table, one row per event stream and group."""
    out = Table(show_edge=False, pad_edge=False, header_style="bold")
    for column in COLUMNS:
        out.add_column(column, justify="left" if column in ("event", "group") else "right")
    for row in rows:
        out.add_row(
            f"{row.api}.{row.name}",
            row.group,
            str(row.length),
            "?" if row.lag is None else _count(row.lag, "yellow"),
            _count(row.pending, "yellow"),
            age(row.oldest_pending_age) or "-",
            _count(row.highest_attempt, "yellow" if row.highest_attempt < 2 else "bold red"),
            _count(row.dead_letters or 0, "bold red"),
        )
    return out


def _count(value: int, style: str) -> Text:
    return Text(str(value), style=style if value else "dim")
