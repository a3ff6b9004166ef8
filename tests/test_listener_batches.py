"""A listener with a backlog reads it in batches, not one round trip per event."""

from __future__ import annotations

import asyncio

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
