"""Profile one workload on both ends: ``python -m benchmarks.profile WORKLOAD``.

WORKLOAD is rpc, events, concurrent or batch, or plain-rpc / plain-events (a plain-``def``
method or listener, run on the bus's handler threads).

The caller runs under pyinstrument in this process; the worker runs under
``python -m pyinstrument`` in its own, and writes its profile when it stops. Both
profiles are printed as text (pyinstrument is a development dependency).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

from benchmarks import workloads
from benchmarks.sides import BusSide, WorkerProcess, child_env
from lightbus.embedded import RedisServer


async def _drive(url: str, workload: str, count: int, trace: bool) -> None:
    side = BusSide("bus", url, "prof", trace_enabled=trace)
    try:
        await workloads.warm_up(side)
        from pyinstrument import Profiler

        with Profiler(async_mode="enabled") as profiler:
            plain = workload.startswith("plain-")
            if workload.endswith("rpc"):
                await workloads.rpc_latencies(side, count, plain=plain)
            elif workload.endswith("events"):
                await workloads.events_sequential(side, count, plain=plain)
            elif workload == "batch":
                await workloads.events_batch(side, count, 500)
            else:
                await workloads.events_concurrent(side, count, 500)
        print("=" * 30, "caller", "=" * 30)
        print(profiler.output_text(unicode=False, color=False, show_all=False))
    finally:
        await side.close()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile")
    parser.add_argument(
        "workload", choices=["rpc", "events", "concurrent", "batch", "plain-rpc", "plain-events"]
    )
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--trace-off", action="store_true")
    args = parser.parse_args()
    server = RedisServer().start()
    out = Path(tempfile.mkdtemp()) / "worker.txt"
    env = child_env(
        LIGHTBUS_REDIS_URL=server.url,
        LIGHTBUS_PREFIX="prof",
        LIGHTBUS_SERVICE_NAME="bench",
        LIGHTBUS_LOG_LEVEL="WARNING",
        LIGHTBUS_TRACE_ENABLED="false" if args.trace_off else "true",
    )
    worker = WorkerProcess(
        [
            sys.executable,
            "-m",
            "pyinstrument",
            "--no-color",
            "-o",
            str(out),
            "-m",
            "lightbus",
            "run",
            "--bus",
            "benchmarks.app",
        ],
        env,
    )
    try:
        worker.wait_ready()
        asyncio.run(_drive(server.url, args.workload, args.count, not args.trace_off))
    finally:
        worker.stop()
        server.stop()
    print("=" * 30, "worker", "=" * 30)
    print(out.read_text() if out.exists() else "".join(worker.lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
