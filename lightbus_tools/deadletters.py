"""``lightbus deadletters``: list, show, redrive and purge the events listeners gave up on.

Listing groups them by event, listener and error type, with counts and the first and
last times. ``replay`` redrives them through :mod:`lightbus.redrive` (a plan, one
confirmation, progress, ``--rate``, Ctrl-C between two sends); a redriven letter is
marked and not redriven again without ``--force``. ``purge`` deletes them, after asking.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from datetime import UTC, datetime

from rich.table import Table

import lightbus
from lightbus import deadletters, redrive
from lightbus_tools.replaying import session
from lightbus_tools.replaying.session import OK, Refused, out

ALL = 10_000_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="SUBCOMMAND")
    listing = sub.add_parser("list", help="the dead letters grouped (the default)")
    _filters(listing)
    _output(listing)
    session.add_bus_arguments(listing)
    show = sub.add_parser("show", help="one dead letter: its message, error and traceback")
    show.add_argument("letter_id", metavar="ID", help="the letter's id or its message's id")
    session.add_bus_arguments(show)
    again = sub.add_parser("replay", help="redrive dead letters to the listener that failed")
    _filters(again)
    again.add_argument("--force", action="store_true", help="also letters already redriven")
    session.add_send_arguments(again)
    purge = sub.add_parser("purge", help="delete the dead letters of one event")
    purge.add_argument("--api", required=True, help="the event's API")
    purge.add_argument("--name", required=True, help="the event's name")
    purge.add_argument("--yes", "-y", action="store_true", help="delete without asking")
    session.add_bus_arguments(purge)
    _filters(parser)
    _output(parser)
    session.add_bus_arguments(parser)


def _output(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--output",
        choices=("rich", "json"),
        default="rich",
        help="a table for a person (default) or JSON lines for a program",
    )


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api", help="only this API")
    parser.add_argument("--name", help="only this event (with --api)")
    parser.add_argument("--listener", help="only letters of this listener (or consumer group)")


def main(args: argparse.Namespace) -> int:
    action = args.action or "list"
    work = {"list": _list, "show": _show, "replay": _replay, "purge": _purge}[action]
    return session.run(args, f"deadletters {action}", lambda bus: work(bus, args))


async def _letters(bus: lightbus.Bus, args: argparse.Namespace) -> list[deadletters.DeadLetter]:
    if args.name and not args.api:
        raise Refused("--name needs --api")
    if args.api and args.name:
        letters = await deadletters.read(bus, args.api, args.name, limit=ALL)
    else:
        letters = await deadletters.read(bus, limit=ALL)
        letters = [x for x in letters if args.api is None or x.api == args.api]
    wanted = args.listener
    return [x for x in letters if wanted is None or wanted in (x.group, x.listener)]


async def _list(bus: lightbus.Bus, args: argparse.Namespace) -> int:
    groups = await redrive.summarize(bus, await _letters(bus, args))
    if args.output == "json":
        for row in groups:
            print(json.dumps(dataclasses.asdict(row)))
        return OK
    if not groups:
        out.print("no dead letters")
        return OK
    table = Table("event", "listener", "error", "count", "redriven", "first", "last")
    for row in groups:
        table.add_row(
            f"{row.api}.{row.name}",
            row.group,
            row.error_type or "-",
            str(row.count),
            str(row.redriven),
            _time(row.first_ts),
            _time(row.last_ts),
        )
    out.print(table)
    return OK


def _time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


async def _show(bus: lightbus.Bus, args: argparse.Namespace) -> int:
    wanted = args.letter_id.strip().lower()
    letters = await deadletters.read(bus, limit=ALL)
    found = [x for x in letters if wanted in (x.stream_id, x.message_id)]
    if not found:
        raise Refused(f"no dead letter has the id {args.letter_id} (or is of that message)")
    for letter in found:
        marks = await redrive.redriven(bus, letter.api, letter.name)
        out.print(f"dead letter {letter.stream_id} of {letter.api}.{letter.name}", markup=False)
        out.print(f"  message: {letter.message_id}", markup=False)
        out.print(f"  listener: {letter.group} after {letter.attempts} attempts", markup=False)
        out.print(f"  when: {_time(letter.ts)} UTC", markup=False)
        out.print(f"  error: {letter.error_type}: {letter.error}", markup=False)
        if letter.stream_id in marks:
            out.print(f"  redriven as: {marks[letter.stream_id]}", markup=False)
        try:
            out.print(f"  payload: {json.dumps(letter.message().kwargs)}", markup=False)
        except ValueError as exc:
            out.print(f"  payload: {exc}", markup=False)
        if letter.traceback:
            out.print(letter.traceback.rstrip(), markup=False)
    return OK


async def _replay(bus: lightbus.Bus, args: argparse.Namespace) -> int:
    letters = await _letters(bus, args)
    plans, skipped = await redrive.letter_plans(bus, letters, force=args.force, reason=args.reason)
    session.show_many(plans, [(x.stream_id, why) for x, why in skipped], each=args.dry_run)
    if not plans:
        out.print("nothing to redrive")
        return OK
    if args.dry_run:
        out.print("dry run: nothing sent")
        return OK
    session.confirm(args, f"Redrive {len(plans)} dead letters?")
    code = await session.send_all(bus, plans, args)
    if code == session.STOPPED:
        out.print("redriven letters are marked: the same command sends the rest")
    return code


async def _purge(bus: lightbus.Bus, args: argparse.Namespace) -> int:
    count = await deadletters.count(bus, args.api, args.name)
    session.confirm(args, f"Delete {count} dead letters of {args.api}.{args.name}?")
    deleted = await redrive.purge(bus, args.api, args.name)
    out.print(f"deleted {deleted} dead letters of {args.api}.{args.name}", markup=False)
    return OK
