"""Where tracing's cost goes: ``python -m benchmarks.tracecost [--rounds N]``.

Two measurements the suite's ratios cannot show:

- **RPC p50 by side.** Sequential calls with tracing on in the caller, the worker, both
  or neither (four caller/worker pairings over two workers), in alternating rounds;
  each pairing's p50 against neither's, paired by round.
- **CPU per event by process.** The batch workload (``fire_many`` of 500) against a
  worker with tracing on and one with it off; the CPU time the producer (this process),
  the worker and Redis spent per event, read from ``/proc`` and ``getrusage``.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import resource
import statistics
from collections.abc import Callable

from benchmarks import workloads
from benchmarks.sides import BusSide, WorkerProcess
from lightbus.embedded import RedisServer

TICKS = os.sysconf("SC_CLK_TCK")
PAIRINGS = {  # name: (caller traces, prefix of the worker it calls)
    "neither": (False, "off"),
    "caller only": (True, "off"),
    "worker only": (False, "on"),
    "both": (True, "on"),
}


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def rpc_by_side(url: str, rounds: int, calls: int) -> dict[str, tuple[float, float]]:
    """Each pairing's median p50 (µs) and its median ratio to ``neither``."""
    sides = {
        name: BusSide(name, url, prefix, trace_enabled=traced)
        for name, (traced, prefix) in PAIRINGS.items()
    }
    try:
        for side in sides.values():
            await workloads.warm_up(side, 100)
        p50s: dict[str, list[float]] = {name: [] for name in sides}
        names = list(sides)
        for round_no in range(rounds):
            for name in names if round_no % 2 else names[::-1]:
                latencies = await workloads.rpc_latencies(sides[name], calls)
                p50s[name].append(statistics.median(latencies) * 1e6)
        base = p50s["neither"]
        return {
            name: (
                statistics.median(values),
                statistics.median(v / b for v, b in zip(values, base, strict=True)),
            )
            for name, values in p50s.items()
        }
    finally:
        for side in sides.values():
            await side.close()


async def cpu_per_event(
    url: str, workers: dict[str, WorkerProcess], redis_pid: int, rounds: int, events: int
) -> dict[str, dict[str, float]]:
    """Median µs of CPU per batched event in each process, tracing on and off."""
    sides = {name: BusSide(name, url, name, trace_enabled=name == "on") for name in ("on", "off")}
    clocks: dict[str, Callable[[], float]] = {"producer": own_cpu}
    try:
        for side in sides.values():
            await workloads.warm_up(side)
        samples: dict[str, dict[str, list[float]]] = {
            name: {"producer": [], "worker": [], "redis": [], "events/s": []} for name in sides
        }
        for round_no in range(rounds):
            for name in ("on", "off") if round_no % 2 else ("off", "on"):
                pids = {"worker": workers[name].proc.pid, "redis": redis_pid}
                for what, pid in pids.items():
                    clocks[what] = functools.partial(process_cpu, pid)
                before = {what: clock() for what, clock in clocks.items()}
                rate = await workloads.events_batch(sides[name], events, 500)
                for what, clock in clocks.items():
                    samples[name][what].append((clock() - before[what]) / events * 1e6)
                samples[name]["events/s"].append(rate)
        return {
            name: {what: statistics.median(values) for what, values in rows.items()}
            for name, rows in samples.items()
        }
    finally:
        for side in sides.values():
            await side.close()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tracecost")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--calls", type=int, default=300, help="RPCs per pairing and round")
    parser.add_argument("--events", type=int, default=4000, help="batched events per round")
    args = parser.parse_args()
    server = RedisServer().start()
    workers = {
        name: WorkerProcess.bus(server.url, name, trace_enabled=str(name == "on").lower())
        for name in ("on", "off")
    }
    try:
        for worker in workers.values():
            worker.wait_ready()
        assert server.process is not None
        rpc = asyncio.run(rpc_by_side(server.url, args.rounds, args.calls))
        cpu = asyncio.run(
            cpu_per_event(server.url, workers, server.process.pid, args.rounds, args.events)
        )
    finally:
        for worker in workers.values():
            worker.stop()
        server.stop()
    print("RPC p50 with tracing on in ...")
    for name, (p50, ratio) in rpc.items():
        print(f"  {name:12} {p50:7.0f} µs   {ratio - 1:+6.1%} against neither")
    print(f"CPU per batched event (µs; /proc ticks are {1e6 / TICKS / args.events:.1f} µs here)")
    for name, row in cpu.items():
        cells = "  ".join(f"{what} {row[what]:5.1f}" for what in ("producer", "worker", "redis"))
        print(f"  tracing {name:3}  {cells}   {row['events/s']:8,.0f} events/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
