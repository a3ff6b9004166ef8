"""A worker's graceful stop, bounded in time whatever Redis does.

From the signal on:

1. **Stop reading.** The RPC server and every listener stop taking work. With a Redis
   that answers they return within a second (no read blocks longer); a read still
   waiting after :data:`READERS_STOP` seconds (Redis frozen or gone) is cancelled, and
   whatever its lost reply delivered stays pending for redelivery.
2. **Let in-flight work finish**: event handlers, RPC calls and scheduled ticks, until
   ``shutdown_grace`` seconds after the signal.
3. **Hand back** what is still running: it is cancelled, and its events are made
   claimable at once by the group's live consumers (:meth:`ListenerRunner.hand_back`).
   Events whose handler finished but whose acknowledgement could not be written are
   handed back too.
4. **Say what stays pending**, run the ``on_stop`` hooks, write ``worker.stopped``, close
   the connections.

Steps 3 and 4 share :data:`STOP_MARGIN` seconds past the grace (the hand-back at most
:data:`HAND_BACK_SECONDS` of them, so the hooks still get their turn). With Redis frozen
or down, a write that does not answer in that time is given up (nothing is lost: the
events stay pending and are redelivered), so a stop ends within
``max(shutdown_grace, READERS_STOP) + STOP_MARGIN`` seconds of the signal.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from lightbus import registry, trace
from lightbus.connection import describe, guarded

if TYPE_CHECKING:
    from lightbus.client import BusClient
    from lightbus.consumer import Entry, ListenerRunner
    from lightbus.rpc.server import RpcServer

logger = logging.getLogger("lightbus.worker")

T = TypeVar("T")

# A read blocks at most a second on a Redis that answers; one still waiting after this
# long is waiting on a Redis that does not.
READERS_STOP = 2.0
# Past the grace: handing back, the stop hooks, the last records, closing.
STOP_MARGIN = 3.0
# The hand-back's share of it, so the hooks (which may not need Redis) still run.
HAND_BACK_SECONDS = 1.5


class Stop:
    """The clock of one stop: when the grace ends and when everything must be done."""

    def __init__(self, grace: float) -> None:
        self.loop = asyncio.get_running_loop()
        began = self.loop.time()
        self.grace = grace
        self.grace_end = began + grace
        self.deadline = max(self.grace_end, began + READERS_STOP) + STOP_MARGIN

    def left(self) -> float:
        """Seconds until the stop must be over."""
        return max(0.0, self.deadline - self.loop.time())

    async def within(self, work: Awaitable[T], what: str, at_most: float | None = None) -> T | None:
        """Await ``work`` until the deadline (or ``at_most`` seconds); then give it up."""
        end = self.deadline
        if at_most is not None:
            end = min(end, self.loop.time() + at_most)
        try:
            async with asyncio.timeout_at(end) as limit:
                return await work
        except TimeoutError:
            if not limit.expired():
                raise
            logger.warning(
                "Gave up on %s: Redis did not answer within the stop's bound "
                "(shutdown_grace + %gs)",
                what,
                STOP_MARGIN,
            )
            return None


async def settle(tasks: Iterable[asyncio.Task[Any]], timeout: float) -> None:
    """Wait up to ``timeout`` s for ``tasks``; cancel those still running, briefly wait."""
    running = [task for task in tasks if not task.done()]
    if not running:
        return
    _, late = await asyncio.wait(running, timeout=timeout)
    for task in late:
        task.cancel()
    if late:
        await asyncio.wait(late, timeout=1.0)


async def stop_worker(
    client: BusClient,
    rpc: RpcServer,
    readers: list[asyncio.Task[Any]],
    schedules: list[asyncio.Task[Any]],
    hooks: Callable[[Stop], Awaitable[None]],
) -> Stop:
    """Steps 1 to 4 above; returns the stop's clock (closing is bounded by it too).

    ``readers``: the worker's own reading tasks (the RPC server's); the listeners' are
    the client's. ``hooks`` runs the ``on_stop`` hooks within the stop's bound.
    """
    stop = Stop(client.settings.shutdown_grace)
    rpc.stop()
    runners = list(client.runners.values())
    for runner in runners:
        runner.stop()
    readers = [*readers, *(r.task for r in runners if r.task is not None)]
    await settle(readers, READERS_STOP)  # after this no new handler starts
    in_flight = set(rpc.in_flight) | set(schedules)
    for runner in runners:
        in_flight |= runner.in_flight
    running = sum(runner.pool.busy for runner in runners) + len(rpc.in_flight)
    left = max(0.0, stop.grace_end - stop.loop.time())
    if running:
        logger.info("Waiting up to %.1fs (shutdown_grace) for %s", left, _count(running, "handler"))
    unfinished: set[asyncio.Task[Any]] = set()
    if in_flight:
        _, unfinished = await asyncio.wait(in_flight, timeout=left)
    if unfinished:
        await _hand_back(stop, rpc, runners, unfinished)
    await hooks(stop)
    await stop.within(record_stop(client), "recording the stop")
    return stop


async def _hand_back(
    stop: Stop, rpc: RpcServer, runners: list[ListenerRunner], unfinished: set[asyncio.Task[Any]]
) -> None:
    """Cancel what outlived the grace; hand its events to the group's other consumers."""
    cut = {runner: runner.unfinished() for runner in runners}
    calls = len(unfinished & rpc.in_flight)
    for task in unfinished:
        task.cancel()
    await asyncio.wait(unfinished, timeout=1.0)
    if calls:
        logger.warning(
            "%s did not finish within shutdown_grace (%gs); their callers get RpcTimeout",
            _count(calls, "RPC call"),
            stop.grace,
        )
    for runner, entries in cut.items():
        # Handled, but the acknowledgement is not written (Redis slow or away).
        known = {id(entry) for entry in entries}
        unacked = [e for e in runner.held.values() if e.acking and id(e) not in known]
        if not entries and not unacked:
            continue
        handed = await stop.within(
            runner.hand_back([*entries, *unacked]),
            f"handing back events of {runner.group}",
            at_most=HAND_BACK_SECONDS,
        )
        _report_pending(stop, runner, entries, unacked, bool(handed))


def _report_pending(
    stop: Stop, runner: ListenerRunner, cut: list[Entry], unacked: list[Entry], handed: bool
) -> None:
    settings = runner.parts.settings
    parts = []
    if cut:
        parts.append(f"{len(cut)} unfinished when shutdown_grace ({stop.grace:g}s) ended")
    if unacked:
        parts.append(f"{len(unacked)} handled but not acknowledged")
    if handed:
        then = "handed back: a live worker of the group takes them at once"
    else:
        then = (
            f"Redis did not answer, so they are redelivered after ack_timeout "
            f"({settings.ack_timeout:g}s), or at once by a worker started as "
            f"{settings.process_name!r}"
        )
    ids = ", ".join(e.entry_id for e in [*cut, *unacked][:5])
    more = ", ..." if len(cut) + len(unacked) > 5 else ""
    logger.warning(
        "%s of listener %s stay pending (%s; entries %s%s); %s",
        _count(len(cut) + len(unacked), "event"),
        runner.listener.name,
        ", ".join(parts),
        ids,
        more,
        then,
    )


def _count(number: int, thing: str) -> str:
    return f"{number} {thing}" if number == 1 else f"{number} {thing}s"


async def record_stop(client: BusClient) -> None:
    """Remove the worker's heartbeat and write its ``worker.stopped`` record (best effort)."""
    record = client.tracer.worker_record(
        trace.WORKER_STOPPED, os.getpid(), reason=client.stop_reason
    )
    try:
        async with client.redis.pipeline(transaction=False) as pipe:
            registry.remove_heartbeat(pipe, client.keys, client.settings.process_name)
            client.tracer.add(pipe, record)
            await guarded(client.settings, pipe.execute())
    except Exception as exc:
        logger.warning("Could not record the stop: %s", describe(exc))
