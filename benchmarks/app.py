"""The bus module the benchmark's Lightbus workers run (``lightbus run --bus benchmarks.app``).

Settings come from the environment (``LIGHTBUS_PREFIX``, ``LIGHTBUS_TRACE_ENABLED``,
``LIGHTBUS_VALIDATE``), so one module serves every variant. Each workload has an
``async def`` handler (it runs on the worker's loop, as the floor's handlers do) and a
plain-``def`` twin (``ping_sync``, the ``tock`` listener), the form most users write,
which the bus runs on its handler threads.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import redis

import lightbus
from lightbus import Api, Event, Parameter

TEN_FIELDS = (
    Parameter("f0", str),
    Parameter("f1", int),
    Parameter("f2", float),
    Parameter("f3", bool),
    Parameter("f4", str),
    Parameter("f5", int),
    Parameter("f6", list),
    Parameter("f7", dict),
    Parameter("f8", str),
    Parameter("f9", int),
)


class BenchApi(Api):
    """What the workloads call and fire."""

    tick = Event(parameters=("run", "total"))
    tock = Event(parameters=("run", "total"))
    wide = Event(parameters=TEN_FIELDS)

    class Meta:
        name = "bench"

    async def ping(self) -> str:
        return "pong"

    def ping_sync(self) -> str:
        return "pong"

    async def ten(
        self,
        f0: str,
        f1: int,
        f2: float,
        f3: bool,
        f4: str,
        f5: int,
        f6: list[Any],
        f7: dict[str, Any],
        f8: str,
        f9: int,
    ) -> int:
        return f1 + f5 + f9


def done_key(prefix: str, run: str) -> str:
    """The list a listener pushes to once it has handled every event of a run."""
    return f"{prefix}:benchdone:{run}"


bus = lightbus.create()
bus.client.register_api(BenchApi())

_seen: Counter[str] = Counter()


async def on_tick(event: Any, run: str, total: int) -> None:
    _seen[run] += 1
    if _seen[run] == total:
        del _seen[run]
        await bus.client.redis.rpush(done_key(bus.client.settings.prefix, run), b"1")


_seen_sync: Counter[str] = Counter()
_sync_lock = threading.Lock()
_sync_redis: list[redis.Redis] = []


def on_tock(event: Any, run: str, total: int) -> None:
    """The plain-``def`` listener: runs on a handler thread, signals with a sync client."""
    with _sync_lock:
        _seen_sync[run] += 1
        if _seen_sync[run] != total:
            return
        del _seen_sync[run]
        if not _sync_redis:
            _sync_redis.append(redis.Redis.from_url(bus.client.settings.redis_url))
    _sync_redis[0].rpush(done_key(bus.client.settings.prefix, run), b"1")


@bus.client.on_start()
def start_listening(**_: Any) -> None:
    bus.bench.tick.listen(on_tick, listener_name="bench")
    bus.bench.tock.listen(on_tock, listener_name="bench_sync")
