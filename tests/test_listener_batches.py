"""A listener with a backlog reads it in batches, not one round trip per event."""

from __future__ import annotations

import asyncio
import contextvars

from support import reach

import lightbus
from lightbus import Api, BusClient, Event, Settings


class ShopApi(Api):
    order_placed = Event(parameters=("n",))

    class Meta:
        name = "shop"


async def test_a_backlog_is_read_in_batches_of_free_slots(redis_url, raw_redis):
    client = BusClient(Settings(redis_url=redis_url, listener_concurrency=10))
    client.register_api(ShopApi())
    for n in range(200):
        await client.fire("shop", "order_placed", {"n": n})
    seen: list[int] = []
    done = asyncio.Event()

    async def handler(event, n):
        seen.append(n)
        if len(seen) == 200:
            done.set()

    raw_redis.config_resetstat()
    listener = client.listen([("shop", "order_placed")], handler, listener_name="t", since="0")
    await client.start_listener(listener)
    await asyncio.wait_for(done.wait(), 30)
    reads = raw_redis.info("commandstats")["cmdstat_xreadgroup"]["calls"]
    await client.close()
    assert sorted(seen) == list(range(200))
    # 200 entries, 10 handler slots: 20 reads of 10 (plus the start-up read of the own
    # pending entries). Reading as soon as any slot is free takes 40 to 50.
    assert reads <= 30, reads


async def test_a_batch_is_acknowledged_in_few_xacks_and_only_what_was_handled(redis_url, raw_redis):
    """Acks of one batch share an XACK; an entry whose handler raised is not among them."""
    client = BusClient(Settings(redis_url=redis_url, listener_concurrency=10, retry_backoff=0.01))
    client.register_api(ShopApi())
    await client.fire_many("shop", "order_placed", [{"n": n} for n in range(200)])
    handled: list[int] = []
    failures: list[int] = []
    done = asyncio.Event()

    async def handler(event, n):
        if n % 50 == 7:
            failures.append(n)
            raise RuntimeError(f"no {n}")
        handled.append(n)
        if len(handled) == 196:
            done.set()

    raw_redis.config_resetstat()
    listener = client.listen(
        [("shop", "order_placed")], handler, listener_name="t", since="0", max_attempts=1
    )
    await client.start_listener(listener)
    await asyncio.wait_for(done.wait(), 30)
    stream = "lightbus:event:shop.order_placed"

    def settled() -> bool:
        return raw_redis.xpending(stream, "default.t")["pending"] == 0

    for _ in range(200):
        if settled():
            break
        await asyncio.sleep(0.05)
    acks = raw_redis.info("commandstats")["cmdstat_xack"]["calls"]
    letters = raw_redis.xlen("lightbus:dead:shop.order_placed")
    await client.close()
    assert sorted(handled) == [n for n in range(200) if n % 50 != 7]
    assert sorted(failures) == [7, 57, 107, 157]
    assert settled()  # every entry acknowledged: 196 handled, 4 dead-lettered
    assert letters == 4
    # 196 handled entries, 10 slots: about 20 XACKs of ~10 ids (+4 for the dead letters);
    # one XACK per entry would be 200.
    assert acks <= 60, acks


async def test_waiting_async_handlers_run_listener_concurrency_at_once(redis_url, raw_redis):
    """Handlers that wait (I/O) still run side by side: as many as listener_concurrency."""
    client = BusClient(Settings(redis_url=redis_url, listener_concurrency=4))
    client.register_api(ShopApi())
    await client.fire_many("shop", "order_placed", [{"n": n} for n in range(12)])
    gate = asyncio.Event()
    running: set[int] = set()
    most = 0
    done: list[int] = []

    async def handler(event, n):
        nonlocal most
        running.add(n)
        most = max(most, len(running))
        await gate.wait()
        running.discard(n)
        done.append(n)

    listener = client.listen([("shop", "order_placed")], handler, listener_name="t", since="0")
    await client.start_listener(listener)
    await reach(lambda: len(running) >= 4)
    await asyncio.sleep(0.3)  # room to start a fifth, if it would
    assert len(running) == 4
    gate.set()
    await reach(lambda: len(done) >= 12)
    await client.close()
    assert sorted(done) == list(range(12))
    assert most == 4


async def test_handlers_of_one_batch_each_run_in_their_own_events_trace(redis_url, raw_redis):
    """Handled one after another in one task, each handler still sees its own event's trace."""
    client = BusClient(Settings(redis_url=redis_url, listener_concurrency=10))
    client.register_api(ShopApi())
    await client.fire_many("shop", "order_placed", [{"n": n} for n in range(50)])
    seen: dict[int, tuple[str, str]] = {}
    expected: dict[int, tuple[str, str]] = {}

    async def handler(event, n):
        current = lightbus.current_trace()
        assert current is not None
        seen[n] = (current.trace_id, current.message_id)
        expected[n] = (event.trace_id, event.id)

    listener = client.listen([("shop", "order_placed")], handler, listener_name="t", since="0")
    await client.start_listener(listener)
    await reach(lambda: len(seen) >= 50)
    await client.close()
    assert seen == expected
    assert len({trace_id for trace_id, _ in seen.values()}) == 50  # 50 root fires, 50 traces
    assert lightbus.current_trace() is None  # nothing leaked into the caller's context


USER: contextvars.ContextVar[str | None] = contextvars.ContextVar("user", default=None)


async def test_a_context_variable_a_handler_sets_does_not_reach_the_next_event(redis_url):
    client = BusClient(Settings(redis_url=redis_url, listener_concurrency=3))
    client.register_api(ShopApi())
    await client.fire_many("shop", "order_placed", [{"n": n} for n in range(30)])
    seen: dict[int, str | None] = {}

    async def handler(event, n):
        seen[n] = USER.get()
        USER.set(f"user-of-{n}")
        if n % 2:
            await asyncio.sleep(0)  # some handlers wait, some do not

    listener = client.listen([("shop", "order_placed")], handler, listener_name="t", since="0")
    await client.start_listener(listener)
    await reach(lambda: len(seen) >= 30)
    await client.close()
    assert seen == {n: None for n in range(30)}


async def test_a_handler_raising_cancelled_error_is_retried_and_the_listener_goes_on(redis_url):
    """CancelledError from a handler is its failure, not the end of a handler slot."""
    client = BusClient(
        Settings(redis_url=redis_url, listener_concurrency=3, retry_backoff=0.01, max_attempts=3)
    )
    client.register_api(ShopApi())
    await client.fire_many("shop", "order_placed", [{"n": n} for n in range(10)])
    handled: dict[int, int] = {}

    async def handler(event, n):
        if n < 3 and event.attempt == 1:
            raise asyncio.CancelledError  # e.g. it awaited a future someone cancelled
        handled[n] = event.attempt

    listener = client.listen([("shop", "order_placed")], handler, listener_name="t", since="0")
    runner = await client.start_listener(listener)
    await reach(lambda: len(handled) >= 10)
    live = len(runner.pool.tasks)
    await client.close()
    assert handled == {n: 2 if n < 3 else 1 for n in range(10)}
    assert live == 3  # every slot still has its task
