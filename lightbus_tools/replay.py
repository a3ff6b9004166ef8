"""``lightbus replay``: re-send a recorded message, or a range of them, safely.

One message: ``lightbus replay ID`` shows exactly what will be sent and to whom, asks,
sends, prints the new id and waits (``--timeout``) for the outcome: each listener's for
an event, the result for an RPC (``--compare``: beside the recorded one). A range:
``lightbus replay --since 1h --status failed [--api --name --listener]`` shows a plan,
asks once, and sends with progress, at ``--rate``; Ctrl-C stops between two sends.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import shlex
import subprocess
import tempfile
from typing import Any

import lightbus
from lightbus import redrive, replay
from lightbus_tools.replaying import session
from lightbus_tools.replaying.session import FAILED, OK, TIMED_OUT, Refused, out
from lightbus_tools.send import outcome
from lightbus_tools.timespec import EXAMPLES, parse_time


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "message_id",
        nargs="?",
        metavar="ID",
        help="the message to replay: its id, or a unique start or end of it",
    )
    parser.add_argument("--listener", help="an event's one listener to send it to")
    parser.add_argument(
        "--compare", action="store_true", help="an RPC: show the new result beside the recorded"
    )
    parser.add_argument(
        "--edit", action="store_true", help="edit the payload in $EDITOR first (validated)"
    )
    parser.add_argument("--since", type=parse_time, help=f"a range from this time ({EXAMPLES})")
    parser.add_argument("--until", type=parse_time, help="a range up to this time")
    parser.add_argument("--api", help="a range: only this API")
    parser.add_argument("--name", help="a range: only this event name (with --api)")
    parser.add_argument(
        "--status", choices=("failed",), help="a range: only events a listener failed"
    )
    session.add_send_arguments(parser)


def main(args: argparse.Namespace) -> int:
    ranged = args.since or args.until or args.api or args.name or args.status
    if args.message_id and ranged:
        session.err.print("lightbus replay: give an ID or a range (--since...), not both")
        return session.REFUSED
    if not args.message_id and not ranged:
        session.err.print("lightbus replay: give the ID of a message, or a range (--since...)")
        return session.REFUSED
    if ranged:
        return session.run(args, "replay", lambda bus: _range(bus, args))
    return session.run(args, "replay", lambda bus: _one(bus, args))


async def _one(bus: lightbus.Bus, args: argparse.Namespace) -> int:
    recorded = await replay.original(bus, args.message_id)
    kwargs = _edited(recorded) if args.edit else None
    chosen = await replay.plan(
        bus, recorded, listener=args.listener, kwargs=kwargs, reason=args.reason
    )
    session.show_plan(chosen)
    if args.dry_run:
        out.print("dry run: nothing sent")
        return OK
    session.confirm(args, "Send this replay?")
    after = await lightbus.TraceReader(bus).last_id()
    sent = await replay.send(bus, chosen, timeout=args.timeout)
    out.print(f"sent replay {sent.message_id}", markup=False)
    if recorded.kind == "rpc":
        return _rpc_outcome(sent, args.compare)
    outcomes = await outcome.wait_for_listeners(
        bus, sent.message, chosen.targets, after=after, timeout=args.timeout
    )
    code = OK
    for each in outcomes:
        line = f"  {each.group}: {each.outcome}"
        handling = each.handling
        if handling is not None and handling.error_type:
            line += f" ({handling.error_type}: {handling.error})"
        out.print(line, markup=False)
        if each.outcome == outcome.PENDING:
            code = max(code, TIMED_OUT)
        elif each.outcome != outcome.HANDLED:
            code = FAILED if code == OK else code
    return code


def _rpc_outcome(sent: replay.Sent, compare: bool) -> int:
    recorded = sent.plan.original
    if sent.error is not None:
        out.print(f"  failed: {type(sent.error).__name__}: {sent.error}", markup=False)
        code = TIMED_OUT if isinstance(sent.error, lightbus.RpcTimeout) else FAILED
    else:
        out.print(f"  result: {json.dumps(sent.result, sort_keys=True)}", markup=False)
        code = OK
    if compare:
        if recorded.result_recorded:
            then = json.dumps(recorded.result, sort_keys=True)
        else:
            then = f"(no result recorded{': ' + recorded.error if recorded.error else ''})"
        out.print(f"  recorded: {then}", markup=False)
        same = recorded.result_recorded and sent.error is None and sent.result == recorded.result
        out.print("  same as recorded" if same else "  differs from recorded")
    return code


def _edited(recorded: replay.Recorded) -> dict[str, Any]:
    """The payload after the person edited it in ``$EDITOR``; the diff is shown."""
    before = json.dumps(recorded.message.kwargs, indent=2, sort_keys=True) + "\n"
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        handle.write(before)
    try:
        done = subprocess.run([*shlex.split(editor), handle.name], check=False)
        if done.returncode != 0:
            raise Refused(f"the editor ({editor}) exited with {done.returncode}")
        with open(handle.name) as edited:
            after = edited.read()
    finally:
        os.unlink(handle.name)
    try:
        kwargs = json.loads(after)
    except ValueError as exc:
        raise Refused(f"the edited payload is not JSON: {exc}") from None
    if not isinstance(kwargs, dict):
        raise Refused("the edited payload must be a JSON object of arguments")
    diff = difflib.unified_diff(
        before.splitlines(), after.splitlines(), "recorded", "edited", lineterm=""
    )
    for line in diff:
        out.print(line, markup=False)
    return kwargs


async def _range(bus: lightbus.Bus, args: argparse.Namespace) -> int:
    if args.name and not args.api:
        raise Refused("--name needs --api")
    found = await redrive.select(
        bus,
        since=args.since,
        until=args.until,
        api=args.api,
        name=args.name,
        status=args.status,
        listener=args.listener,
    )
    plans: list[replay.Plan] = []
    skipped: list[tuple[str, str]] = []
    for message_id in found:
        try:
            recorded = await replay.original(bus, message_id)
            plans.append(
                await replay.plan(bus, recorded, listener=args.listener, reason=args.reason)
            )
        except replay.ReplayRefused as exc:
            skipped.append((message_id, str(exc)))
    session.show_many(plans, skipped, each=args.dry_run)
    if not plans:
        out.print("nothing to replay")
        return OK
    if args.dry_run:
        out.print("dry run: nothing sent")
        return OK
    session.confirm(args, f"Send {len(plans)} replays?")
    return await session.send_all(bus, plans, args)
