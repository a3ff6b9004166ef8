"""``lightbus inspect``: query the trace stream (and the live workers) from a terminal.

For a person: a rich table, oldest first, of the newest ``--limit`` matching records.
For a program: ``--json`` prints one JSON object per line, every record field included.
``--follow`` keeps printing records as they are written, until interrupted.
``--workers`` lists the workers' heartbeats instead of trace records.
``--backlog`` shows, per event stream and consumer group, how far each listener is behind
(:func:`lightbus.groups.backlog`, the figures of the monitor's backlog screen).
``--output json`` (or ``--json``) prints JSON lines for any of them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

import lightbus
from lightbus import tracing as trace
from lightbus import workers as registry
from lightbus_tools import backlog
from lightbus_tools.recordtable import record_line, record_table
from lightbus_tools.timespec import EXAMPLES, parse_time

DEFAULT_LIMIT = 100
STATUSES = trace.STATUSES
KINDS = trace.KINDS
# Options that filter or shape trace records: (option, attribute).
_TRACE_ONLY = (
    ("--kind", "kind"),
    ("--step", "step"),
    ("--status", "status"),
    ("--service", "service"),
    ("--trace", "trace"),
    ("--message", "message"),
    ("--since", "since"),
    ("--until", "until"),
    ("--follow", "follow"),
    ("--all", "all"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``lightbus inspect``."""
    parser.add_argument("--api", help="only records of this API, e.g. shop")
    parser.add_argument("--name", help="only records of this event or RPC name")
    parser.add_argument("--kind", choices=KINDS, help="only this kind of message")
    parser.add_argument(
        "--step", choices=trace.STEPS, metavar="STEP", help="only this step, e.g. event.failed"
    )
    parser.add_argument("--status", choices=STATUSES, help="only records with this status")
    parser.add_argument("--service", help="only messages sent by this service")
    parser.add_argument(
        "--trace",
        metavar="TRACE_ID",
        help="only records of this trace (its id, or a unique start or end of it)",
    )
    parser.add_argument(
        "--message",
        metavar="MESSAGE_ID",
        help="every record of this one message (its id, or a unique start or end of it)",
    )
    parser.add_argument(
        "--since", type=parse_time, metavar="TIME", help=f"records from this time ({EXAMPLES})"
    )
    parser.add_argument("--until", type=parse_time, metavar="TIME", help="records up to this time")
    parser.add_argument(
        "--limit",
        type=_limit,
        default=DEFAULT_LIMIT,
        help=f"the newest N matching records (default {DEFAULT_LIMIT}; 0 for all)",
    )
    parser.add_argument("-f", "--follow", action="store_true", help="keep printing new records")
    parser.add_argument(
        "--output",
        choices=("table", "json"),
        default="table",
        help="a table for a person (default) or one JSON object per line",
    )
    parser.add_argument("--json", action="store_true", help="the same as --output json")
    parser.add_argument("--workers", action="store_true", help="list live workers instead")
    parser.add_argument(
        "--backlog",
        action="store_true",
        help="per event stream and consumer group: length, lag, pending, oldest pending "
        "age, highest attempt, dead letters (--api/--name narrow it)",
    )
    parser.add_argument(
        "--all", action="store_true", help="with --workers: include workers that stopped beating"
    )
    parser.add_argument("--redis-url", help="the Redis to read (default: from settings)")


def main(args: argparse.Namespace) -> int:
    args.json = args.json or args.output == "json"
    if args.backlog and args.workers:
        print("lightbus inspect: error: choose one of --backlog and --workers", file=sys.stderr)
        return 2
    if args.backlog:
        given = [option for option, value in _TRACE_ONLY if getattr(args, value)]
        if given:
            print(
                f"lightbus inspect: error: --backlog reads the consumer groups, not the trace "
                f"stream; it takes no {', '.join(given)} (only --api and --name)",
                file=sys.stderr,
            )
            return 2
    if args.follow and args.until is not None:
        print("lightbus inspect: error: --until cannot be used with --follow", file=sys.stderr)
        return 2
    if args.workers and (args.follow or args.message):
        print(
            "lightbus inspect: error: --workers lists workers; it takes no --follow or --message",
            file=sys.stderr,
        )
        return 2
    settings: dict[str, Any] = {"redis_url": args.redis_url} if args.redis_url else {}
    bus = lightbus.create(**settings)
    return asyncio.run(_run(bus, args))


async def _run(bus: lightbus.Bus, args: argparse.Namespace) -> int:
    console = Console(highlight=False, soft_wrap=args.follow)
    try:
        if args.workers:
            return await _workers(bus, args, console)
        if args.backlog:
            return await backlog.show(bus, args, console)
        return await _records(bus, args, console)
    finally:
        await bus.client.close()


async def _records(bus: lightbus.Bus, args: argparse.Namespace, console: Console) -> int:
    reader = lightbus.TraceReader(bus)
    try:
        # Full ids, or the start or end of one (as the table prints them); one that
        # matches nothing, or several things, is an error rather than an empty answer.
        if args.message:
            args.message = (await reader.resolve(args.message, ["message"])).id
            return await _message(reader, args, console)
        if args.trace:
            args.trace = (await reader.resolve(args.trace, ["trace"])).id
    except ValueError as exc:
        option = "--message" if args.message else "--trace"
        print(f"lightbus inspect: error: {option}: {exc}", file=sys.stderr)
        return 2
    records = lightbus.read_trace(
        bus,
        since=args.since,
        until=args.until,
        follow=args.follow,
        api=args.api,
        name=args.name,
        kind=args.kind,
        step=args.step,
        status=args.status,
        trace_id=args.trace,
        service=args.service,
        limit=args.limit or None,
        reader=reader,
    )
    if args.json:
        async for record in records:
            sys.stdout.write(record.to_json() + "\n")
            if args.follow:
                sys.stdout.flush()
    elif args.follow:
        async for record in records:
            console.print(record_line(record))
    else:
        found = [record async for record in records]
        if found:
            console.print(record_table(found, console.width))
        else:
            console.print("No trace records match.", style="dim")
    if reader.skipped_newer:
        print(
            f"lightbus inspect: skipped {reader.skipped_newer} records of a newer format "
            f"(upgrade Lightbus to read them)",
            file=sys.stderr,
        )
    return 0


async def _message(reader: lightbus.TraceReader, args: argparse.Namespace, console: Console) -> int:
    found = await reader.records_of(args.message)
    if not found:
        print(
            f"lightbus inspect: no records of message {args.message} in the trace stream",
            file=sys.stderr,
        )
        return 1
    if args.json:
        for record in found:
            sys.stdout.write(record.to_json() + "\n")
        return 0
    console.print(record_table(found, console.width))
    return 0


async def _workers(bus: lightbus.Bus, args: argparse.Namespace, console: Console) -> int:
    workers = await registry.list_workers(bus, include_dead=args.all)
    if args.json:
        for worker in workers:
            row = {field: getattr(worker, field) for field in worker.__struct_fields__}
            row["age"] = round(worker.age, 3)
            row["alive"] = worker.alive
            sys.stdout.write(json.dumps(row) + "\n")
        return 0
    if not workers:
        console.print("No live workers.", style="dim")
        return 0
    table = Table(show_edge=False, pad_edge=False, header_style="bold")
    for column in ("process", "service", "host", "pid", "apis", "listeners", "in flight"):
        table.add_column(column)
    table.add_column("version")
    table.add_column("heartbeat")
    for worker in workers:
        table.add_row(
            worker.process,
            worker.service,
            worker.host,
            str(worker.pid),
            ", ".join(worker.apis),
            ", ".join(worker.listeners),
            str(worker.in_flight),
            worker.version,
            f"{worker.age:.1f}s ago",
        )
    console.print(table)
    return 0


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 (all) or more")
    return value
