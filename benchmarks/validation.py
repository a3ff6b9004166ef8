"""What validation costs: a 10-field payload, per check, and per RPC round trip.

Run from the project root: ``python benchmarks/validation.py``. It starts a private Redis
(never the one on 6379), serves a 10-parameter RPC from a worker on the same loop, and
prints the microseconds per validation step and the RPC p50 with validation on and off.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import decimal
import enum
import statistics
import sys
import time
import timeit
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import lightbus
from lightbus import Api
from lightbus.api import define
from lightbus.embedded import RedisServer
from lightbus.schema import build
from lightbus.validation import SchemaChecker, TypedChecker
from lightbus.worker import Worker


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass
class Address:
    street: str
    number: int = 1


class BenchApi(Api):
    class Meta:
        name = "bench"

    async def ten(
        self,
        a: int,
        b: str,
        c: float,
        d: bool,
        e: datetime.datetime,
        f: uuid.UUID,
        g: decimal.Decimal,
        h: list[int],
        i: Address,
        j: Color = Color.RED,
    ) -> int:
        return a


KWARGS: dict[str, Any] = {
    "a": 1,
    "b": "text",
    "c": 1.5,
    "d": True,
    "e": datetime.datetime(2025, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
    "f": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "g": decimal.Decimal("9.99"),
    "h": [1, 2, 3],
    "i": Address("High St", 3),
    "j": Color.BLUE,
}


def per_check() -> dict[str, float]:
    definition = define(BenchApi())
    rpc = definition.rpcs["ten"]
    typed = TypedChecker("bench", "ten", rpc.parameters, returns=rpc.return_type)
    by_schema = SchemaChecker("bench", "ten", build(definition)[0]["rpcs"]["ten"], enforce=True)
    wire = typed.outgoing(KWARGS)
    cases = {
        "typed outgoing (caller: check + JSON form)": lambda: typed.outgoing(KWARGS),
        "typed incoming (worker: check + cast)": lambda: typed.incoming(wire, "worker"),
        "schema outgoing (registry-only caller)": lambda: by_schema.outgoing(KWARGS),
        "schema incoming (JSON form)": lambda: by_schema.incoming(wire, "worker"),
        "result out + in (int)": lambda: typed.result_in(typed.result_out(1)),
    }
    results = {}
    for label, fn in cases.items():
        runs = timeit.repeat(fn, number=5000, repeat=5)
        results[label] = min(runs) / 5000 * 1e6
    return results


async def round_trips(url: str, validate: bool, calls: int = 2000) -> float:
    bus = lightbus.create(redis_url=url, validate=validate, trace_enabled=True)
    bus.client.register_api(BenchApi())
    worker = Worker(bus.client)
    running = asyncio.create_task(worker.run(install_signals=False))
    await asyncio.sleep(0.3)
    caller = lightbus.create(redis_url=url, validate=validate)  # registry-free: local types
    caller.client.register_api(BenchApi())
    for _ in range(100):
        await caller.bench.ten.call_async(**KWARGS)
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        await caller.bench.ten.call_async(**KWARGS)
        times.append(time.perf_counter() - started)
    bus.client.request_stop("benchmark done")
    await running
    await caller.client.close()
    return statistics.median(times) * 1000


def main() -> None:
    for label, micros in per_check().items():
        print(f"{label:45s} {micros:7.2f} µs")
    server = RedisServer().start()
    runs: dict[bool, list[float]] = {True: [], False: []}
    try:
        # Interleaved rounds, so load from other processes hits both sides alike.
        for _ in range(3):
            for validate in (True, False):
                runs[validate].append(asyncio.run(round_trips(server.url, validate, 1000)))
    finally:
        server.stop()
    on, off = statistics.median(runs[True]), statistics.median(runs[False])
    print(f"RPC p50, 10 parameters, validation on:  {on:.3f} ms")
    print(f"RPC p50, 10 parameters, validation off: {off:.3f} ms  (ratio {on / off:.2f})")


if __name__ == "__main__":
    main()
