"""Does ``lightbus monitor`` keep up with a firehose? ``python -m benchmarks.monitor``.

A writer process appends trace records to the trace stream at a fixed rate (5,000 a
second by default: real records as the bus writes them, one per stream entry, the
costliest form to read) for some seconds, while the monitor app runs headless in this
process on its Live screen, drawing as it goes. Measured:

- **intake**: records the monitor took in (buffered and counted per api.name) per second,
  against records written per second;
- **catch-up**: once the writer stops, how long until the monitor has every record, and
  how many it was behind at that moment;
- **responsiveness**: the longest the app's event loop was busy (a 10 ms timer's worst
  lateness), which bounds how late a key press is handled, and the CPU the monitor used;
- **memory**: what the model holds (its records and figures, measured object by object)
  with its cap of ``--max-records``, and the process's peak resident memory growth.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC
from typing import Any

from benchmarks.sides import ROOT, child_env

PREFIX = "benchmonitor"
TICK_S = 0.01
API_NAMES = (("shop", "order_placed"), ("shop", "refund"), ("stock", "reserved"), ("mail", "sent"))


# ---------------------------------------------------------------- the writer (a child process)


def _records() -> list[Any]:
    """A cycle of real records: fired then handled (one in ten failed), per api.name."""
    import lightbus
    from lightbus import trace
    from lightbus.settings import Settings

    client = lightbus.BusClient(Settings(prefix=PREFIX))
    cycle = []
    for n in range(200):
        api, name = API_NAMES[n % len(API_NAMES)]
        message = client.make_message("event", api, name, kwargs={"order_id": n, "sku": "K-1"})
        cycle.append(client.tracer.for_message(trace.EVENT_FIRED, message))
        failed = n % 10 == 0
        cycle.append(
            client.tracer.for_message(
                trace.EVENT_FAILED if failed else trace.EVENT_HANDLED,
                message,
                listener="audit",
                status="error" if failed else "ok",
                queued_ms=1.0 + n % 7,
                duration_ms=0.5 + n % 13,
                error=ValueError(f"bad order {n}") if failed else None,
            )
        )
    return cycle


async def write(url: str, rate: int, seconds: float) -> dict[str, float]:
    """Append ``rate`` records a second for ``seconds``, paced in 10 ms ticks."""
    import itertools

    import redis.asyncio as aioredis

    key = f"{PREFIX}:trace"
    cycle = itertools.cycle(_records())
    redis = aioredis.Redis.from_url(url)
    written = 0
    started = time.perf_counter()
    try:
        while (elapsed := time.perf_counter() - started) < seconds:
            due = int(elapsed * rate) - written
            if due > 0:
                now = int(time.time() * 1000)
                async with redis.pipeline(transaction=False) as pipe:
                    for record in itertools.islice(cycle, due):
                        record.ts = now
                        pipe.xadd(key, record.to_fields())
                    await pipe.execute()
                written += due
            await asyncio.sleep(TICK_S)
        return {"written": written, "seconds": time.perf_counter() - started}
    finally:
        await redis.aclose()


# ---------------------------------------------------------------- the monitor (this process)


async def keeps_up(url: str, *, rate: int, seconds: float, max_records: int) -> dict[str, float]:
    """Run the monitor headless while a writer process writes; the figures."""
    from lightbus_tools.monitor.app import MonitorApp
    from lightbus_tools.monitor.model import MonitorModel, Options
    from lightbus_tools.monitor.source import Source

    rss_before = _rss_mb()
    source = Source(redis_url=url, prefix=PREFIX)
    model = MonitorModel(Options(max_records=max_records, where=url), tz=UTC)
    app = MonitorApp(source, model, since_ms=None, freeze_gc=True)  # as `lightbus monitor`
    stalls: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        await _until(pilot, lambda: model.link.state == "connected")
        probe = asyncio.create_task(_probe(stalls))
        writer = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.monitor", "--write", url, str(rate), str(seconds)],
            cwd=ROOT,
            env=child_env(),
            stdout=subprocess.PIPE,
            text=True,
        )
        # The writer's first write marks the start of intake.
        await _until(pilot, lambda: model.buffer.seen > 0, timeout=30)
        began, seen_at_start = time.perf_counter(), model.buffer.seen
        cpu_at_start = _cpu_s()
        while writer.poll() is None:
            await pilot.pause(0.01)
        ended = time.perf_counter()
        report = json.loads(writer.stdout.read() if writer.stdout else "{}")
        behind = report["written"] - model.buffer.seen
        await _until(pilot, lambda: model.buffer.seen >= report["written"], timeout=30)
        caught_up = time.perf_counter()
        cpu = _cpu_s() - cpu_at_start
        probe.cancel()
        held = len(model.buffer)
    return {
        "written_per_s": report["written"] / report["seconds"],
        "taken_per_s": (report["written"] - seen_at_start) / (caught_up - began),
        "written": report["written"],
        "behind_at_end": max(0, behind),
        "caught_up_ms": (caught_up - ended) * 1000,
        "cpu_share": cpu / (caught_up - began),
        "stall_max_ms": max(stalls, default=0.0) * 1000,
        "stall_p99_ms": _p99(stalls) * 1000,
        "held": held,
        "model_mb": _model_bytes(model) / 1e6,
        "rss_growth_mb": _rss_mb() - rss_before,
    }


async def _until(pilot: Any, condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError("the monitor did not get there in time")
        await pilot.pause(0.01)


async def _probe(stalls: list[float]) -> None:
    """How late a 10 ms timer fires: the time the loop spent busy with other work."""
    while True:
        started = time.perf_counter()
        await asyncio.sleep(0.01)
        stalls.append(max(0.0, time.perf_counter() - started - 0.01))


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[int(0.99 * (len(ordered) - 1))] if ordered else 0.0


def _model_bytes(model: Any) -> int:
    """The bytes of every object the model holds (each counted once)."""
    seen: set[int] = set()
    total = 0
    for obj in _reachable(model.buffer, model.stats, seen=seen):
        total += sys.getsizeof(obj)
    return total


def _reachable(*roots: Any, seen: set[int]) -> Iterator[Any]:
    stack = list(roots)
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, type):
            continue
        seen.add(id(obj))
        yield obj
        if isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset) or type(obj).__name__ == "deque":
            stack.extend(obj)
        elif hasattr(obj, "__struct_fields__"):
            stack.extend(getattr(obj, f) for f in obj.__struct_fields__)
        elif hasattr(obj, "__dict__"):
            stack.extend(vars(obj).values())
        elif hasattr(obj, "__slots__"):
            stack.extend(getattr(obj, s) for s in obj.__slots__ if hasattr(obj, s))


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.monitor", description=__doc__)
    parser.add_argument("--rate", type=int, default=5000, help="records written per second")
    parser.add_argument("--seconds", type=float, default=8.0, help="how long to write")
    parser.add_argument("--max-records", type=int, default=10_000, help="the monitor's cap")
    parser.add_argument(
        "--write", nargs=3, metavar=("URL", "RATE", "SECONDS"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.write:
        url, rate, seconds = args.write
        print(json.dumps(asyncio.run(write(url, int(rate), float(seconds)))))
        return 0
    from lightbus.embedded import RedisServer

    server = RedisServer().start()
    try:
        figures = asyncio.run(
            keeps_up(server.url, rate=args.rate, seconds=args.seconds, max_records=args.max_records)
        )
    finally:
        server.stop()
    print(describe(figures, rate=args.rate, max_records=args.max_records))
    return 0


def describe(f: dict[str, float], *, rate: int, max_records: int) -> str:
    kept = f["taken_per_s"] / f["written_per_s"]
    return "\n".join(
        [
            f"monitor under {rate:,} records/s (cap {max_records:,} records):",
            f"  written   {f['written_per_s']:>10,.0f} rec/s  ({f['written']:,.0f} records)",
            f"  taken in  {f['taken_per_s']:>10,.0f} rec/s  ({kept:.2f}x of written)",
            f"  behind when the writer stopped: {f['behind_at_end']:,.0f} records; "
            f"caught up {f['caught_up_ms']:,.0f} ms later",
            f"  event loop busy: longest {f['stall_max_ms']:.0f} ms, "
            f"p99 {f['stall_p99_ms']:.0f} ms; CPU {f['cpu_share'] * 100:.0f}% of one core",
            f"  memory: the model holds {f['held']:,.0f} records in {f['model_mb']:.1f} MB; "
            f"process peak grew {f['rss_growth_mb']:.0f} MB",
        ]
    )


if __name__ == "__main__":
    raise SystemExit(main())
