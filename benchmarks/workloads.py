"""The timed workloads: each takes a side and returns what it measured.

A workload never decides what is good; :mod:`benchmarks.suite` runs them round by
round against every side and :mod:`benchmarks.report` turns the samples into ratios.
"""

from __future__ import annotations

import asyncio
import time

from benchmarks.sides import Side, new_run


async def rpc_latencies(
    side: Side, calls: int, *, ten: bool = False, plain: bool = False
) -> list[float]:
    """Sequential trivial calls; the round-trip time of each, in seconds.

    ``plain``: the method is a plain ``def`` (it runs on the bus's handler threads)."""
    samples: list[float] = []
    clock = time.perf_counter
    for _ in range(calls):
        started = clock()
        await (side.call_ten() if ten else side.call(plain=plain))
        samples.append(clock() - started)
    return samples


async def events_sequential(side: Side, events: int, *, plain: bool = False) -> float:
    """One producer awaiting each fire; events/s from the first fire to the last handled.

    ``plain``: the listener is a plain ``def`` (it runs on the bus's handler threads)."""
    run = new_run()
    started = time.perf_counter()
    for _ in range(events):
        await side.fire(run, events, plain=plain)
    await side.wait_done(run)
    return events / (time.perf_counter() - started)


async def events_concurrent(side: Side, events: int, window: int) -> float:
    """Fires issued ``window`` at a time without waiting for each; end-to-end events/s."""
    run = new_run()
    started = time.perf_counter()
    left = events
    while left:
        batch = min(window, left)
        await asyncio.gather(*(side.fire(run, events) for _ in range(batch)))
        left -= batch
    await side.wait_done(run)
    return events / (time.perf_counter() - started)


async def events_batch(side: Side, events: int, window: int) -> float:
    """Fires sent ``window`` at a time as one batch (``fire_many``); end-to-end events/s."""
    run = new_run()
    started = time.perf_counter()
    left = events
    while left:
        batch = min(window, left)
        await side.fire_many(run, events, batch)
        left -= batch
    await side.wait_done(run)
    return events / (time.perf_counter() - started)


async def warm_up(side: Side, calls: int = 20) -> None:
    for _ in range(calls):
        await side.call()
        await side.call(plain=True)
    await events_sequential(side, calls)
    await events_sequential(side, calls, plain=True)
