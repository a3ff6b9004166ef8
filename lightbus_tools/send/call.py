"""``lightbus call api.name key=value ...``: call an RPC, print its result or its error.

The call is an ordinary one (``BusClient.call``): arguments checked against the schema
(the bus module's, else the live one), the result checked on the way back. It runs in a
trace of its own, whose ``rpc.called`` record gives the message id to print.
"""

from __future__ import annotations

import argparse
import time

import lightbus
from lightbus_tools.send import command, outcome, runtime
from lightbus_tools.send.report import Sent

# Key=value pairs that come after an option land here too (lightbus.cli).
EXTRA_ARGUMENTS = "arguments"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    command.add_arguments(parser, "RPC")
    parser.add_argument(
        "--timeout",
        type=command.seconds,
        metavar="SECONDS",
        help="give up after this long (default: the rpc_timeout setting)",
    )


def main(args: argparse.Namespace) -> int:
    return command.run(args, "call", call)


async def call(request: command.Request) -> int:
    bus, api, name, report = request.bus, request.api, request.name, request.report
    tracing = runtime.tracing_on(bus)
    after = await lightbus.TraceReader(bus).last_id() if tracing else ""
    error: Exception | None = None
    with lightbus.start_trace() as trace:
        sent = Sent(api, name, trace_id=trace.trace_id)
        started = time.perf_counter()
        try:
            result = await bus.client.call(api, name, request.kwargs, timeout=request.args.timeout)
        except (lightbus.RemoteError, lightbus.RpcTimeout, *command.BAD_INPUT) as exc:
            if isinstance(exc, command.BAD_INPUT) and not _refused_remotely(exc):
                return command.refuse(report, "call", exc)  # refused here: nothing was sent
            error = exc
        sent.duration_ms = (time.perf_counter() - started) * 1000
    if tracing:
        sent.id = await _id(bus, sent, after)
    if error is not None:
        return _failed(report, sent, error)
    report.called(sent, result)
    return command.OK


def _refused_remotely(exc: Exception) -> bool:
    """A ValidationError raised by the worker: the call went out, and has an id."""
    return isinstance(exc, lightbus.ValidationError) and exc.side == "worker"


async def _id(bus: lightbus.Bus, sent: Sent, after: str) -> str:
    found = await outcome.call_id(
        bus, after=after, trace_id=sent.trace_id, api=sent.api, name=sent.name
    )
    return found or ""


def _failed(report: command.Report, sent: Sent, exc: Exception) -> int:
    if isinstance(exc, lightbus.RemoteError):
        report.remote_error(sent, exc.remote_type, exc.remote_message, exc.remote_traceback)
        return command.FAILED
    if isinstance(exc, lightbus.RpcTimeout):
        report.timed_out(sent, exc.timeout, exc.served, f"lightbus call: {exc}")
        return command.TIMED_OUT
    return command.refuse(report, "call", exc, sent)
