"""A deterministic bus for the monitor's snapshots: written straight into the test Redis.

The "order 42" story of ``monitor_records.order_scene`` as trace records with fixed
stream ids, two workers (one stale), an event stream with two consumer groups (one
behind, with an entry one failure from the dead letters) and three dead letters. With
the model's clock fixed at :data:`NOW`, every figure on every screen is the same on
every run.
"""

from __future__ import annotations

import redis.asyncio as aioredis
from monitor_records import BASE_MS, message_id, order_scene, trace_id

from lightbus.deadletter import DeadLetter
from lightbus.keys import Keys
from lightbus.message import Message
from lightbus.registry import Heartbeat, publish_heartbeat

NOW = BASE_MS / 1000 + 90  # the model's clock: 90 s after the story began
WHERE = "redis://localhost:6379/0"  # shown in the status bar instead of the test's port
EVENT_IDS = (5, 1000, 30_000, 40_000, 50_000)  # ms after BASE_MS of the event stream entries


async def write_scene(redis_url: str) -> list:
    """Write the scene; returns its trace records, oldest first."""
    keys = Keys()
    redis = aioredis.Redis.from_url(redis_url)
    records = order_scene()
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for record in records:
                pipe.xadd(keys.trace, record.to_fields(), id=record.stream_id)
            publish_heartbeat(pipe, keys, _beat("parts", "parts-1", ["reserve_parts"], NOW - 2))
            publish_heartbeat(pipe, keys, _beat("billing", "billing-1", ["send_invoice"], NOW - 2))
            publish_heartbeat(pipe, keys, _beat("sales", "sales-1", [], NOW - 40))
            await pipe.execute()
        await _streams(redis, keys)
        await _dead_letters(redis, keys, records)
    finally:
        await redis.aclose()
    return records


def _beat(service: str, process: str, listeners: list[str], ts: float) -> Heartbeat:
    apis = ["sales"] if service == "sales" else []
    return Heartbeat(
        service=service,
        process=process,
        host="box",
        pid={"parts": 201, "billing": 202, "sales": 203}[service],
        apis=apis,
        listeners=listeners,
        version="2.0.0",
        in_flight=1 if service == "parts" else 0,
        ts=ts,
        interval=5.0,
    )


async def _streams(redis: aioredis.Redis, keys: Keys) -> None:
    stream = keys.event_stream("sales", "order_placed")
    ids = [f"{BASE_MS + ms}-0" for ms in EVENT_IDS]
    for entry_id in ids:
        await redis.xadd(stream, {"m": b"{}"}, id=entry_id)
    # Billing keeps up: read everything, acknowledged everything.
    await redis.xgroup_create(stream, "billing.send_invoice", id="0")
    await redis.xreadgroup("billing.send_invoice", "billing-1", {stream: ">"})
    await redis.xack(stream, "billing.send_invoice", *ids)
    # Parts is behind: 3 of 5 read, 2 of those unacknowledged, the oldest delivered 4 times.
    await redis.xgroup_create(stream, "parts.reserve_parts", id="0")
    await redis.xreadgroup("parts.reserve_parts", "parts-1", {stream: ">"}, count=3)
    await redis.xack(stream, "parts.reserve_parts", ids[1])
    await redis.xclaim(
        stream, "parts.reserve_parts", "parts-1", 0, [ids[0]], retrycount=4, justid=True
    )


async def _dead_letters(redis: aioredis.Redis, keys: Keys, records: list) -> None:
    placed = records[1]
    letters = [
        (placed.id, 42, "parts.OutOfStock", "no kettle in stock for order 42", 320),
        (message_id(BASE_MS + 60_000, 60), 60, "parts.OutOfStock", "no toaster in stock", 60_100),
        (message_id(BASE_MS + 70_000, 70), 70, "KeyError", "'sku'", 70_100),
    ]
    for mid, order, error_type, error, at in letters:
        message = Message(
            id=mid,
            kind="event",
            api="sales",
            name="order_placed",
            trace_id=trace_id(order),
            span_id=f"{order:016x}",
            service="sales",
            kwargs={"order_id": order, "product": "kettle"},
        )
        letter = DeadLetter(
            api="sales",
            name="order_placed",
            listener="reserve_parts",
            group="parts.reserve_parts",
            stream=keys.event_stream("sales", "order_placed"),
            entry_id=f"{BASE_MS + at - 10}-0",
            message_id=mid,
            attempts=3,
            error_type=error_type,
            error=error,
            traceback=f"Traceback (most recent call last):\n  ...\n{error_type}: {error}",
            ts=BASE_MS + at,
            raw=message.to_json(),
        )
        await redis.xadd(
            keys.dead_letters("sales", "order_placed"), letter.to_fields(), id=f"{BASE_MS + at}-0"
        )
