"""The monitor's reading loop against the test Redis: history, then live, in batches."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis
from monitor_records import BASE_MS, Maker, order_scene

from lightbus.keys import Keys
from lightbus_tools.monitor.feeder import BusLook, Feeder, LinkChanged, RecordsRead
from lightbus_tools.monitor.source import Source


async def _write(redis_url: str, records) -> None:
    redis = aioredis.Redis.from_url(redis_url)
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for record in records:
                pipe.xadd(Keys().trace, record.to_fields(), id=record.stream_id)
            await pipe.execute()
    finally:
        await redis.aclose()


async def _until(condition, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not met in time"
        await asyncio.sleep(0.02)


async def _feeding(redis_url: str, **options):
    source = Source(redis_url=redis_url)
    updates: list = []
    task = asyncio.create_task(Feeder(source, updates.append, poll_s=0.1, **options).run())
    return source, updates, task


async def _stop(source, task) -> None:
    task.cancel()
    await asyncio.wait([task], timeout=5)
    assert task.done(), "the reader did not stop"
    await source.close()


def _records(updates, *, history: bool) -> list:
    return [
        r for u in updates if isinstance(u, RecordsRead) and u.history is history for r in u.records
    ]


async def test_history_since_a_time_then_live_records_without_gap_or_repeat(redis_url):
    old = order_scene(Maker(BASE_MS))
    recent = order_scene(Maker(BASE_MS + 3_600_000))
    await _write(redis_url, old + recent)
    source, updates, task = await _feeding(redis_url, since_ms=BASE_MS + 3_000_000)
    try:
        await _until(lambda: any(isinstance(u, RecordsRead) and u.history for u in updates))
        assert [r.stream_id for r in _records(updates, history=True)] == [
            r.stream_id for r in recent
        ]
        later = order_scene(Maker(BASE_MS + 7_200_000))
        await _write(redis_url, later)
        await _until(lambda: len(_records(updates, history=False)) == len(later))
        assert [r.stream_id for r in _records(updates, history=False)] == [
            r.stream_id for r in later
        ]
        assert LinkChanged("connected") in updates
        await _until(lambda: any(isinstance(u, BusLook) for u in updates))
    finally:
        await _stop(source, task)


async def test_without_since_it_starts_at_the_newest_record(redis_url):
    await _write(redis_url, order_scene(Maker(BASE_MS)))
    source, updates, task = await _feeding(redis_url, since_ms=None)
    try:
        await _until(lambda: any(isinstance(u, RecordsRead) for u in updates))
        assert _records(updates, history=True) == []
        later = order_scene(Maker(BASE_MS + 60_000))
        await _write(redis_url, later)
        await _until(lambda: len(_records(updates, history=False)) == len(later))
    finally:
        await _stop(source, task)


async def test_a_burst_arrives_in_a_few_batches_not_one_message_per_record(redis_url):
    source, updates, task = await _feeding(redis_url, since_ms=None, flush_s=0.1)
    try:
        await _until(lambda: LinkChanged("connected") in updates)
        burst = [r for n in range(100) for r in order_scene(Maker(BASE_MS + n * 10_000))]
        await _write(redis_url, burst)
        await _until(lambda: len(_records(updates, history=False)) == len(burst))
        batches = [u for u in updates if isinstance(u, RecordsRead) and not u.history]
        assert len(batches) <= 10, len(batches)  # 1,600 records
    finally:
        await _stop(source, task)
