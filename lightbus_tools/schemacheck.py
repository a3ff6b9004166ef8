"""``lightbus schema check OLD NEW``: is the new schema a breaking change?

OLD and NEW are files or directories written by ``lightbus dumpschema``, or ``live`` for
the APIs served on the bus right now. Every difference is listed and classified (see
:mod:`lightbus_tools.schemadiff`); with ``live``, APIs served by workers with different
schemas (a clash) are listed as breaking too. Exit status: 0 when nothing breaks, 1 when
something does, 2 when an input cannot be read.
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
from lightbus import LightbusError, workers
from lightbus.schema import SchemaFileError, live_schemas, load_schemas
from lightbus_tools.schemadiff import Change, compare

LIVE = "live"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="schema_command", metavar="SUBCOMMAND", required=True)
    check = sub.add_parser(
        "check",
        help="compare two schemas and classify each change as breaking or compatible",
        description="Compare OLD with NEW (files or directories from `lightbus dumpschema`, "
        "or `live` for the bus). Exit 1 when a change breaks callers, firers or listeners.",
    )
    check.add_argument("old", metavar="OLD", help="a schema file or directory, or 'live'")
    check.add_argument("new", metavar="NEW", help="a schema file or directory, or 'live'")
    check.add_argument("--json", action="store_true", help="print JSON (for CI)")


def main(args: argparse.Namespace) -> int:
    try:
        old, old_clashes = _load(args.old)
        new, new_clashes = _load(args.new)
    except (SchemaFileError, LightbusError) as exc:
        # 2, not 1: CI must tell "cannot compare" from "breaking change".
        print(f"lightbus schema check: error: {exc}", file=sys.stderr)
        return 2
    changes = compare(old, new)
    for api, by_hash in {**old_clashes, **new_clashes}.items():
        served = "; ".join(f"{', '.join(procs)} ({digest})" for digest, procs in by_hash.items())
        changes.append(
            Change(api, "", "api", "clash", True, f"live workers serve different schemas: {served}")
        )
    breaking = any(c.breaking for c in changes)
    if args.json:
        document = {
            "old": args.old,
            "new": args.new,
            "breaking": breaking,
            "changes": [c.to_json() for c in changes],
        }
        print(json.dumps(document, indent=2, sort_keys=True))
    else:
        _print(changes, args.old, args.new)
    return 1 if breaking else 0


def _load(source: str) -> tuple[dict[str, Any], dict[str, dict[str, list[str]]]]:
    if source != LIVE:
        return load_schemas(source), {}
    return asyncio.run(_live())


async def _live() -> tuple[dict[str, Any], dict[str, dict[str, list[str]]]]:
    bus = lightbus.create()
    client = bus.client
    client.bind(asyncio.get_running_loop())
    try:
        schemas = await live_schemas(bus)
        beats = await workers.list_workers(bus)
    finally:
        await client.close()
    return schemas, workers.clashes(beats)


def _print(changes: list[Change], old: str, new: str) -> None:
    console = Console()
    if not changes:
        console.print(f"No differences between {old} and {new}.")
        return
    table = Table(title=f"{old} -> {new}", show_lines=False)
    table.add_column("", no_wrap=True)
    table.add_column("where")
    table.add_column("change")
    for change in changes:
        mark = "[bold red]BREAKING[/]" if change.breaking else "[green]compatible[/]"
        table.add_row(mark, change.where, change.detail)
    console.print(table)
    count = sum(c.breaking for c in changes)
    if count:
        console.print(f"[bold red]{count} breaking change(s)[/] of {len(changes)}.")
    else:
        console.print(f"{len(changes)} compatible change(s); nothing breaks.")
