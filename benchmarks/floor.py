"""The floor: a minimal hand-written bus on redis-py, the yardstick for every ratio.

RPC: the caller ``LPUSH``es ``{id, reply_to, kwargs}`` onto a queue and ``BLPOP``s its
own reply list; the worker ``BLPOP``s the queue, calls the function and ``LPUSH``es the
result. Events: ``XADD`` of the JSON payload, one awaited reply per event, on the
asyncio client (``fire``) or on redis-py's *sync* client (``fire_fastest``: the fastest
plain redis-py producer measured, about 3x the asyncio client's ``await xadd`` and on a
par with a hand-written RESP protocol, see docs/explanation/performance.md); the
listener reads with ``XREADGROUP``
(``COUNT 100``, blocking), calls the handler and ``XACK``s the batch in one command.
No validation, no tracing, no envelope beyond what the work needs; msgspec for JSON.

``python -m benchmarks.floor REDIS_URL PREFIX`` runs the worker side.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections import Counter
from typing import Any

import msgspec
import redis
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

_encode = msgspec.json.encode
_decode = msgspec.json.decode

GROUP = "floor"


class Keys:
    def __init__(self, prefix: str) -> None:
        self.queue = f"{prefix}:rpc"
        self.stream = f"{prefix}:events"
        self.prefix = prefix

    def reply(self, nonce: str) -> str:
        return f"{self.prefix}:reply:{nonce}"

    def done(self, run: str) -> str:
        return f"{self.prefix}:done:{run}"


class FloorClient:
    """The caller side of the floor."""

    def __init__(self, url: str, prefix: str) -> None:
        self.keys = Keys(prefix)
        # Waits for a free connection under many concurrent fires, as the bus's pool does.
        pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=64)
        self.redis = aioredis.Redis(connection_pool=pool)
        self.blocking = aioredis.Redis.from_url(url, socket_timeout=None)
        self.producer = redis.Redis.from_url(url, single_connection_client=True)
        self.reply_to = self.keys.reply(os.urandom(4).hex())
        self._next = 0

    async def call(self, timeout: float = 5.0, **kwargs: Any) -> Any:
        self._next += 1
        call_id = self._next
        await self.redis.lpush(
            self.keys.queue, _encode({"id": call_id, "reply_to": self.reply_to, "kwargs": kwargs})
        )
        while True:
            item = await self.blocking.blpop([self.reply_to], timeout=timeout)
            if item is None:
                raise TimeoutError(f"the floor worker did not answer within {timeout} s")
            reply = _decode(item[1])
            if reply["id"] == call_id:
                return reply["result"]

    async def fire(self, **kwargs: Any) -> None:
        await self.redis.xadd(self.keys.stream, {"d": _encode(kwargs)})

    async def fire_fastest(self, **kwargs: Any) -> None:
        """One event, its reply awaited before returning, on redis-py's sync client: it
        blocks the loop for the round trip (nothing else runs on the producer's loop)."""
        self.producer.xadd(self.keys.stream, {"d": _encode(kwargs)})

    async def fire_many(self, items: list[dict[str, Any]]) -> None:
        """The floor's batch: every XADD in one redis-py pipeline."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for kwargs in items:
                pipe.xadd(self.keys.stream, {"d": _encode(kwargs)})
            await pipe.execute()

    async def close(self) -> None:
        await self.redis.aclose()
        await self.blocking.aclose()
        self.producer.close()


def handle(**kwargs: Any) -> str:
    return "pong"


async def _serve_rpc(url: str, keys: Keys) -> None:
    reader = aioredis.Redis.from_url(url, socket_timeout=None)
    writer = aioredis.Redis.from_url(url)
    while True:
        item = await reader.blpop([keys.queue], timeout=1)
        if item is None:
            continue
        call = _decode(item[1])
        result = handle(**call["kwargs"])
        await writer.lpush(call["reply_to"], _encode({"id": call["id"], "result": result}))


async def _serve_events(url: str, keys: Keys) -> None:
    reader = aioredis.Redis.from_url(url, socket_timeout=None)
    writer = aioredis.Redis.from_url(url)
    seen: Counter[str] = Counter()
    while True:
        reply = await reader.xreadgroup(GROUP, "c1", {keys.stream: ">"}, count=100, block=1000)
        for _stream, entries in reply or ():
            ids = []
            for entry_id, fields in entries:
                payload = _decode(fields[b"d"])
                seen[payload["run"]] += 1
                if seen[payload["run"]] == payload["total"]:
                    await writer.rpush(keys.done(payload["run"]), b"1")
                ids.append(entry_id)
            await writer.xack(keys.stream, GROUP, *ids)


async def serve(url: str, prefix: str) -> None:
    keys = Keys(prefix)
    setup = aioredis.Redis.from_url(url)
    try:
        await setup.xgroup_create(keys.stream, GROUP, id="$", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise
    await setup.aclose()
    rpc = asyncio.create_task(_serve_rpc(url, keys))
    events = asyncio.create_task(_serve_events(url, keys))
    await asyncio.sleep(0.05)  # both readers are blocking by now
    print("floor: serving", flush=True)
    await asyncio.gather(rpc, events)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(sys.argv[1], sys.argv[2]))
