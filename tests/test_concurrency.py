"""Per-listener concurrency: listen(..., concurrency=N) bounds the handlers of one listener
running at once in a process; concurrency=1 handles the events one at a time, in order."""

from __future__ import annotations

import asyncio
import random
import threading

import pytest
from support import reach

from lightbus import Api, Event


class WorkApi(Api):
    job = Event(parameters=("n",))

    class Meta:
        name = "work"


async def test_an_async_listener_runs_at_most_its_concurrency_at_once(serve, caller):
    running = peak = 0
    done: list[int] = []
    gate = asyncio.Event()

    async def slow(event, n):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        try:
            async with asyncio.timeout(10):
                await gate.wait()
        finally:
            running -= 1
        done.append(n)

    bus = await serve(
        WorkApi(),
        setup=lambda bus: bus.work.job.listen(slow, listener_name="slow", concurrency=3),
        listener_concurrency=50,
    )
    await caller().work.job.fire_many_async([{"n": i} for i in range(12)])
    await reach(lambda: running == 3)
    await asyncio.sleep(0.3)  # others would have started by now if they could
    assert running == 3
    assert bus.client.runners["slow"].pool.size == 3
    gate.set()
    await reach(lambda: len(done) == 12)
    assert peak == 3


async def test_a_plain_function_listener_runs_at_most_its_concurrency_at_once(serve, caller):
    lock = threading.Lock()
    state = {"running": 0, "peak": 0, "done": 0}
    gate = threading.Event()

    def slow(event, n):
        with lock:
            state["running"] += 1
            state["peak"] = max(state["peak"], state["running"])
        gate.wait(10)
        with lock:
            state["running"] -= 1
            state["done"] += 1

    await serve(
        WorkApi(),
        setup=lambda bus: bus.work.job.listen(slow, listener_name="slow", concurrency=2),
    )
    await caller().work.job.fire_many_async([{"n": i} for i in range(8)])
    await reach(lambda: state["running"] == 2)
    await asyncio.sleep(0.3)
    assert state["running"] == 2
    gate.set()
    await reach(lambda: state["done"] == 8)
    assert state["peak"] == 2


async def test_concurrency_one_handles_events_in_the_order_they_were_fired(serve, caller):
    seen: list[int] = []

    async def ordered(event, n):
        await asyncio.sleep(random.random() / 200)  # later events would overtake if parallel
        seen.append(n)

    await serve(
        WorkApi(),
        setup=lambda bus: bus.work.job.listen(ordered, listener_name="ordered", concurrency=1),
    )
    bus = caller()
    for start in range(0, 60, 20):
        await bus.work.job.fire_many_async([{"n": i} for i in range(start, start + 20)])
    await reach(lambda: len(seen) == 60)
    assert seen == list(range(60))


@pytest.mark.parametrize(
    ("value", "error", "says"),
    [
        (0, ValueError, "1 or more"),
        (-2, ValueError, "1 or more"),
        (1.5, TypeError, "whole number"),
        ("4", TypeError, "whole number"),
        (True, TypeError, "whole number"),
    ],
)
def test_a_bad_concurrency_is_refused(bus_factory, value, error, says):
    bus = bus_factory()
    bus.client.register_api(WorkApi())
    with pytest.raises(error, match=says):
        bus.client.listen([("work", "job")], lambda event, n: None, concurrency=value)
    assert bus.client.listeners == []
