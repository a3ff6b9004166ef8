"""The two sides every workload runs against: this bus and the floor, plus their workers.

A side is what the benchmark process holds to call, fire and wait: :class:`BusSide`
drives a real ``lightbus`` client through its public async API; :class:`FloorSide`
drives :mod:`benchmarks.floor`. Each side's worker is a separate process
(:class:`WorkerProcess`), started once and reused by every round.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from benchmarks import floor

ROOT = Path(__file__).resolve().parent.parent

TEN = {
    "f0": "alpha",
    "f1": 1,
    "f2": 2.5,
    "f3": True,
    "f4": "a somewhat longer string value",
    "f5": 42,
    "f6": [1, 2, 3],
    "f7": {"k": "v"},
    "f8": "omega",
    "f9": 7,
}


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIGHTBUS_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


class WorkerProcess:
    """A worker subprocess whose output is collected as it arrives."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @classmethod
    def bus(cls, url: str, prefix: str, **settings: str) -> WorkerProcess:
        env = child_env(
            LIGHTBUS_REDIS_URL=url,
            LIGHTBUS_PREFIX=prefix,
            LIGHTBUS_SERVICE_NAME="bench",
            LIGHTBUS_LOG_LEVEL="WARNING",
            **{f"LIGHTBUS_{k.upper()}": v for k, v in settings.items()},
        )
        return cls([sys.executable, "-m", "lightbus", "run", "--bus", "benchmarks.app"], env)

    @classmethod
    def floor(cls, url: str, prefix: str) -> WorkerProcess:
        return cls([sys.executable, "-m", "benchmarks.floor", url, prefix], child_env())

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(": serving" in line for line in self.lines):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.01)
        self.stop()
        raise RuntimeError(f"benchmark worker did not start:\n{''.join(self.lines)}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._reader.join(2)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


class Side:
    """What a workload needs from a side."""

    name: str

    async def call(self, timeout: float = 5.0, *, plain: bool = False) -> Any: ...
    async def call_ten(self) -> Any: ...
    async def fire(self, run: str, total: int, *, plain: bool = False) -> Any: ...
    async def fire_many(self, run: str, total: int, count: int) -> Any: ...
    async def wait_done(self, run: str, timeout: float = 60.0) -> None: ...
    async def close(self) -> None: ...


class _Done:
    """Waits on the list a listener pushes to when a run is complete."""

    def __init__(self, url: str) -> None:
        self._blocking = aioredis.Redis.from_url(url, socket_timeout=None)

    async def wait(self, key: str, timeout: float) -> None:
        if await self._blocking.blpop([key], timeout=timeout) is None:
            raise TimeoutError(f"the listener did not finish within {timeout} s ({key})")

    async def close(self) -> None:
        await self._blocking.aclose()


class FloorSide(Side):
    """``plain`` (a plain-``def`` handler on the bus) changes nothing here: the floor's
    handlers are plain functions called on its loop."""

    def __init__(self, url: str, prefix: str, *, fastest: bool = False) -> None:
        """``fastest``: fire on the sync client (side ``floor-fastest``, the producer floor)."""
        self.name = "floor-fastest" if fastest else "floor"
        self.client = floor.FloorClient(url, prefix)
        self._fire = self.client.fire_fastest if fastest else self.client.fire
        self._done = _Done(url)

    async def call(self, timeout: float = 5.0, *, plain: bool = False) -> Any:
        return await self.client.call(timeout=timeout)

    async def call_ten(self) -> Any:
        return await self.client.call(**TEN)

    async def fire(self, run: str, total: int, *, plain: bool = False) -> Any:
        await self._fire(run=run, total=total)

    async def fire_many(self, run: str, total: int, count: int) -> Any:
        await self.client.fire_many([{"run": run, "total": total}] * count)

    async def wait_done(self, run: str, timeout: float = 60.0) -> None:
        await self._done.wait(self.client.keys.done(run), timeout)

    async def close(self) -> None:
        await self.client.close()
        await self._done.close()


class BusSide(Side):
    def __init__(self, name: str, url: str, prefix: str, **settings: Any) -> None:
        import lightbus
        from benchmarks.app import BenchApi

        self.name = name
        self.prefix = prefix
        # The caller knows the API's definition (a shared module), as an app usually does;
        # that also lets a call be queued before any worker has published its schema.
        self.bus = lightbus.create(redis_url=url, prefix=prefix, service_name="caller", **settings)
        self.bus.client.register_api(BenchApi())
        self._done = _Done(url)

    async def call(self, timeout: float = 5.0, *, plain: bool = False) -> Any:
        method = self.bus.bench.ping_sync if plain else self.bus.bench.ping
        return await method.call_async(bus_options={"timeout": timeout})

    async def call_ten(self) -> Any:
        return await self.bus.bench.ten.call_async(**TEN)

    async def fire(self, run: str, total: int, *, plain: bool = False) -> Any:
        event = self.bus.bench.tock if plain else self.bus.bench.tick
        return await event.fire_async(run=run, total=total)

    async def fire_many(self, run: str, total: int, count: int) -> Any:
        return await self.bus.bench.tick.fire_many_async([{"run": run, "total": total}] * count)

    async def wait_done(self, run: str, timeout: float = 60.0) -> None:
        from benchmarks.app import done_key

        await self._done.wait(done_key(self.prefix, run), timeout)

    async def close(self) -> None:
        await self.bus.client.close()
        await self._done.close()


def new_run() -> str:
    return uuid.uuid4().hex[:12]
