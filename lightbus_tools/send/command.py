"""What ``lightbus call`` and ``lightbus fire`` share: options, the bus, exit statuses.

Exit statuses (docs/reference/cli-send.md): 0 done; 1 the call raised, a listener
failed, or Redis could not be reached; 2 bad input (the command line, an unknown API or
name, arguments the schema refuses); 3 no answer in time.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import lightbus
from lightbus_tools.send import runtime
from lightbus_tools.send.payload import BadInput, parse_target, payload
from lightbus_tools.send.report import PersonReport, ProgramReport, Sent

OK, FAILED, INVALID, TIMED_OUT = 0, 1, 2, 3

# The runtime's refusals of what was asked for: the caller's mistake, exit 2.
BAD_INPUT: tuple[type[Exception], ...] = (
    lightbus.UnknownApi,
    lightbus.UnknownName,
    lightbus.InvalidArguments,  # ValidationError and NotSerializable too
    lightbus.PayloadTooLarge,
)

Report = PersonReport | ProgramReport


@dataclass
class Request:
    """What to send, where, and how to report it."""

    bus: lightbus.Bus
    api: str
    name: str
    kwargs: dict[str, Any]
    report: Report
    args: argparse.Namespace


# The command's own part: what it does with a request; returns the exit status.
Send = Callable[[Request], Coroutine[Any, Any, int]]


def add_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    """The arguments of both commands; ``what`` is ``RPC`` or ``event``."""
    parser.add_argument(
        "target",
        metavar="API.NAME",
        help=f"the {what}: its API and name joined by a dot, e.g. auth.check_password",
    )
    parser.add_argument(
        "arguments",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="an argument; the value is read as JSON if it is JSON (n=5, flag=true, "
        "tags='[\"a\"]'), else as a string (name=bob)",
    )
    parser.add_argument(
        "--json",
        dest="json_payload",
        metavar="OBJECT",
        help="all arguments as one JSON object; '-' reads it from stdin. KEY=VALUE "
        "arguments add to it",
    )
    parser.add_argument(
        "--output",
        choices=("rich", "json"),
        default="rich",
        help="rich text for a person (default) or one JSON object for a program",
    )
    parser.add_argument(
        "--bus",
        dest="module",
        metavar="MODULE",
        help="the bus module whose schemas to use before the live ones (default: "
        "LIGHTBUS_MODULE or 'bus', if there is one)",
    )
    parser.add_argument("--redis-url", help="the Redis of the bus (default: from settings)")


def report_for(args: argparse.Namespace) -> Report:
    return ProgramReport() if args.output == "json" else PersonReport()


def seconds(text: str) -> float:
    """An argparse type: a positive number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: give a positive number of seconds")
    return value


def run(args: argparse.Namespace, command: str, send: Send) -> int:
    """Parse what to send, open the bus, run ``send`` on it; report what stops it."""
    report = report_for(args)
    try:
        api, name = parse_target(args.target)
        kwargs = payload(args.arguments, args.json_payload, sys.stdin)
        bus = runtime.open_bus(args.module, args.redis_url)
    except (BadInput, lightbus.LightbusError) as exc:  # also: the bus module does not import
        return refuse(report, command, exc)

    async def guarded() -> int:
        bus.client.bind(asyncio.get_running_loop())
        try:
            return await send(Request(bus, api, name, kwargs, report, args))
        except (BadInput, lightbus.LightbusError) as exc:
            return refuse(report, command, exc)
        finally:
            await bus.client.close()

    return asyncio.run(guarded())


def refuse(report: Report, command: str, exc: Exception, sent: Sent | None = None) -> int:
    """Report ``exc`` as the reason nothing (more) can be done; return the exit status."""
    bad = isinstance(exc, (BadInput, *BAD_INPUT))
    kind = "BadInput" if isinstance(exc, BadInput) else type(exc).__name__
    report.refused("invalid" if bad else "error", kind, f"lightbus {command}: error: {exc}", sent)
    return INVALID if bad else FAILED
