"""The hand-written Redis protocol (lightbus.resp) against a real Redis.

These are the tests `nox -s tests_redis` runs on each redis-py major version the package
allows, with and without hiredis: they pin what lightbus.resp relies on in redis-py.
"""

from __future__ import annotations

import asyncio
import importlib.util

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from lightbus import Settings
from lightbus.connection import connect
from lightbus.resp import INCOMPLETE, Commands, RawConnection, hiredis_reader, pack, stream_entries

HAS_HIREDIS = importlib.util.find_spec("hiredis") is not None


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
async def raw(request, redis_url):
    """A RawConnection made from a bus pool, speaking the protocol of the param."""
    client = connect(Settings(redis_url=f"{redis_url}?protocol={request.param}"))
    connection = RawConnection(client.connection_pool, socket_timeout=None)
    yield connection
    await connection.disconnect()
    await client.aclose()


def test_pack_refuses_what_redis_cannot_take():
    assert pack("SET", "k", 1) == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n1\r\n"
    with pytest.raises(TypeError, match="cannot send dict"):
        pack("SET", "k", {"a": 1})
    with pytest.raises(TypeError, match="cannot send bool"):
        pack("SET", "k", True)


async def test_each_argument_type_arrives_as_redis_reads_it(raw, raw_redis):
    values = {"s": "text é", "b": b"\x00\xffbytes", "i": -42, "f": 0.25, "m": memoryview(b"mv")}
    data = b"".join(pack("SET", key, value) for key, value in values.items())
    assert await raw.exchange(data, len(values)) == [b"OK"] * len(values)
    assert raw_redis.mget(list(values)) == [
        "text é".encode(),
        b"\x00\xffbytes",
        b"-42",
        b"0.25",
        b"mv",
    ]


async def test_an_error_reply_takes_its_commands_place(raw, raw_redis):
    raw_redis.set("a-string", "x")
    data = pack("RPUSH", "list", "1") + pack("RPUSH", "a-string", "2") + pack("LLEN", "list")
    first, error, length = await raw.exchange(data, 3)
    assert (first, length) == (1, 1)
    assert isinstance(error, ResponseError) and "WRONGTYPE" in str(error)
    assert await raw.exchange(pack("PING"), 1) in ([b"PONG"], ["PONG"])  # still in step


async def test_replies_split_across_reads_all_arrive_whole(raw, raw_redis):
    # ~2 MB of replies: hiredis gets them in many pieces, some ending inside a reply.
    value = b"v" * 3000
    raw_redis.set("big", value)
    replies = await raw.exchange(pack("GET", "big") * 700 + pack("PING"), 701)
    assert replies[:700] == [value] * 700
    assert replies[700] in (b"PONG", "PONG")


async def test_commands_pack_what_redis_py_would_send(raw, raw_redis):
    commands = Commands()
    commands.xadd("s", {"m": b"payload", "n": 7}, maxlen=100)
    commands.xadd("s", {"m": "exact"}, maxlen=5, approximate=False)
    commands.xadd_each("s", "m", [b"one", b"two"], maxlen=100)
    commands.rpush("q", "a", b"b", 3)
    commands.pexpire("q", 60_000)
    replies = await raw.exchange(b"".join(commands.parts), commands.count)
    assert commands.count == 6 and replies[4:] == [3, 1]
    assert [entry_id for entry_id, _ in raw_redis.xrange("s")] == replies[:4]
    assert [fields for _, fields in raw_redis.xrange("s")] == [
        {b"m": b"payload", b"n": b"7"},
        {b"m": b"exact"},
        {b"m": b"one"},
        {b"m": b"two"},
    ]
    raw_redis.xgroup_create("s", "g", id="0")
    raw_redis.xreadgroup("g", "c", {"s": ">"})
    ack = Commands().xack("s", "g", *replies[:2])
    assert await raw.exchange(b"".join(ack.parts), ack.count) == [2]
    with pytest.raises(ValueError, match="maxlen or minid"):
        Commands().xadd("s", {"m": "x"}, maxlen=1, minid="0-1")


async def test_a_request_raises_its_error_reply_and_survives_a_lost_connection(raw, raw_redis):
    raw_redis.set("a-string", "x")
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await raw.request(pack("LLEN", "a-string"))
    assert await raw.request(pack("STRLEN", "a-string")) == 1
    raw_redis.client_kill_filter(_type="normal", skipme=True)
    with pytest.raises((RedisConnectionError, ConnectionError)):
        await raw.request(pack("STRLEN", "a-string"))
    assert await raw.request(pack("STRLEN", "a-string")) == 1  # reconnected


async def test_an_exchange_is_retried_through_a_lost_connection(raw, raw_redis):
    assert await raw.exchange(pack("INCR", "n"), 1) == [1]
    raw_redis.client_kill_filter(_type="normal", skipme=True)
    assert await raw.exchange(pack("INCR", "n"), 1) == [2]


async def test_stream_entries_read_both_protocols_alike(raw, raw_redis):
    raw_redis.xadd("s1", {"m": "one", "n": "1"}, id="1-0")
    raw_redis.xadd("s2", {"m": "two"}, id="2-0")
    reply = await raw.request(pack("XREAD", "COUNT", 10, "STREAMS", "s1", "s2", "0", "0"))
    assert stream_entries(reply) == [
        (b"s1", [(b"1-0", {b"m": b"one", b"n": b"1"})]),
        (b"s2", [(b"2-0", {b"m": b"two"})]),
    ]
    assert stream_entries(await raw.request(pack("XREAD", "STREAMS", "s1", "$"))) == []


@pytest.mark.skipif(not HAS_HIREDIS, reason="the fast path needs hiredis")
async def test_with_hiredis_buffered_replies_are_taken_straight_from_its_reader(raw):
    # If redis-py moves the reader, the bus still works through read_response, only
    # slower: this test is what notices.
    await raw.exchange(pack("PING"), 1)
    assert hiredis_reader(raw._connection) is not None


async def test_a_cancelled_exchange_leaves_the_next_one_in_step(raw, raw_redis):
    blocked = asyncio.create_task(raw.exchange(pack("BLPOP", "never", 5), 1))
    await asyncio.sleep(0.1)
    blocked.cancel()
    with pytest.raises(asyncio.CancelledError):
        await blocked
    await raw.disconnect(nowait=True)  # what the write path does after any failure
    assert await raw.exchange(pack("ECHO", "after"), 1) in ([b"after"], ["after"])


async def test_a_false_reply_is_a_reply_like_any_other(raw, request):
    # RESP3 has booleans (a script's false); it must not be mistaken for "no reply yet".
    if INCOMPLETE is False and HAS_HIREDIS and request.node.callspec.id == "resp3":
        pytest.skip("this redis-py's own hiredis parser cannot read a RESP3 false")
    false = pack("EVAL", "redis.setresp(3); return false", 0)
    replies = await raw.exchange(false * 50 + pack("ECHO", "last"), 51)
    assert replies[:50] in ([False] * 50, [None] * 50)  # RESP3: false; RESP2: nil
    assert replies[50] in (b"last", "last")
