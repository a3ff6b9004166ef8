"""``lightbus fire api.name key=value ...``: fire an event; ``--wait`` for its listeners.

The event is fired as any other (``BusClient.fire``: arguments checked against the
schema, then one ``XADD``). With ``--wait``, the command then follows the trace stream
for the event's records and prints each listener's outcome (handled, failed,
dead-lettered) as it comes, until every listener that existed when it was fired (every
consumer group of the event's stream) is done, or ``--timeout`` seconds pass.
"""

from __future__ import annotations

import argparse

import lightbus
from lightbus_tools.send import command, runtime
from lightbus_tools.send.outcome import wait_for_listeners
from lightbus_tools.send.payload import BadInput
from lightbus_tools.send.report import Sent, overall

EXTRA_ARGUMENTS = "arguments"
DEFAULT_WAIT = 10.0
EXIT = {"ok": command.OK, "failed": command.FAILED, "timeout": command.TIMED_OUT}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    command.add_arguments(parser, "event")
    parser.add_argument(
        "--wait",
        action="store_true",
        help="wait for every listener's outcome and print it (follows the trace stream)",
    )
    parser.add_argument(
        "--timeout",
        type=command.seconds,
        metavar="SECONDS",
        help=f"with --wait: stop waiting after this long (default {DEFAULT_WAIT:g})",
    )


def main(args: argparse.Namespace) -> int:
    if args.timeout is not None and not args.wait:
        report = command.report_for(args)
        bad = BadInput("--timeout bounds --wait; add --wait, or leave --timeout out")
        return command.refuse(report, "fire", bad)
    return command.run(args, "fire", fire)


async def fire(request: command.Request) -> int:
    bus, api, name, report = request.bus, request.api, request.name, request.report
    wait, timeout = request.args.wait, request.args.timeout
    if wait and not runtime.tracing_on(bus):
        raise BadInput(
            "--wait follows the trace stream, and tracing is off (setting trace_enabled); "
            "turn it on, or fire without --wait"
        )
    groups: list[str] = []
    after = ""
    if wait:
        after = await lightbus.TraceReader(bus).last_id()
        groups = await runtime.listener_groups(bus, api, name)
    message = await bus.client.fire(api, name, request.kwargs)
    sent = Sent(api, name, message.id, message.trace_id)
    report.fired(sent, waiting=wait)
    if not wait:
        return command.OK
    limit = timeout or DEFAULT_WAIT
    outcomes = await wait_for_listeners(
        bus, message, groups, after=after, timeout=limit, seen=report.outcome
    )
    report.waited(sent, outcomes, limit)
    return EXIT[overall(outcomes)]
