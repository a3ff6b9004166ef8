"""A worker's stop: bounded whatever Redis does, and handed-back work taken up at once.

Tests that freeze (SIGSTOP) or kill the server use their own (``own_redis``), never the
session's.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
import redis
from faults import BUS_SOURCE, ended, producer, read_log, worker_env
from support import wait_until

pytestmark = pytest.mark.reliability

STREAM = "lightbus:event:jobs.job"
GROUP = "default.jobs"
GRACE = 2.0
# What a stop may take past shutdown_grace (lightbus.worker.STOP_MARGIN), plus the
# interpreter's own exit on a loaded 2-core machine.
BOUND = GRACE + 3.0 + 1.5


@pytest.mark.parametrize("fault", ["frozen", "killed"])
def test_a_stop_with_redis_frozen_or_down_ends_within_the_grace_and_says_what_is_pending(
    project, start_worker, own_redis, fault
):
    folder = project(BUS_SOURCE)
    worker = start_worker(
        folder,
        **worker_env(
            LIGHTBUS_REDIS_URL=own_redis.url,
            LIGHTBUS_SHUTDOWN_GRACE=str(GRACE),
            LIGHTBUS_PROCESS_NAME="stopper",
            TEST_SLEEP="60",
        ),
    )
    bus = producer(own_redis.url)
    bus.jobs.job.fire_many([{"n": n} for n in range(30)])
    bus.close()
    wait_until(lambda: len(read_log(folder)) == 30)  # 30 handlers in flight
    if fault == "frozen":
        os.kill(own_redis.process.pid, signal.SIGSTOP)
    else:
        own_redis.kill()
    began = time.monotonic()
    worker.proc.send_signal(signal.SIGTERM)
    code = worker.wait(timeout=60)
    took = time.monotonic() - began

    assert code == 0, worker.output
    assert took < BOUND, (took, worker.output)
    # It says what it left behind: the 30 events stay pending for redelivery.
    assert "30 events of listener jobs stay pending" in worker.output, worker.output
    if fault == "frozen":
        os.kill(own_redis.process.pid, signal.SIGCONT)
    else:
        own_redis.start()  # AOF: what Redis held comes back
    with redis.Redis(port=own_redis.port) as check:
        assert int(check.xpending(STREAM, GROUP)["pending"]) == 30  # nothing lost
    print(f"stop with Redis {fault}: {took:.2f}s (shutdown_grace {GRACE:g}s)")


def test_lost_redis_names_the_cause_when_the_server_stops_answering(
    project, start_worker, own_redis
):
    folder = project(BUS_SOURCE)
    worker = start_worker(folder, **worker_env(LIGHTBUS_REDIS_URL=own_redis.url))
    os.kill(own_redis.process.pid, signal.SIGSTOP)
    try:
        worker.wait_for("lost Redis", timeout=15)
    finally:
        os.kill(own_redis.process.pid, signal.SIGCONT)
    lines = [line for line in worker.output.splitlines() if "lost Redis" in line]
    assert lines and all("lost Redis ()" not in line for line in lines), lines
    assert any("timed out" in line for line in lines), lines


def test_events_handed_back_at_a_stop_are_taken_up_by_a_live_worker_within_seconds(
    project, start_worker, redis_url, raw_redis
):
    """With the default ack_timeout (60 s) a reclaim pass comes every 30 s: the live worker
    must not wait for it."""
    folder = project(BUS_SOURCE)
    stopper = start_worker(
        folder,
        **worker_env(
            LIGHTBUS_SHUTDOWN_GRACE="0.3", LIGHTBUS_PROCESS_NAME="stopper", TEST_SLEEP_FIRST="60"
        ),
    )
    bus = producer(redis_url)
    bus.jobs.job.fire_many([{"n": n} for n in range(3)])
    bus.close()
    wait_until(lambda: len(read_log(folder)) == 3)
    # Started after the events were taken: its own start-up reclaim pass finds nothing.
    start_worker(folder, **worker_env(LIGHTBUS_PROCESS_NAME="live"))
    time.sleep(0.3)  # past the live worker's first reclaim pass
    stopper.proc.send_signal(signal.SIGTERM)
    assert stopper.wait(timeout=15) == 0, stopper.output
    handed_back = time.monotonic()
    wait_until(lambda: ended(folder) == {0, 1, 2}, timeout=20)
    took = time.monotonic() - handed_back

    assert took < 5.0, took
    done = [line for line in read_log(folder) if line.what == "end"]
    assert {line.attempt for line in done} == {2}
    assert {line.pid for line in done} != {stopper.proc.pid}
    wait_until(lambda: int(raw_redis.xpending(STREAM, GROUP)["pending"]) == 0)
    print(f"handed-back events taken up {took:.2f}s after the stop")
