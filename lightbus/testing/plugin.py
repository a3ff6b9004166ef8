"""The pytest plugin that installing Lightbus registers (entry point ``lightbus``, group
``pytest11``: ``lightbus.testing.plugin``); ``pytest -p no:lightbus`` turns it off. See
docs/how-to/testing.md.

Fixtures:

- ``lightbus_redis`` (session): a private Redis-compatible server for the test session,
  ``redis-server`` on PATH or the ``lightbus[embedded]`` wheel's Valkey, on a free
  loopback port; ``.url`` is its URL. Started on first use, stopped at the end.
- ``lightbus_redis_url``: that URL, with the server emptied for this test and
  ``LIGHTBUS_REDIS_URL`` set to it while the test runs.
- ``bus``: a bus on the private server, closed after the test.
- ``lightbus_worker``: ``lightbus_worker("bus")`` imports a bus module afresh and runs a
  real worker for it (its RPCs, listeners and schedules) on a thread of the test
  process, until the test ends; it returns that module's bus.
- ``bus_mocker``: ``bus_mocker(bus)`` is a :class:`lightbus.testing.BusMocker` active for
  the rest of the test.

With ``lightbus_private_redis = true`` in the pytest configuration the server starts
with the session, before test modules are imported, and ``LIGHTBUS_REDIS_URL`` points at
it for the whole session: a bus module that calls ``lightbus.create()`` at import then
talks to the private server, never to a Redis configured elsewhere.

This module imports only pytest and the standard library at load time (importing it
runs ``lightbus/__init__`` too, which loads no redis-py): every pytest run in an
environment with Lightbus installed loads it. The server launcher is the one the
project's own tests and ``lightbus dev`` use, imported when a server is first needed.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from lightbus.facade import Bus
    from lightbus.redisserver import RedisServer
    from lightbus.testing.mocker import BusMocker

PRIVATE_REDIS = "lightbus_private_redis"
ENV_URL = "LIGHTBUS_REDIS_URL"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 15.0

_server_key = pytest.StashKey["RedisServer"]()
_env_key = pytest.StashKey["str | None"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        PRIVATE_REDIS,
        type="bool",
        default=False,
        help="lightbus: start a private Redis with the session and point LIGHTBUS_REDIS_URL "
        "at it before test modules are imported",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    # Before the conftest files (and the bus modules they import) are loaded.
    if early_config.getini(PRIVATE_REDIS):
        server = _start_server()
        early_config.stash[_server_key] = server
        early_config.stash[_env_key] = os.environ.get(ENV_URL)
        os.environ[ENV_URL] = server.url


def pytest_unconfigure(config: pytest.Config) -> None:
    server = config.stash.get(_server_key, None)
    if server is None:
        return
    server.stop()
    del config.stash[_server_key]
    previous = config.stash.get(_env_key, None)
    if previous is None:
        os.environ.pop(ENV_URL, None)
    else:
        os.environ[ENV_URL] = previous


def _start_server() -> RedisServer:
    from lightbus.redisserver import NoServerBinary, RedisServer

    try:
        return RedisServer().start()
    except NoServerBinary as exc:
        raise pytest.UsageError(f"lightbus pytest plugin: {exc}") from None


@pytest.fixture(scope="session")
def lightbus_redis(pytestconfig: pytest.Config) -> Iterator[RedisServer]:
    """The session's private Redis-compatible server (``.url``, ``.port``)."""
    started = pytestconfig.stash.get(_server_key, None)
    if started is not None:
        yield started
        return
    server = _start_server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def lightbus_redis_url(lightbus_redis: RedisServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """The private server's URL; the server is emptied first, and ``LIGHTBUS_REDIS_URL``
    names it for the test."""
    import redis

    if lightbus_redis.process is None or lightbus_redis.process.poll() is not None:
        lightbus_redis.start()  # a test stopped or killed it
    client = redis.Redis.from_url(lightbus_redis.url)
    try:
        client.flushall()
    finally:
        client.close()
    monkeypatch.setenv(ENV_URL, lightbus_redis.url)
    return lightbus_redis.url


@pytest.fixture
def bus(lightbus_redis_url: str) -> Iterator[Bus]:
    """A bus on the private server, closed after the test.

    It runs on its own event loop thread from the start (the blocking facade's), so an
    async test's ``await bus.<api>.<name>.call_async(...)`` works the same and nothing of
    the bus is left on the test's loop when that loop closes.
    """
    import lightbus

    made = lightbus.create(redis_url=lightbus_redis_url)
    made.run(made.client.ping(), "bus.client.ping()")  # starts its loop thread
    yield made
    close_bus(made)


@pytest.fixture
def lightbus_worker(lightbus_redis_url: str) -> Iterator[Callable[..., Bus]]:
    """``lightbus_worker(module="bus")``: run a worker for a bus module in this test.

    The module is imported afresh (as ``lightbus run`` imports it, with
    ``LIGHTBUS_REDIS_URL`` naming the private server) and its bus served on a thread of
    the test process until the test ends; the call returns once the worker serves, with
    that bus. A bus object may be passed instead of a module name. Whatever stops the
    worker from starting (an import error, a bad listener) is raised by the call.
    """
    running: list[RunningWorker] = []

    def start(target: str | Bus | None = None, *, timeout: float = START_TIMEOUT) -> Bus:
        worker = RunningWorker(target or os.environ.get("LIGHTBUS_MODULE") or "bus")
        running.append(worker)
        worker.start(timeout)
        served: Bus = worker.bus
        return served

    yield start
    for worker in running:
        worker.request_stop()  # all at once: each takes up to a blocking read to stop
    problems = [p for worker in reversed(running) if (p := worker.stop()) is not None]
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def bus_mocker() -> Iterator[Callable[..., BusMocker]]:
    """``bus_mocker(bus, require_mocking=True)``: a BusMocker active until the test ends."""
    from lightbus.testing.mocker import BusMocker

    active: list[BusMocker] = []

    def mock(target: Bus, require_mocking: bool = True) -> BusMocker:
        mocker = BusMocker(target, require_mocking=require_mocking).__enter__()
        active.append(mocker)
        return mocker

    yield mock
    for mocker in reversed(active):
        mocker.__exit__(None, None, None)


class RunningWorker:
    """A worker for one bus, on its own event loop in a thread of the test process."""

    def __init__(self, target: Any) -> None:
        self.target = target
        self.module_name = target if isinstance(target, str) else None
        self.replaced: Any = None
        self.bus: Any = None
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.exit_code: int | None = None
        self.ready = threading.Event()

    def start(self, timeout: float) -> None:
        self.bus = self._import() if self.module_name is not None else self.target
        if not hasattr(self.bus, "client"):
            raise TypeError(
                f"lightbus_worker() takes a bus module's name or a bus, got {self.target!r}"
            )
        # A bus already running on its blocking facade's thread (the `bus` fixture's) moves
        # to the worker's loop.
        close_bus(self.bus)
        self.thread = threading.Thread(target=self._main, name="lightbus-test-worker", daemon=True)
        self.thread.start()
        if not self.ready.wait(timeout):
            self.stop()
            raise TimeoutError(f"the worker for {self.target!r} did not start within {timeout}s")
        if self.error is not None:  # it stopped at start: raised here, not again at teardown
            error, self.error = self.error, None
            self.stop()
            raise error

    def _import(self) -> Any:
        from lightbus.busmodule import import_bus

        assert self.module_name is not None
        self.replaced = sys.modules.pop(self.module_name, None)
        try:
            return import_bus(self.module_name)
        except BaseException:
            self._restore_module()
            raise

    def _restore_module(self) -> None:
        if self.module_name is None:
            return
        sys.modules.pop(self.module_name, None)
        if self.replaced is not None:
            sys.modules[self.module_name] = self.replaced
        self.module_name = None

    def _main(self) -> None:
        import asyncio

        from lightbus.worker import Worker

        async def serve() -> int:
            worker = Worker(self.bus.client)
            task = asyncio.ensure_future(worker.run(install_signals=False))
            waiter = asyncio.ensure_future(worker.ready.wait())
            await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if not task.done():  # serving (a start that failed sets `error`, then `ready`)
                self.ready.set()
            return await task

        try:
            self.exit_code = asyncio.run(serve())
        except BaseException as exc:
            self.error = exc
        finally:
            self.ready.set()

    def request_stop(self) -> None:
        if self.bus is None or self.thread is None or not self.thread.is_alive():
            return
        loop = self.bus.client.loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self.bus.client.request_stop, "test over")

    def stop(self) -> str | None:
        """Stop the worker; a description of what went wrong, if anything did."""
        self.request_stop()
        thread, self.thread = self.thread, None
        try:
            if thread is None:
                return None
            thread.join(STOP_TIMEOUT)
            if thread.is_alive():
                return f"the worker for {self.target!r} did not stop within {STOP_TIMEOUT}s"
            if self.error is not None:
                return f"the worker for {self.target!r} failed: {self.error!r}"
            if self.exit_code:
                return f"the worker for {self.target!r} stopped with exit code {self.exit_code}"
            return None
        finally:
            self._restore_module()


def close_bus(bus: Any) -> None:
    """Close ``bus`` whichever loop it ended up on (the blocking facade's or a test's)."""
    loop = bus.client.loop
    if loop is None or loop.is_closed():
        return
    if loop.is_running():
        bus.close()  # the blocking facade's own thread
    else:
        loop.run_until_complete(bus.client.close())
