"""Worker crashes and stops: kill -9 mid-handler, reclaiming, SIGTERM, random kills.

Every test runs real `lightbus run` processes against the real Redis and kills them
with real signals; the handler's log (see faults.py) shows every attempt.
"""

from __future__ import annotations

import random
import signal
import time
from collections import Counter

import pytest
from faults import BUS_SOURCE, ended, producer, read_log, trace_records, worker_env
from support import wait_until

pytestmark = pytest.mark.reliability


def _pending(raw_redis) -> int:
    return int(raw_redis.xpending("lightbus:event:jobs.job", "default.jobs")["pending"])


def test_kill_9_mid_handler_restart_redelivers_as_attempt_2(
    project, start_worker, redis_url, raw_redis
):
    folder = project(BUS_SOURCE)
    env = worker_env(LIGHTBUS_PROCESS_NAME="crashy", TEST_SLEEP_FIRST=60)
    first = start_worker(folder, **env)
    bus = producer(redis_url)
    sent = bus.jobs.job.fire(n=1)
    bus.close()
    wait_until(lambda: read_log(folder))
    first.proc.kill()
    first.wait()

    restarted_at = time.monotonic()
    start_worker(folder, **env)  # the same process name: takes back its pending entry
    wait_until(lambda: 1 in ended(folder), timeout=15)
    # Far sooner than ack_timeout (60 s): the restarted process did not wait to reclaim.
    assert time.monotonic() - restarted_at < 10

    starts = [(line.pid, line.attempt) for line in read_log(folder) if line.what == "start"]
    assert [attempt for _, attempt in starts] == [1, 2]
    assert starts[0][0] == first.proc.pid and starts[1][0] != first.proc.pid
    wait_until(lambda: _pending(raw_redis) == 0)

    lost = trace_records(raw_redis, "event.failed")
    handled = trace_records(raw_redis, "event.handled")
    assert [(r.id, r.attempt, r.status) for r in lost] == [(sent.id, 1, "error")]
    assert lost[0].error_type == "lightbus.delivery.Unacknowledged"
    assert "not acknowledged" in lost[0].error
    assert [(r.id, r.attempt) for r in handled] == [(sent.id, 2)]


def test_two_workers_one_killed_the_other_reclaims(project, start_worker, redis_url, raw_redis):
    folder = project(BUS_SOURCE)
    settings = {"LIGHTBUS_ACK_TIMEOUT": "1.5", "TEST_SLEEP_FIRST": "60"}
    workers = {
        w.proc.pid: w
        for w in [
            start_worker(folder, **worker_env(LIGHTBUS_PROCESS_NAME=f"w{i}", **settings))
            for i in (1, 2)
        ]
    }
    bus = producer(redis_url)
    sent = bus.jobs.job.fire(n=7)
    bus.close()
    first = wait_until(lambda: read_log(folder))[0]
    victim = workers.pop(first.pid)
    victim.proc.kill()
    victim.wait()
    killed_at = time.monotonic()

    wait_until(lambda: 7 in ended(folder), timeout=15)
    took = time.monotonic() - killed_at
    (survivor_pid,) = workers
    done = [line for line in read_log(folder) if line.what == "end"]
    assert [(line.pid, line.attempt) for line in done] == [(survivor_pid, 2)]
    # Reclaimed after the acknowledgement timeout, not at once and not much later.
    assert 1.0 < took < 6.0, took
    # The handler's log line comes before the worker's trace buffer is flushed.
    handled = wait_until(lambda: trace_records(raw_redis, "event.handled"), timeout=5)
    assert [(r.id, r.attempt) for r in handled] == [(sent.id, 2)]
    assert [r.error_type for r in trace_records(raw_redis, "event.failed")] == [
        "lightbus.delivery.Unacknowledged"
    ]


def test_a_slow_live_handler_is_not_reclaimed_by_another_worker(
    project, start_worker, redis_url, raw_redis
):
    """Leases: a handler longer than ack_timeout keeps its entry while its process lives."""
    folder = project(BUS_SOURCE)
    settings = {"LIGHTBUS_ACK_TIMEOUT": "1", "TEST_SLEEP": "3.5"}
    for i in (1, 2):
        start_worker(folder, **worker_env(LIGHTBUS_PROCESS_NAME=f"lease{i}", **settings))
    bus = producer(redis_url)
    bus.jobs.job.fire(n=3)
    bus.close()
    wait_until(lambda: 3 in ended(folder), timeout=15)
    time.sleep(1.5)  # a wrongful reclaim would show up as a second start by now
    assert [(line.what, line.attempt) for line in read_log(folder)] == [("start", 1), ("end", 1)]
    assert _pending(raw_redis) == 0


@pytest.mark.parametrize("sync", [False, True], ids=["async-handler", "sync-handler"])
def test_sigterm_during_a_slow_handler_finishes_it_and_exits_0(
    project, start_worker, redis_url, raw_redis, sync
):
    folder = project(BUS_SOURCE)
    env = worker_env(TEST_SLEEP=1.5, **({"TEST_SYNC": "1"} if sync else {}))
    worker = start_worker(folder, **env)
    bus = producer(redis_url)
    sent = bus.jobs.job.fire(n=5)
    bus.close()
    wait_until(lambda: read_log(folder))
    worker.proc.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=15) == 0, worker.output
    assert 5 in ended(folder)
    assert _pending(raw_redis) == 0
    assert [r.id for r in trace_records(raw_redis, "event.handled")] == [sent.id]
    assert [r.record for r in trace_records(raw_redis) if r.kind == "worker"][-1] == (
        "worker.stopped"
    )


@pytest.mark.parametrize("sync", [False, True], ids=["async-handler", "sync-handler"])
def test_sigterm_past_the_grace_period_hands_the_event_back(
    project, start_worker, redis_url, raw_redis, sync
):
    folder = project(BUS_SOURCE)
    slow = worker_env(
        LIGHTBUS_SHUTDOWN_GRACE="0.5",
        LIGHTBUS_PROCESS_NAME="slow",
        TEST_SLEEP_FIRST="60",
        **({"TEST_SYNC": "1"} if sync else {}),
    )
    worker = start_worker(folder, **slow)
    bus = producer(redis_url)
    bus.jobs.job.fire(n=9)
    bus.close()
    wait_until(lambda: read_log(folder))
    stopped_at = time.monotonic()
    worker.proc.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=15) == 0, worker.output
    assert time.monotonic() - stopped_at < 5
    assert 9 not in ended(folder)
    assert _pending(raw_redis) == 1  # not acknowledged: still owed to the group
    # Only a plain function's thread can outlive the stop, and then it is said.
    running = "Exiting with 1 handler(s) still running past shutdown_grace"
    assert (running in worker.output) == sync, worker.output

    # Another process (default ack_timeout of 60 s) takes it at once: it was handed back.
    start_worker(folder, **worker_env(LIGHTBUS_PROCESS_NAME="other"))
    wait_until(lambda: 9 in ended(folder), timeout=10)
    assert [line.attempt for line in read_log(folder) if line.what == "end"] == [2]


def test_1000_events_across_4_workers_with_random_kills(
    project, start_worker, redis_url, raw_redis
):
    folder = project(BUS_SOURCE)
    rng = random.Random(5)
    names = [f"pool{i}" for i in range(4)]
    env = {"LIGHTBUS_ACK_TIMEOUT": "5", "TEST_SLEEP": "0.01"}
    workers = {
        name: start_worker(folder, wait=None, **worker_env(LIGHTBUS_PROCESS_NAME=name, **env))
        for name in names
    }
    for worker in workers.values():
        worker.wait_for("lightbus: serving", timeout=30)

    bus = producer(redis_url)
    killed: set[int] = set()
    total = 1000
    for n in range(total):
        bus.jobs.job.fire(n=n)
        if n % 200 == 100:
            name = rng.choice(names)
            victim = workers[name]
            victim.proc.kill()
            victim.wait()
            killed.add(victim.proc.pid)
            workers[name] = start_worker(
                folder, wait=None, **worker_env(LIGHTBUS_PROCESS_NAME=name, **env)
            )
    bus.close()
    wait_until(lambda: len(ended(folder)) == total, timeout=45)

    lines = read_log(folder)
    assert ended(folder) == set(range(total))  # none lost
    ends = Counter(line.n for line in lines if line.what == "end")
    duplicated = {n for n, count in ends.items() if count > 1}
    for n in duplicated:
        runs = [line for line in lines if line.what == "end" and line.n == n]
        # Every run but the last was in a process that was killed before acknowledging.
        assert all(run.pid in killed for run in runs[:-1]), (n, runs, killed)
        assert runs[-1].attempt > 1
    assert len(killed) == 5
    # The kills landed mid-handling: some events had to be delivered again.
    assert {line.n for line in lines if line.attempt > 1}
    # A kill can only repeat what that process held: at most listener_concurrency each.
    assert len(duplicated) <= 10 * len(killed)
    wait_until(lambda: _pending(raw_redis) == 0)
    for worker in workers.values():  # stop them together rather than one by one
        worker.proc.send_signal(signal.SIGTERM)
    codes = {name: worker.wait() for name, worker in workers.items()}
    failed = {name: workers[name].output[-3000:] for name, code in codes.items() if code != 0}
    assert not failed, (codes, failed)


def test_a_second_signal_exits_at_once_leaving_the_event_pending(
    project, start_worker, redis_url, raw_redis
):
    folder = project(BUS_SOURCE)
    worker = start_worker(folder, **worker_env(TEST_SLEEP="60"))
    bus = producer(redis_url)
    bus.jobs.job.fire(n=4)
    bus.close()
    wait_until(lambda: read_log(folder))
    worker.proc.send_signal(signal.SIGTERM)
    worker.wait_for("SIGTERM received")
    began = time.monotonic()
    worker.proc.send_signal(signal.SIGINT)
    assert worker.wait(timeout=10) == 1
    assert time.monotonic() - began < 2
    assert "second signal" in worker.output
    assert _pending(raw_redis) == 1  # not acknowledged: redelivered later
