"""The bus's write path: groups of commands sent together, each getting its own replies."""

from __future__ import annotations

import asyncio
import time

import pytest

from lightbus import BusClient, BusConnectionError, Settings
from lightbus.embedded import free_port


@pytest.fixture
async def client(redis_url):
    bus_client = BusClient(Settings(redis_url=redis_url))
    yield bus_client
    await bus_client.close()


async def _push(client: BusClient, key: str, value: str) -> list:
    async with client.pipeline() as pipe:
        pipe.rpush(key, value)
        pipe.pexpire(key, 60_000)
        return await pipe.execute()


async def test_concurrent_groups_each_get_their_own_replies(client, raw_redis):
    replies = await asyncio.gather(*(_push(client, "q", str(i)) for i in range(300)))
    lengths = sorted(reply[0] for reply in replies)
    assert lengths == list(range(1, 301))  # every RPUSH ran once, each saw its own length
    assert all(reply[1] == 1 for reply in replies)  # and its PEXPIRE's reply
    assert sorted(int(v) for v in raw_redis.lrange("q", 0, -1)) == list(range(300))


async def test_groups_sent_meanwhile_share_one_write(client, raw_redis):
    await _push(client, "q", "warm")  # connected
    reads_before = raw_redis.info("stats")["total_reads_processed"]
    await asyncio.gather(*(_push(client, "q", "x") for i in range(200)))
    reads = raw_redis.info("stats")["total_reads_processed"] - reads_before
    assert raw_redis.llen("q") == 201
    # 200 groups of 2 commands: one write for the first, the rest together (the server
    # may need a few socket reads for ~15 kB; one per group would be 200).
    assert reads < 20, reads


async def test_an_error_reply_fails_only_its_own_group(client, raw_redis):
    raw_redis.set("a-string", "x")

    async def wrong() -> list:
        async with client.pipeline() as pipe:
            pipe.rpush("a-string", "boom")  # WRONGTYPE
            return await pipe.execute()

    results = await asyncio.gather(
        _push(client, "ok1", "1"), wrong(), _push(client, "ok2", "2"), return_exceptions=True
    )
    assert results[0] == [1, 1]
    assert "WRONGTYPE" in str(results[1])
    assert results[2] == [1, 1]
    assert raw_redis.get("a-string") == b"x"


async def test_xadd_and_xack_as_redis_py_sends_them(client, raw_redis):
    async with client.pipeline() as pipe:
        pipe.xadd("s", {"m": b"payload", "n": 7}, maxlen=100, approximate=True)
        pipe.xadd("s", {"m": "exact"}, maxlen=5, approximate=False)
        first, second = await pipe.execute()
        pipe.xadd("old", {"m": "gone"}, id="1-0")
        pipe.xadd("old", {"m": "kept"}, minid="2-0", approximate=False)
        await pipe.execute()
    assert [f for _, f in raw_redis.xrange("old")] == [{b"m": b"kept"}]
    entries = raw_redis.xrange("s")
    assert [e[0] for e in entries] == [first, second]
    assert entries[0][1] == {b"m": b"payload", b"n": b"7"}
    raw_redis.xgroup_create("s", "g", id="0")
    raw_redis.xreadgroup("g", "c", {"s": ">"})
    async with client.pipeline() as pipe:
        pipe.xack("s", "g", first, second)
        assert await pipe.execute() == [2]


async def test_a_killed_connection_is_reopened_for_the_next_group(client, raw_redis):
    await _push(client, "q", "before")
    raw_redis.client_kill_filter(_type="normal", skipme=True)
    assert (await _push(client, "q", "after"))[0] == 2


async def test_unreachable_redis_raises_bus_connection_error_in_bounded_time():
    port = free_port()  # nothing listens here
    client = BusClient(Settings(redis_url=f"redis://127.0.0.1:{port}/0", connect_timeout=0.5))
    started = time.monotonic()
    with pytest.raises(BusConnectionError, match=f"127.0.0.1:{port}"):
        await _push(client, "q", "x")
    assert time.monotonic() - started < 5
    await client.close()
