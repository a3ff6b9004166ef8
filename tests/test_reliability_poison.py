"""Poison messages and bad entries end in the dead-letter stream; the consumer carries on."""

from __future__ import annotations

import itertools
import threading
import time

import msgspec
import pytest
from faults import BUS_SOURCE, JobsApi, trace_records, worker_env
from support import wait_until

from lightbus.deadletter import DeadLetter
from lightbus.message import Message

pytestmark = pytest.mark.reliability

STREAM = "lightbus:event:jobs.job"
DEAD = "lightbus:dead:jobs.job"
GROUP = "default.jobs"


def _letters(raw_redis) -> list[DeadLetter]:
    return [DeadLetter.from_fields(i.decode(), f) for i, f in raw_redis.xrange(DEAD)]


def _pending(raw_redis) -> int:
    return int(raw_redis.xpending(STREAM, GROUP)["pending"])


@pytest.fixture
def jobs_bus(bus_factory):
    def make(**settings):
        settings.setdefault("retry_backoff", 0.01)
        bus = bus_factory(**settings)
        bus.client.register_api(JobsApi())
        return bus

    return make


def test_poison_event_is_dead_lettered_after_max_attempts(jobs_bus, raw_redis):
    bus = jobs_bus()
    handled: list[tuple[int, int]] = []

    def handler(event, n):
        handled.append((n, event.attempt))
        if n == 1:
            raise ValueError(f"job {n} is poison")

    bus.jobs.job.listen(handler, listener_name="jobs", max_attempts=3)
    poison = bus.jobs.job.fire(n=1)
    wait_until(lambda: _letters(raw_redis))
    bus.jobs.job.fire(n=2)  # the listener is still running
    wait_until(lambda: (2, 1) in handled)

    assert [a for n, a in handled if n == 1] == [1, 2, 3]
    (letter,) = _letters(raw_redis)
    assert letter.message_id == poison.id and letter.message().id == poison.id
    assert letter.attempts == 3 and letter.listener == "jobs" and letter.group == GROUP
    assert letter.error_type == "ValueError" and letter.error == "job 1 is poison"
    assert "raise ValueError" in letter.traceback
    wait_until(lambda: _pending(raw_redis) == 0)  # acknowledged: no endless redelivery
    # The worker's trace buffer is flushed shortly after the handlers' own log lines.
    wait_until(lambda: trace_records(raw_redis, "event.dead_lettered"), timeout=5)

    failed = [r for r in trace_records(raw_redis, "event.failed") if r.id == poison.id]
    assert [(r.attempt, r.status, r.error_type) for r in failed] == [
        (1, "error", "ValueError"),
        (2, "error", "ValueError"),
        (3, "error", "ValueError"),
    ]
    (dead,) = trace_records(raw_redis, "event.dead_lettered")
    assert (dead.id, dead.attempt, dead.status) == (poison.id, 3, "dead")


def test_retries_back_off_exponentially(jobs_bus, raw_redis):

    bus = jobs_bus(retry_backoff=0.2)
    times: list[float] = []

    def handler(event, n):
        times.append(time.monotonic())
        raise RuntimeError("always")

    bus.jobs.job.listen(handler, listener_name="jobs", max_attempts=3)
    bus.jobs.job.fire(n=1)
    wait_until(lambda: _letters(raw_redis))
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert 0.18 < gaps[0] < 0.6 and 0.38 < gaps[1] < 1.0, gaps


def test_entries_that_do_not_decode_or_do_not_fit_are_dead_lettered(jobs_bus, raw_redis):
    bus = jobs_bus()
    handled: list[int] = []
    bus.jobs.job.listen(lambda event, n: handled.append(n), listener_name="jobs", since="0")
    good = bus.jobs.job.fire(n=1)
    wait_until(lambda: handled == [1])

    valid = msgspec.json.decode(Message.from_fields(raw_redis.xrange(STREAM)[0][1]).to_json())
    bad_entries = {
        "no m field": {"x": b"1"},
        "not JSON": {"m": b"\xff not json"},
        "missing fields": {"m": b'{"v": 1}'},
        "wrong type": {"m": msgspec.json.encode({**valid, "kwargs": [1, 2]})},
        "an rpc": {"m": msgspec.json.encode({**valid, "kind": "rpc"})},
        "another event": {"m": msgspec.json.encode({**valid, "name": "other"})},
        "unexpected argument": {"m": msgspec.json.encode({**valid, "kwargs": {"n": 1, "x": 2}})},
        "missing argument": {"m": msgspec.json.encode({**valid, "kwargs": {}})},
    }
    entry_ids = {
        raw_redis.xadd(STREAM, fields).decode(): what for what, fields in bad_entries.items()
    }
    after = bus.jobs.job.fire(n=2)
    wait_until(lambda: len(_letters(raw_redis)) == len(bad_entries) and 2 in handled)

    assert handled == [1, 2]  # the handler never saw a bad entry; the consumer carried on
    letters = _letters(raw_redis)
    errors = {entry_ids[letter.entry_id]: letter for letter in letters}
    assert set(errors) == set(bad_entries)
    assert "no 'm' field" in errors["no m field"].error
    assert errors["not JSON"].error_type == "msgspec.DecodeError"
    assert "missing required field" in errors["missing fields"].error
    assert errors["wrong type"].error_type == "msgspec.ValidationError"
    assert "holds a message of kind 'rpc'" in errors["an rpc"].error
    assert "jobs.other" in errors["another event"].error
    assert "argument 'x' is invalid" in errors["unexpected argument"].error
    assert "unknown field `x`" in errors["unexpected argument"].error
    assert "argument 'n' is invalid" in errors["missing argument"].error
    assert errors["missing argument"].error_type == "lightbus.errors.ValidationError"
    assert all(letter.attempts == 1 for letter in letters)
    assert errors["not JSON"].raw == b"\xff not json"  # kept byte for byte
    wait_until(lambda: _pending(raw_redis) == 0)
    dead = trace_records(raw_redis, "event.dead_lettered")
    assert len(dead) == len(bad_entries)
    assert {good.id, after.id} == {r.id for r in trace_records(raw_redis, "event.handled")}


def test_an_entry_that_keeps_killing_its_consumer_is_dead_lettered_unrun(jobs_bus, raw_redis):
    """Delivered max_attempts times without an acknowledgement: never run again."""
    bus = jobs_bus(ack_timeout=0.3)
    sent = bus.jobs.job.fire(n=1)
    raw_redis.xgroup_create(STREAM, GROUP, id="0")
    # Three deliveries to consumers that "died" (never acknowledged).
    raw_redis.xreadgroup(GROUP, "ghost", {STREAM: ">"})
    (entry_id,) = [p["message_id"] for p in raw_redis.xpending_range(STREAM, GROUP, "-", "+", 5)]
    for ghost in ("ghost2", "ghost3"):
        raw_redis.xclaim(STREAM, GROUP, ghost, 0, [entry_id])
    ran = threading.Event()
    bus.jobs.job.listen(lambda event, n: ran.set(), listener_name="jobs", max_attempts=3)
    wait_until(lambda: _letters(raw_redis), timeout=5)

    assert not ran.is_set()
    (letter,) = _letters(raw_redis)
    assert letter.message_id == sent.id and letter.attempts == 3
    assert "delivered 3 times without being acknowledged" in letter.error
    wait_until(lambda: _pending(raw_redis) == 0)


def test_on_error_stop_stops_the_worker_and_leaves_the_event_pending(
    project, start_worker, redis_url, raw_redis
):
    from faults import producer

    folder = project(BUS_SOURCE)
    worker = start_worker(folder, **worker_env(TEST_FAIL="always", TEST_STOP="1"))
    bus = producer(redis_url)
    bus.jobs.job.fire(n=1)
    bus.close()
    assert worker.wait(timeout=15) == 1
    assert "on_error='stop'" in worker.output
    assert _pending(raw_redis) == 1  # redelivered when a worker starts again
    assert raw_redis.xlen(DEAD) == 0
