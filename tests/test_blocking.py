"""Blocking reads on a dedicated connection: same answers as redis-py, safe to cancel."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from lightbus import Settings
from lightbus.blocking import BlockingReader


@pytest.fixture
async def reader(redis_url):
    blocking = BlockingReader(Settings(redis_url=redis_url))
    yield blocking
    await blocking.aclose()


async def test_blpop_returns_the_item_or_none_after_the_block(reader, raw_redis):
    raw_redis.rpush("b", "item")
    assert await reader.blpop(["a", "b"], 1) == (b"b", b"item")
    assert await reader.blpop(["a", "b"], 0.1) is None


@pytest.mark.parametrize("protocol", [2, 3])
async def test_xreadgroup_returns_what_redis_py_returns(raw_redis, redis_url, protocol):
    # RESP3 replies with a map of streams, RESP2 with a list: the same result either way.
    reader = BlockingReader(Settings(redis_url=f"{redis_url}?protocol={protocol}"))
    for stream in ("s1", "s2"):
        raw_redis.xgroup_create(stream, "mine", id="0", mkstream=True)
        raw_redis.xgroup_create(stream, "theirs", id="0")
    raw_redis.xadd("s1", {"m": "one", "n": "1"})
    raw_redis.xadd("s2", {"m": "two"})
    streams = {"s1": ">", "s2": ">"}
    ours = await reader.xreadgroup("mine", "c", streams, count=10, block=100)
    client = aioredis.Redis.from_url(redis_url, protocol=2)
    theirs = await client.xreadgroup("theirs", "c", streams, count=10, block=100)
    await client.aclose()
    assert [(s, list(e)) for s, e in ours] == [(s, list(e)) for s, e in theirs]
    assert await reader.xreadgroup("mine", "c", streams, count=10, block=50) == []
    await reader.aclose()


async def test_a_cancelled_read_does_not_swallow_the_next_item(reader, raw_redis, redis_url):
    waiting = asyncio.create_task(reader.blpop(["q"], 5))
    await asyncio.sleep(0.1)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    raw_redis.rpush("q", "next")
    other = BlockingReader(Settings(redis_url=redis_url))
    assert await other.blpop(["q"], 2) == (b"q", b"next")
    await other.aclose()
    raw_redis.rpush("q", "again")
    assert await reader.blpop(["q"], 2) == (b"q", b"again")  # reconnects after the cancel
