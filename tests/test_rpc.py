"""RPC: results, deadlines, remote errors, and calls between real processes."""

from __future__ import annotations

import asyncio
import logging
import re
import subprocess
import sys
import time
import traceback

import pytest

import lightbus
from lightbus import Api, Event, RemoteError, RpcTimeout, ValidationError


class MathApi(Api):
    added = Event(parameters=("total",))

    class Meta:
        name = "math"

    def add(self, a: int, b: int = 0) -> int:
        return a + b

    async def slow(self, seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "done"

    def explode(self, reason: str) -> None:
        raise KeyError(reason)


class CompanyAuthApi(Api):
    class Meta:
        name = "company.auth"

    def check(self, username: str, password: str) -> bool:
        return password == "secret"


async def test_call_returns_the_result(serve, caller):
    await serve(MathApi())
    bus = caller()
    assert await bus.math.add.call_async(a=2, b=3) == 5
    assert await bus.math.add.call_async(a=2) == 2


async def test_dotted_api_names(serve, caller):
    await serve(CompanyAuthApi())
    bus = caller()
    assert await bus.company.auth.check.call_async(username="u", password="secret") is True


async def test_remote_exception_arrives_as_remote_error(serve, caller):
    await serve(MathApi())
    bus = caller()
    with pytest.raises(RemoteError) as caught:
        await bus.math.explode.call_async(reason="boom")
    error = caught.value
    assert error.remote_type == "KeyError"
    assert "boom" in error.remote_message
    assert "def explode" not in error.remote_traceback  # a traceback, not source
    assert "raise KeyError(reason)" in error.remote_traceback
    assert (error.api, error.name) == ("math", "explode")


async def test_a_failing_method_is_logged_on_the_worker_with_its_traceback(serve, caller, caplog):
    await serve(MathApi())
    bus = caller()
    with caplog.at_level(logging.INFO, logger="lightbus.rpc"), pytest.raises(RemoteError):
        await bus.math.explode.call_async(reason="boom")
    [logged] = [r for r in caplog.records if r.name == "lightbus.rpc"]
    assert logged.levelname == "ERROR"
    message = logged.getMessage()
    assert message.startswith("RPC math.explode failed (id ")
    assert message.endswith("): KeyError: 'boom'")
    assert re.search(r"id ([0-9a-f]{32})", message)[1] == logged.message_id  # the call's id
    assert logged.exc_info is not None and logged.exc_info[0] is KeyError
    assert "raise KeyError(reason)" in "".join(traceback.format_exception(*logged.exc_info))


async def test_a_call_the_worker_refuses_is_one_line_in_its_log(serve, caller, caplog):
    await serve(MathApi())
    bus = caller(validate=False)  # this caller does not check: the worker must
    with caplog.at_level(logging.INFO, logger="lightbus.rpc"), pytest.raises(ValidationError):
        await bus.math.add.call_async(a="two")
    [logged] = [r for r in caplog.records if r.name == "lightbus.rpc"]
    assert logged.levelname == "WARNING" and logged.exc_info is None
    assert logged.getMessage().startswith("Refused a call of math.add (id ")
    assert "argument 'a' is invalid" in logged.getMessage()


async def test_timeout_names_the_rpc_and_says_a_worker_is_alive(serve, caller):
    await serve(MathApi())
    bus = caller()
    started = time.monotonic()
    with pytest.raises(RpcTimeout) as caught:
        await bus.math.slow.call_async(seconds=2, bus_options={"timeout": 0.3})
    assert time.monotonic() - started < 1.5
    assert "math.slow" in str(caught.value)
    assert caught.value.served is True
    assert "alive" in str(caught.value)


async def test_timeout_says_when_no_worker_serves_the_api(serve, caller, raw_redis):
    worker_bus = await serve(MathApi())
    worker_bus.client.request_stop("test")
    await _stopped(raw_redis)  # the heartbeat goes; the schema stays until its TTL
    bus = caller(rpc_timeout=0.3)
    with pytest.raises(RpcTimeout) as caught:
        await bus.math.add.call_async(a=1)
    assert caught.value.served is False
    assert "No worker currently serves 'math'" in str(caught.value)


async def test_per_api_timeout_setting(serve, caller):
    await serve(MathApi())
    bus = caller(rpc_timeouts={"math": 0.2})
    started = time.monotonic()
    with pytest.raises(RpcTimeout):
        await bus.math.slow.call_async(seconds=1)
    assert time.monotonic() - started < 0.9


async def test_worker_never_starts_a_call_whose_deadline_passed(serve, caller, raw_redis):
    calls: list[str] = []

    class CountingApi(Api):
        class Meta:
            name = "counting"

        def hit(self) -> str:
            calls.append("hit")
            return "ok"

    # A caller sends while no worker runs; its deadline passes; then a worker starts.
    worker_bus = await serve(CountingApi())
    worker_bus.client.request_stop("make the queue wait")
    await _stopped(raw_redis)
    bus = caller()
    with pytest.raises(RpcTimeout):
        await bus.counting.hit.call_async(bus_options={"timeout": 0.2})
    assert raw_redis.llen("lightbus:rpc:counting") == 1
    await serve(CountingApi())
    deadline = time.monotonic() + 5
    while raw_redis.llen("lightbus:rpc:counting") and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)
    assert calls == []


async def _stopped(raw_redis) -> None:
    deadline = time.monotonic() + 5
    while raw_redis.hlen("lightbus:workers") and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert not raw_redis.hlen("lightbus:workers")


def test_blocking_call_from_plain_code(serve_in_thread, bus_factory):
    serve_in_thread(MathApi())
    bus = bus_factory()
    assert bus.math.add(a=40, b=2) == 42


def test_blocking_call_inside_a_loop_names_the_async_twin(bus_factory):
    bus = bus_factory()

    async def inside() -> None:
        bus.math.add(a=1)

    with pytest.raises(lightbus.SyncCallInLoopError) as caught:
        asyncio.run(inside())
    assert "await bus.math.add.call_async(...)" in str(caught.value)


CALLER = """
import lightbus
bus = lightbus.create()
print(bus.math.add(a=20, b=22))
print(bus.company.auth.check(username="ann", password="secret"))
"""


def test_two_worker_processes_and_a_caller_process(project, start_worker, worker_env):
    folder = project(
        """
        from lightbus import Api, Event
        import lightbus

        class MathApi(Api):
            class Meta:
                name = "math"
            def add(self, a, b=0):
                return a + b

        bus = lightbus.create()
        bus.client.register_api(MathApi())
        """,
        "math_bus.py",
    )
    project(
        """
        from lightbus import Api
        import lightbus

        class AuthApi(Api):
            class Meta:
                name = "company.auth"
            def check(self, username, password):
                return password == "secret"

        bus = lightbus.create()
        bus.client.register_api(AuthApi())
        """,
        "auth_bus.py",
    )
    start_worker(folder, "--bus", "math_bus")
    start_worker(folder, "--bus", "auth_bus")
    result = subprocess.run(
        [sys.executable, "-c", CALLER],
        env=worker_env(),
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["42", "True"]
