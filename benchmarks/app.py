"""The bus module the benchmark's Lightbus workers run (``lightbus run --bus benchmarks.app``).

Settings come from the environment (``LIGHTBUS_PREFIX``, ``LIGHTBUS_TRACE_ENABLED``,
``LIGHTBUS_VALIDATE``), so one module serves every variant. Handlers are ``async def``
so they run on the worker's loop, as the floor's handlers do.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

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
    wide = Event(parameters=TEN_FIELDS)

    class Meta:
        name = "bench"

    async def ping(self) -> str:
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


@bus.client.on_start()
def start_listening(**_: Any) -> None:
    bus.bench.tick.listen(on_tick, listener_name="bench")
