"""``lightbus trace <message-id or trace-id>``: the causal tree of one trace.

Given a message id (what ``fire()`` returns, or the ``message`` column of ``lightbus
inspect``) it finds that message near the time in its id, then gathers the rest of its
trace; given a trace id it reads the stream newest first until the trace's start. A
shortened id (a unique start or end of either, as ``lightbus inspect`` prints them) is
resolved by the reader first; an ambiguous one is refused with the candidates. Each
node of the tree is one message: its kind, ``api.name``, status, and a row for every
listener (or worker) that handled it, with queued and handler time and the error.
``--json`` prints the same tree as one nested JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from rich.console import Console
from rich.text import Text
from rich.tree import Tree

import lightbus
from lightbus import Handling, TraceNode, tracing
from lightbus_tools.recordtable import STATUS_STYLE, duration


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``lightbus trace``."""
    parser.add_argument(
        "id",
        help="a message id or a trace id (32 hex digits), or a unique start or end of one, "
        "as `lightbus inspect` prints them",
    )
    parser.add_argument("--json", action="store_true", help="the tree as nested JSON")
    parser.add_argument(
        "--tracebacks", action="store_true", help="show the full traceback of each failure"
    )
    parser.add_argument(
        "--window",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="stop gathering after this much stream time without a record of the trace "
        "(default 60)",
    )
    parser.add_argument("--redis-url", help="the Redis to read (default: from settings)")


def main(args: argparse.Namespace) -> int:
    settings: dict[str, Any] = {"redis_url": args.redis_url} if args.redis_url else {}
    bus = lightbus.create(**settings)
    return asyncio.run(_run(bus, args))


async def _run(bus: lightbus.Bus, args: argparse.Namespace) -> int:
    reader = lightbus.TraceReader(bus, gap_ms=int(args.window * 1000))
    try:
        try:
            # A full id, or the start or end of one (as `lightbus inspect` prints them).
            found = await reader.resolve(args.id)
        except ValueError as exc:
            print(f"lightbus trace: error: {exc}", file=sys.stderr)
            return 2
        first = found.record
        if first is not None:
            records = await reader.trace(first.trace_id, near_ms=first.stream_ms)
            trace_id = first.trace_id
        else:
            records = await reader.trace(found.id)
            trace_id = found.id
    finally:
        await bus.client.close()
    roots = lightbus.build_tree(records)
    if args.json:
        document = {
            "trace_id": trace_id,
            "focus": first.id if first else "",
            "roots": [root.to_dict() for root in roots],
        }
        print(json.dumps(document))
        return 0
    console = Console(highlight=False)
    count = sum(1 for root in roots for _ in root.walk())
    tree = Tree(Text(f"trace {trace_id} ({count} messages)", style="bold"))
    for root in roots:
        _add(tree, root, first.id if first else "", args.tracebacks)
    console.print(tree)
    return 0


def _replayed(sent: lightbus.TraceRecord) -> str:
    """Who replayed it, to whom and why, from its ``replay.performed`` record."""
    detail = sent.detail if sent.record == tracing.REPLAY_PERFORMED else {}
    parts = [f"by {detail['by']}"] if detail.get("by") else []
    if sent.to:
        parts.append(f"to {sent.to} only")
    if detail.get("edited"):
        parts.append("edited")
    if detail.get("reason"):
        parts.append(f"because {detail['reason']!r}")
    return f" ({', '.join(parts)})" if parts else ""


def _add(parent: Tree, node: TraceNode, focus: str, tracebacks: bool) -> None:
    label = Text()
    label.append(node.kind, style="bold cyan")
    label.append(f" {node.sent.api}.{node.sent.name} ", style="bold")
    label.append(node.status, style=STATUS_STYLE.get(node.status, ""))
    who = node.sent.service or node.sent.process
    label.append(f"  from {who}  id {node.id}", style="dim")
    if node.sent.replay_of:
        label.append(f"  replay of {node.sent.replay_of}", style="yellow")
        label.append(_replayed(node.sent), style="yellow")
    if node.id == focus:
        label.append("  ◀", style="bold yellow")
    branch = parent.add(label)
    for handling in node.handlings:
        _add_handling(branch, node, handling, tracebacks)
    if node.returned is not None:
        returned = Text("↩ returned to caller: ", style="dim")
        returned.append(node.returned.status, style=STATUS_STYLE.get(node.returned.status, ""))
        returned.append(f" after {duration(node.returned.duration_ms)}", style="dim")
        branch.add(returned)
    for child in node.children:
        _add(branch, child, focus, tracebacks)


def _add_handling(branch: Tree, node: TraceNode, handling: Handling, tracebacks: bool) -> None:
    row = Text()
    if node.kind == "event":
        row.append(f"listener {handling.listener or '?'}: ")
    else:
        row.append(f"worker {handling.process or '?'}: ")
    row.append(handling.status, style=STATUS_STYLE.get(handling.status, ""))
    if handling.attempt > 1:
        row.append(f" (attempt {handling.attempt})")
    queued, handler = duration(handling.queued_ms), duration(handling.duration_ms)
    row.append(f"  queued {queued}, handler {handler}", style="dim")
    if node.kind == "event" and handling.process:
        row.append(f"  on {handling.process}", style="dim")
    leaf = branch.add(row)
    if handling.error_type:
        leaf.add(Text(f"{handling.error_type}: {handling.error}", style="red"))
        if tracebacks and handling.traceback:
            leaf.add(Text(handling.traceback.rstrip(), style="dim red"))
