"""Redis going away: killed and restarted, connections killed, calls during an outage.

Tests that kill the server start their own (lightbus_tools RedisServer), never the
session's.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
import redis
from faults import BUS_SOURCE, ended, producer, read_log, worker_env
from support import wait_until

import lightbus
from lightbus.embedded import RedisServer

pytestmark = pytest.mark.reliability


def test_redis_killed_and_restarted_under_a_worker_and_a_producer(project, start_worker, own_redis):
    folder = project(BUS_SOURCE)
    worker = start_worker(
        folder, **worker_env(LIGHTBUS_REDIS_URL=own_redis.url, LIGHTBUS_PROCESS_NAME="survivor")
    )
    bus = producer(own_redis.url, connect_timeout=1.0)
    fired: list[int] = []
    refused: list[float] = []
    stop = threading.Event()

    def produce() -> None:
        n = 0
        while not stop.is_set():
            began = time.monotonic()
            try:
                bus.jobs.job.fire(n=n)
                fired.append(n)
            except lightbus.BusConnectionError:
                refused.append(time.monotonic() - began)
            n += 1
            time.sleep(0.01)

    thread = threading.Thread(target=produce)
    thread.start()
    try:
        wait_until(lambda: len(ended(folder)) > 20)
        own_redis.kill()
        time.sleep(1.5)
        own_redis.start()
        accepted = len(fired)
        wait_until(lambda: len(fired) > accepted + 20, timeout=20)
    finally:
        stop.set()
        thread.join(10)
    wait_until(lambda: set(fired) <= ended(folder), timeout=20)

    assert refused, "no fire was refused: the outage did not happen"
    # Every refusal came after a bounded retry: connect_timeout (1 s) plus a margin.
    assert max(refused) < 2.5, max(refused)
    # The same worker process, never restarted, handled every event that was accepted.
    assert worker.proc.poll() is None
    assert {line.pid for line in read_log(folder)} == {worker.proc.pid}
    assert "lost Redis" in worker.output
    # The RPC server reconnected too.
    assert bus.jobs.slow(n=42) == 42
    bus.close()
    worker.proc.terminate()
    assert worker.wait() == 0, worker.output
    print(f"refused fires: {len(refused)}, slowest refusal {max(refused):.2f}s")
    print(worker.output)


def test_client_kill_of_every_connection_the_worker_resumes(
    project, start_worker, redis_url, raw_redis
):
    folder = project(BUS_SOURCE)
    worker = start_worker(folder, **worker_env())
    bus = producer(redis_url)
    for round_ in range(3):
        killed = raw_redis.client_kill_filter(_type="normal", skipme=True)
        assert killed >= 2  # at least the listener's and the RPC server's connections
        began = time.monotonic()
        bus.jobs.job.fire(n=round_)
        wait_until(lambda n=round_: n in ended(folder), timeout=10)
        assert bus.jobs.slow(n=round_) == round_
        assert time.monotonic() - began < 5
    assert worker.proc.poll() is None
    assert "lost Redis" in worker.output
    bus.close()


def test_fire_and_call_during_an_outage_raise_a_clear_error_after_a_bounded_retry(
    own_redis,
):
    bus = producer(own_redis.url, connect_timeout=1.0)
    bus.jobs.job.fire(n=1)
    own_redis.kill()
    for attempt in (lambda: bus.jobs.job.fire(n=2), lambda: bus.jobs.slow(n=2)):
        began = time.monotonic()
        with pytest.raises(lightbus.BusConnectionError) as info:
            attempt()
        took = time.monotonic() - began
        assert took < 2.5, took  # connect_timeout plus a margin, never a hang
        assert isinstance(info.value, ConnectionError)
        assert f"127.0.0.1:{own_redis.port}" in str(info.value)
        assert "Check that the server is running" in str(info.value)
    own_redis.start()  # and it works again once Redis is back, with the same bus
    bus.jobs.job.fire(n=3)
    with redis.Redis(port=own_redis.port) as check:
        assert check.xlen("lightbus:event:jobs.job") == 2
    bus.close()


def test_a_frozen_server_gives_a_bounded_error_not_a_hang(own_redis):
    """A server that accepts but never answers (SIGSTOP) is the worst case for a bound."""
    bus = producer(own_redis.url, connect_timeout=1.0)
    bus.jobs.job.fire(n=1)
    os.kill(own_redis.process.pid, signal.SIGSTOP)
    try:
        began = time.monotonic()
        with pytest.raises(lightbus.BusConnectionError) as info:
            bus.jobs.job.fire(n=2)
        took = time.monotonic() - began
        assert took < 3.0, took  # connect_timeout + 1 s
        assert "timed out" in str(info.value)
    finally:
        os.kill(own_redis.process.pid, signal.SIGCONT)
    bus.jobs.job.fire(n=3)  # the same bus works once the server answers again
    bus.close()


def test_redis_restarted_without_persistence_the_worker_recreates_its_groups(project, start_worker):
    """Without AOF a restart loses what Redis held; the worker carries on with new events."""
    server = RedisServer().start()
    try:
        folder = project(BUS_SOURCE)
        worker = start_worker(folder, **worker_env(LIGHTBUS_REDIS_URL=server.url))
        bus = producer(server.url, connect_timeout=1.0)
        bus.jobs.job.fire(n=1)
        wait_until(lambda: 1 in ended(folder))
        server.kill()
        server.start()  # empty: no stream, no consumer group
        wait_until(lambda: "recreating it" in worker.output, timeout=10)
        bus.jobs.job.fire(n=2)
        wait_until(lambda: 2 in ended(folder), timeout=10)
        assert worker.proc.poll() is None
        bus.close()
        worker.proc.terminate()
        assert worker.wait() == 0
    finally:
        server.stop()


def test_a_result_survives_a_redis_restart_during_the_call(project, start_worker, own_redis):
    """The worker keeps trying to answer until the call's deadline; the caller's reply
    reader reconnects; the caller gets its result, not a timeout."""
    folder = project(BUS_SOURCE)
    worker = start_worker(folder, **worker_env(LIGHTBUS_REDIS_URL=own_redis.url))
    bus = producer(own_redis.url, connect_timeout=1.0)
    results: list[object] = []
    thread = threading.Thread(
        target=lambda: results.append(
            bus.jobs.slow(n=7, seconds=1.5, bus_options={"timeout": 10.0})
        )
    )
    thread.start()
    wait_until(lambda: [line for line in read_log(folder) if line.what == "call"])
    own_redis.kill()
    time.sleep(0.5)
    own_redis.start()
    thread.join(15)
    assert results == [7]
    bus.close()
    worker.proc.terminate()  # before the fixture stops this Redis
    assert worker.wait() == 0


def test_sigterm_while_redis_is_down_still_exits_0_promptly(project, start_worker, own_redis):
    folder = project(BUS_SOURCE)
    worker = start_worker(folder, **worker_env(LIGHTBUS_REDIS_URL=own_redis.url))
    own_redis.kill()
    wait_until(lambda: "lost Redis" in worker.output)
    began = time.monotonic()
    worker.proc.terminate()
    assert worker.wait(timeout=20) == 0, worker.output
    # Each write it attempts on the way out (the stop record, the trace) is bounded.
    assert time.monotonic() - began < 10
    assert "Could not record the stop" in worker.output
