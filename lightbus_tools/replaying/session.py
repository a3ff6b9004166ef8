"""What ``lightbus replay`` and ``lightbus deadletters replay`` share.

Exit statuses: 0 done; 1 a replay failed (a listener failed, the RPC raised) or Redis
could not be reached; 2 refused (nothing sent: an unknown id, an incomplete or invalid
payload, an unknown listener, no worker, no confirmation); 3 no outcome in time;
130 stopped by Ctrl-C (says how far it got).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from rich.console import Console
from rich.progress import Progress

import lightbus
from lightbus import redrive, replay
from lightbus_tools.send import runtime
from lightbus_tools.send.command import seconds

OK, FAILED, REFUSED, TIMED_OUT, STOPPED = 0, 1, 2, 3, 130

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class Refused(Exception):
    """Nothing is sent, for a reason the person must act on (exit 2)."""


def rate(text: str) -> float:
    """An argparse type: messages per second, more than 0."""
    return seconds(text)


def add_bus_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bus",
        dest="module",
        metavar="MODULE",
        help="the bus module whose schemas to use before the live ones (default: "
        "LIGHTBUS_MODULE or 'bus', if there is one)",
    )
    parser.add_argument("--redis-url", help="the Redis of the bus (default: from settings)")


def add_send_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of every replay: confirmation, dry run, reason, pace."""
    parser.add_argument("--yes", "-y", action="store_true", help="send without asking")
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would be sent; send nothing"
    )
    parser.add_argument("--reason", default="", help="why, for the replay.performed record")
    parser.add_argument(
        "--rate", type=rate, metavar="PER_SECOND", help="send at most this many per second"
    )
    parser.add_argument(
        "--timeout",
        type=seconds,
        default=10.0,
        metavar="SECONDS",
        help="how long to wait for the outcome (default 10)",
    )
    add_bus_arguments(parser)


Work = Callable[[lightbus.Bus], Coroutine[Any, Any, int]]


def run(args: argparse.Namespace, command: str, work: Work) -> int:
    """Open the bus and run ``work`` on it; a refusal or a bus error ends it plainly."""
    try:
        bus = runtime.open_bus(args.module, args.redis_url)
    except lightbus.LightbusError as exc:
        err.print(f"lightbus {command}: error: {exc}", markup=False)
        return FAILED

    async def guarded() -> int:
        bus.client.bind(asyncio.get_running_loop())
        try:
            return await work(bus)
        except (Refused, replay.ReplayRefused, lightbus.AmbiguousId) as exc:
            err.print(f"lightbus {command}: refused, nothing sent: {exc}", markup=False)
            return REFUSED
        except lightbus.LightbusError as exc:
            err.print(f"lightbus {command}: error: {exc}", markup=False)
            return FAILED
        finally:
            await bus.client.close()

    return asyncio.run(guarded())


def confirm(args: argparse.Namespace, question: str) -> None:
    """Ask ``question``; raise :class:`Refused` unless the answer is yes (or ``--yes``)."""
    if args.yes:
        return
    if not sys.stdin.isatty():
        raise Refused("no terminal to confirm on: pass --yes to send without asking")
    answer = input(f"{question} [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise Refused("not confirmed")


def show_plan(chosen: replay.Plan) -> None:
    """Exactly what will be sent, and to whom."""
    recorded = chosen.original
    out.print(f"replay of {recorded.kind} {chosen.full_name} {recorded.id}", markup=False)
    out.print(f"  from: {recorded.where}", markup=False)
    if recorded.kind == "rpc":
        out.print(f"  to: {chosen.targets[0]} (one worker serving it)", markup=False)
    elif chosen.to:
        out.print(f"  to: listener {chosen.to} only", markup=False)
    else:
        listed = ", ".join(chosen.targets) or "none (no listener yet)"
        out.print(f"  to: every listener: {listed}", markup=False)
    if chosen.edited:
        out.print("  edited: yes", markup=False)
    if chosen.reason:
        out.print(f"  reason: {chosen.reason}", markup=False)
    out.print(f"  envelope: {json.dumps(chosen.envelope(), sort_keys=True)}", markup=False)
    out.print(f"  payload: {json.dumps(chosen.kwargs, sort_keys=True)}", markup=False)


def show_many(
    plans: Sequence[replay.Plan], skipped: Sequence[tuple[str, str]], *, each: bool = False
) -> None:
    """The plan of a range or a redrive: count, time span, events, targets, left out;
    with ``each``, every message and the payload it will carry."""
    out.print(f"{len(plans)} to replay", markup=False)
    if plans:
        stamps = [p.original.message.sent_at for p in plans if p.original.message.sent_at]
        if stamps:
            out.print(f"  sent between {_time(min(stamps))} and {_time(max(stamps))}")
        events: dict[str, int] = {}
        targets: set[str] = set()
        for chosen in plans:
            events[chosen.full_name] = events.get(chosen.full_name, 0) + 1
            targets.update(chosen.targets)
        for name, count in sorted(events.items()):
            out.print(f"  {name}: {count}", markup=False)
        out.print(f"  to: {', '.join(sorted(targets)) or 'none'}", markup=False)
    for chosen in plans if each else ():
        recorded = chosen.original
        target = chosen.to or "every listener"
        payload = json.dumps(chosen.kwargs, sort_keys=True)
        out.print(f"  {recorded.id} {chosen.full_name} -> {target}: {payload}", markup=False)
    for what, why in skipped:
        out.print(f"  left out {what}: {why}", markup=False)


def _time(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


async def send_all(
    bus: lightbus.Bus, plans: Sequence[replay.Plan], args: argparse.Namespace
) -> int:
    """Send ``plans`` paced by ``--rate`` with progress; Ctrl-C stops between two sends."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, stop.set)
    last = [0]
    bar = Progress(console=err, transient=True) if err.is_terminal else None
    task = bar.add_task("replaying", total=len(plans)) if bar is not None else None

    def progress(state: redrive.Progress) -> None:
        if bar is not None and task is not None:
            bar.update(task, completed=state.done)
            return
        step = max(1, state.total // 20)  # a pipe gets at most 20 lines
        if state.done - last[0] >= step or state.done == state.total:
            last[0] = state.done
            err.print(f"sent {state.done}/{state.total}", markup=False)

    if bar is not None:
        bar.start()
    try:
        state = await redrive.send_many(
            bus,
            plans,
            rate=args.rate,
            on_progress=progress,
            should_stop=stop.is_set,
            timeout=args.timeout,
        )
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        if bar is not None:
            bar.stop()
    for original_id, error in state.failed:
        out.print(f"replay of {original_id} failed: {error}", markup=False)
    if state.stopped:
        out.print(f"stopped: sent {state.done} of {state.total}", markup=False)
        return STOPPED
    out.print(f"sent {state.done} of {state.total}", markup=False)
    return FAILED if state.failed else OK
