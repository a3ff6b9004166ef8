"""The bus across event loops, forks, starts and teardowns (issue 13's runtime defects).

- A process forked from one that used the bus (gunicorn, multiprocessing) gets a working
  bus, under a process name (consumer name) of its own; nothing waits without a bound.
- A blocking call whose event loop stops meanwhile raises instead of waiting forever.
- Rebinding the client to a new loop closes the connections of the old one.
- ``listen()`` inside a running loop raises a misspelt event to its caller.
- A loop teardown does not restart the handler pool's cancelled tasks.
- ``Worker.run`` starts the RPC server only after the start hooks, and cleans up (stop
  recorded, heartbeat removed, connections closed) when its start fails.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
from typing import Any

import pytest
import redis.asyncio

import lightbus
from lightbus import Api, BusClosedError, Event, UnknownName
from lightbus.consumer.pool import HandlerPool
from lightbus.registry import list_workers
from lightbus.worker import Worker


class ShopApi(Api):
    placed = Event(parameters=("n",))

    class Meta:
        name = "shop"


def _fire_in_child(bus: Any, results: Any) -> None:
    """The child's side: fire with the bus the parent used; report who sent it."""
    try:
        message = bus.shop.placed.fire(n=2)
        results.put(("ok", message.process, message.pid, os.getpid()))
    except BaseException as exc:  # the parent shows what went wrong
        results.put(("error", repr(exc), 0, os.getpid()))


def test_a_forked_child_gets_a_working_bus_and_a_process_name_of_its_own(bus_factory, raw_redis):
    bus = bus_factory()
    bus.client.register_api(ShopApi())
    parent = bus.shop.placed.fire(n=1)  # the parent's loop thread and connections exist now
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    child = context.Process(target=_fire_in_child, args=(bus, results))
    child.start()
    try:
        status, process, pid, child_pid = results.get(timeout=20)
    finally:
        child.join(10)
        if child.is_alive():
            child.kill()
            child.join(5)
    assert status == "ok", process
    assert pid == child_pid != os.getpid()
    assert process != parent.process  # the consumer name of its listeners: not shared
    assert process.endswith(f"-{child_pid}")
    assert raw_redis.xlen("lightbus:event:shop.placed") == 2
    # And the parent's bus still works after the fork.
    assert bus.shop.placed.fire(n=3).process == parent.process


def test_a_blocking_call_whose_loop_stops_raises_instead_of_waiting(bus_factory):
    bus = bus_factory(rpc_timeout=60)
    bus.client.register_api(ShopApi())
    bus.shop.placed.fire(n=1)  # starts the bus's loop thread
    outcome: list[BaseException | None] = []

    class Waits(Api):
        class Meta:
            name = "waits"

        def forever(self) -> None: ...

    bus.client.register_api(Waits())

    def call() -> None:
        try:
            bus.waits.forever()  # nobody serves it: waits up to rpc_timeout (60 s)
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call, daemon=True)
    caller.start()
    loop = bus.client.loop
    assert loop is not None
    loop.call_soon_threadsafe(loop.stop)  # the loop goes away under the waiting call
    caller.join(15)
    assert not caller.is_alive(), "the blocking call is still waiting on a stopped loop"
    assert isinstance(outcome[0], BusClosedError)
    assert "bus.waits.forever()" in str(outcome[0])


def test_rebinding_to_a_new_loop_closes_the_old_loops_connections(bus_factory, raw_redis):
    bus = bus_factory()
    bus.client.register_api(ShopApi())

    async def use() -> None:
        await bus.shop.placed.fire_async(n=1)
        await bus.client.redis.ping()

    def clients() -> int:
        return len(raw_redis.client_list())

    asyncio.run(use())
    after_first = clients()
    asyncio.run(use())  # a new loop: the client rebinds to it
    asyncio.run(use())
    assert clients() == after_first
    asyncio.run(bus.client.close())


async def test_listen_in_a_running_loop_raises_a_misspelt_event_to_the_caller(caller):
    bus = caller()
    bus.client.register_api(ShopApi())

    def handler(event: Any, n: int) -> None: ...

    with pytest.raises(UnknownName, match="placd"):
        bus.shop.placd.listen(handler, listener_name="typo")
    assert [lst.name for lst in bus.client.listeners] == []
    # Spelt right, it starts (in the background) as before.
    bus.shop.placed.listen(handler, listener_name="right")
    assert [lst.name for lst in bus.client.listeners] == ["right"]


async def test_a_loop_teardown_does_not_restart_the_handler_pools_tasks():
    async def handle(item: Any) -> None: ...

    async def finish() -> None: ...

    pool: HandlerPool[Any] = HandlerPool(2, handle, finish=finish, name="pool")
    cleaning_up = asyncio.Event()
    cleaned_up = asyncio.Event()

    async def owner() -> None:
        """A listener's reading loop: its clean-up awaits before it closes the pool."""
        pool.start()
        try:
            await asyncio.Event().wait()
        finally:
            cleaning_up.set()
            await cleaned_up.wait()
            pool.close()

    task = asyncio.create_task(owner())
    await asyncio.sleep(0)
    handlers = set(pool.tasks)
    assert len(handlers) == 2
    # Cancelled from outside while the listener goes on: the slot is kept alive.
    first = next(iter(handlers))
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    await asyncio.sleep(0)
    assert len(pool.tasks) == 2 and first not in pool.tasks
    # A teardown cancels every task at once: none may be started in their place (it
    # would be left pending when the loop closes: "Task was destroyed but it is pending!").
    handlers = set(pool.tasks)
    for each in [*handlers, task]:
        each.cancel()
    await asyncio.gather(*handlers, return_exceptions=True)
    await asyncio.wait_for(cleaning_up.wait(), 5)
    await asyncio.sleep(0)  # the pool's done callbacks have run
    started_meanwhile = set(pool.tasks)
    cleaned_up.set()
    await asyncio.gather(task, *started_meanwhile, return_exceptions=True)
    assert started_meanwhile == set()


async def test_the_worker_serves_calls_only_after_its_start_hooks(redis_url, caller):
    prepared: list[str] = []

    class Ready(Api):
        class Meta:
            name = "ready"

        async def check(self) -> bool:
            return bool(prepared)

    client_bus = caller()
    client_bus.client.register_api(Ready())  # the caller knows the API without a worker
    call = asyncio.create_task(client_bus.ready.check.call_async(bus_options={"timeout": 20}))
    await asyncio.sleep(0.2)  # the call waits on the queue before the worker exists

    bus = lightbus.create(redis_url=redis_url)
    bus.client.register_api(Ready())

    @bus.client.on_start()
    async def prepare(**_: Any) -> None:
        await asyncio.sleep(0.5)  # a hook that takes a moment (opening a database...)
        prepared.append("done")

    worker = Worker(bus.client)
    run = asyncio.create_task(worker.run(install_signals=False))
    try:
        assert await asyncio.wait_for(call, 20) is True
    finally:
        bus.client.request_stop("test over")
        await asyncio.wait_for(run, 15)


async def test_a_worker_whose_start_fails_cleans_up_and_raises(redis_url):
    bus = lightbus.create(redis_url=redis_url, service_name="failing")
    bus.client.register_api(ShopApi())

    @bus.client.on_start()
    def broken(**_: Any) -> None:
        raise RuntimeError("the database is not there")

    with pytest.raises(RuntimeError, match="the database is not there"):
        await asyncio.wait_for(Worker(bus.client).run(install_signals=False), 20)
    async_redis = redis.asyncio.Redis.from_url(redis_url)
    try:
        workers = await list_workers(async_redis, bus.client.keys, include_dead=True)
    finally:
        await async_redis.aclose()
    assert workers == []  # its heartbeat is gone: no tool shows it as running
    steps = [r.record async for r in lightbus.read_trace(bus)]
    await bus.client.close()
    assert steps[-2:] == ["worker.started", "worker.stopped"]
    assert not bus.client.running_worker
