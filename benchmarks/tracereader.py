"""The trace reader's intake: records per second read from Redis and parsed.

A stream of real trace records (as the bus writes them, with a small payload) is
filled once; the public reader then reads it from the start. The floor is the same
``XRANGE`` batches with no parsing: what Redis and redis-py cost by themselves.
"""

from __future__ import annotations

import time
from typing import Any

import redis.asyncio as aioredis

import lightbus
from lightbus import trace
from lightbus.settings import Settings

BATCH = 1000


def reader_name() -> str:
    """Which reader this run measures: the public ``read_trace`` when it exists."""
    return "lightbus.read_trace" if hasattr(lightbus, "read_trace") else "TraceRecord.from_fields"


async def fill(url: str, prefix: str, records: int) -> str:
    """Write ``records`` real trace records to the trace stream of ``prefix``; its key."""
    settings = Settings(redis_url=url, prefix=prefix)
    client = lightbus.BusClient(settings)
    key: str = client.keys.trace
    message = client.make_message("event", "bench", "tick", kwargs={"run": "r", "total": 1})
    record = client.tracer.for_message(trace.EVENT_FIRED, message)
    fields = record.to_fields()
    redis = aioredis.Redis.from_url(url)
    try:
        await redis.delete(key)
        for start in range(0, records, BATCH):
            async with redis.pipeline(transaction=False) as pipe:
                for _ in range(min(BATCH, records - start)):
                    pipe.xadd(key, fields)
                await pipe.execute()
    finally:
        await redis.aclose()
        await client.close()
    return key


async def _xrange_batches(redis: Any, key: str) -> Any:
    last = "-"
    while True:
        entries = await redis.xrange(key, min=last, count=BATCH)
        if last != "-":
            entries = entries[1:]
        if not entries:
            return
        yield entries
        last = entries[-1][0]


async def read_raw(url: str, key: str) -> tuple[int, float]:
    """(entries, seconds) to XRANGE the whole stream without parsing."""
    redis = aioredis.Redis.from_url(url)
    try:
        count = 0
        started = time.perf_counter()
        async for entries in _xrange_batches(redis, key):
            count += len(entries)
        return count, time.perf_counter() - started
    finally:
        await redis.aclose()


async def read_parsed(url: str, prefix: str) -> tuple[int, float]:
    """(records, seconds) to read and parse the whole stream with the public reader."""
    if hasattr(lightbus, "read_trace"):
        bus = lightbus.create(redis_url=url, prefix=prefix)
        try:
            count = 0
            started = time.perf_counter()
            async for _record in lightbus.read_trace(bus):
                count += 1
            return count, time.perf_counter() - started
        finally:
            await bus.client.close()
    redis = aioredis.Redis.from_url(url)
    try:
        count = 0
        started = time.perf_counter()
        async for entries in _xrange_batches(redis, f"{prefix}:trace"):
            for entry_id, fields in entries:
                trace.TraceRecord.from_fields(entry_id.decode(), fields)
                count += 1
        return count, time.perf_counter() - started
    finally:
        await redis.aclose()
