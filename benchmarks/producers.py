"""Which plain producer is the floor: ``python -m benchmarks.producers [--events N] [--rounds R]``.

One producer sending events one at a time, each ``XADD``'s reply awaited before the
next, in the ways a redis-py user could write it (and two hand-written RESP ones, to see
how far redis-py is from the socket). The fastest redis-py form is the suite's producer
floor (``FloorClient.fire_fastest``). Rounds alternate the forms; medians are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlparse

import msgspec
import redis
import redis.asyncio as aioredis

from lightbus.embedded import RedisServer

STREAM = "producers"
_encode = msgspec.json.encode


def _payload(total: int) -> dict[str, bytes]:
    return {"d": _encode({"run": "producers", "total": total})}


async def asyncio_pool(url: str, n: int) -> float:
    """``await r.xadd()`` on a blocking connection pool (the suite's asyncio floor)."""
    pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=64)
    r = aioredis.Redis(connection_pool=pool)
    await r.ping()
    started = time.perf_counter()
    for _ in range(n):
        await r.xadd(STREAM, _payload(n))
    elapsed = time.perf_counter() - started
    await r.aclose()
    return n / elapsed


async def asyncio_single(url: str, n: int) -> float:
    """``await r.xadd()`` on a single-connection asyncio client."""
    r = aioredis.Redis.from_url(url, single_connection_client=True)
    await r.ping()
    started = time.perf_counter()
    for _ in range(n):
        await r.xadd(STREAM, _payload(n))
    elapsed = time.perf_counter() - started
    await r.aclose()
    return n / elapsed


async def sync_client(url: str, n: int) -> float:
    """``r.xadd()`` on redis-py's sync client (blocks the loop for each round trip)."""
    r = redis.Redis.from_url(url, single_connection_client=True)
    r.ping()
    started = time.perf_counter()
    for _ in range(n):
        r.xadd(STREAM, _payload(n))
    elapsed = time.perf_counter() - started
    r.close()
    return n / elapsed


def _xadd_bytes(n: int) -> bytes:
    data = _payload(n)["d"]
    return b"*5\r\n$4\r\nXADD\r\n$%d\r\n%s\r\n$1\r\n*\r\n$1\r\nd\r\n$%d\r\n%s\r\n" % (
        len(STREAM),
        STREAM.encode(),
        len(data),
        data,
    )


async def hand_written(url: str, n: int) -> float:
    """Hand-written RESP on asyncio streams: write the command, read the bulk reply."""
    where = urlparse(url)
    reader, writer = await asyncio.open_connection(where.hostname, where.port)
    started = time.perf_counter()
    for _ in range(n):
        writer.write(_xadd_bytes(n))
        header = await reader.readline()  # $<len>
        await reader.readexactly(int(header[1:]) + 2)
    elapsed = time.perf_counter() - started
    writer.close()
    await writer.wait_closed()
    return n / elapsed


FORMS: dict[str, Callable[[str, int], Awaitable[float]]] = {
    "redis-py asyncio, pool": asyncio_pool,
    "redis-py asyncio, one connection": asyncio_single,
    "redis-py sync client": sync_client,
    "hand-written RESP, asyncio streams": hand_written,
}


async def measure(url: str, events: int, rounds: int) -> dict[str, list[float]]:
    rates: dict[str, list[float]] = {name: [] for name in FORMS}
    for round_no in range(rounds):
        names = list(FORMS)
        for name in names if round_no % 2 == 0 else names[::-1]:
            rates[name].append(await FORMS[name](url, events))
    return rates


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.producers")
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    server = RedisServer().start()
    try:
        rates = asyncio.run(measure(server.url, args.events, args.rounds))
    finally:
        server.stop()
    print(f"load average at the end: {os.getloadavg()}")
    for name, values in rates.items():
        print(f"{name:36s} {statistics.median(values):9,.0f} events/s (median of {len(values)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
