"""Start-up costs: ``import lightbus`` in a fresh interpreter, and a worker's first call.

Each figure is the median of several fresh processes. The import is timed inside the
child (``perf_counter`` around the import statement), so interpreter start-up is not
counted; ``import redis.asyncio`` is timed the same way as a reference, since any
Redis client in Python pays it, and so is ``lightbus.create()`` (which loads redis-py).
"""

from __future__ import annotations

import subprocess
import sys
import time

from benchmarks.sides import BusSide, FloorSide, WorkerProcess, child_env, new_run

_TIMED = "import time; t = time.perf_counter(); {code}; print((time.perf_counter() - t) * 1000)"


def import_ms(code: str, repeat: int) -> list[float]:
    """Milliseconds to run ``code`` (an import) in ``repeat`` fresh interpreters."""
    samples = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", _TIMED.format(code=code)],
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        samples.append(float(out.stdout.strip()))
    return samples


async def worker_startup_ms(url: str, kind: str) -> float:
    """From starting a worker process to the answer of the first call it handled (ms).

    The call is queued as the process starts, so the figure covers interpreter start,
    imports, connecting, publishing and the first call's round trip.
    """
    prefix = f"start{new_run()}"
    side = FloorSide(url, prefix) if kind == "floor" else BusSide("bus", url, prefix)
    started = time.perf_counter()
    worker = WorkerProcess.floor(url, prefix) if kind == "floor" else WorkerProcess.bus(url, prefix)
    try:
        await side.call(timeout=60)
        return (time.perf_counter() - started) * 1000
    finally:
        worker.stop()
        await side.close()
