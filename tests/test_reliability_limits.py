"""Limits: back-pressure on slow handlers, capped streams, the payload size and depth limits."""

from __future__ import annotations

import threading

import pytest
from faults import JobsApi
from support import wait_until

import lightbus
from lightbus import Api, Event

pytestmark = pytest.mark.reliability

STREAM = "lightbus:event:jobs.job"


@pytest.fixture
def jobs_bus(bus_factory):
    def make(**settings):
        bus = bus_factory(**settings)
        bus.client.register_api(JobsApi())
        return bus

    return make


def test_a_slow_handler_does_not_make_the_listener_read_without_bound(jobs_bus, raw_redis):
    bus = jobs_bus(listener_concurrency=3)
    release = threading.Event()
    running: list[int] = []
    most = [0]
    lock = threading.Lock()
    done: list[int] = []

    def slow(event, n):
        with lock:
            running.append(n)
            most[0] = max(most[0], len(running))
        release.wait(10)
        with lock:
            running.remove(n)
            done.append(n)

    bus.jobs.job.listen(slow, listener_name="slow")
    for n in range(40):
        bus.jobs.job.fire(n=n)
    wait_until(lambda: len(running) == 3)
    # Give the listener time to read more if it would: it must not.
    wait_until(lambda: raw_redis.xinfo_groups(STREAM)[0]["pending"] == 3)
    threading.Event().wait(0.5)
    (group,) = raw_redis.xinfo_groups(STREAM)
    assert group["pending"] == 3  # read (delivered) only as many as it can handle
    assert group["lag"] == 37  # the rest wait in Redis, not in the worker's memory
    release.set()
    wait_until(lambda: len(done) == 40)
    assert most[0] == 3


def test_event_trace_and_dead_letter_streams_are_capped(jobs_bus, raw_redis):
    bus = jobs_bus(event_stream_maxlen=100, trace_maxlen=200)
    for n in range(1000):
        bus.jobs.job.fire(n=n)
    # MAXLEN ~ trims whole stream nodes (100 entries each by default): near, never far over.
    assert 100 <= raw_redis.xlen(STREAM) < 250
    assert 200 <= raw_redis.xlen("lightbus:trace") < 350

    bus.jobs.job.listen(lambda event, n: None, listener_name="capped")
    for n in range(300):
        raw_redis.xadd(STREAM, {"junk": str(n)})  # each one is dead-lettered
    raw_redis.xadd(STREAM, {"junk": "last"})

    def all_read() -> bool:
        group = next(g for g in raw_redis.xinfo_groups(STREAM) if g["name"] == b"default.capped")
        return group["lag"] == 0 and group["pending"] == 0

    wait_until(all_read)
    assert 100 <= raw_redis.xlen("lightbus:dead:jobs.job") < 250


def test_a_payload_over_the_limit_is_refused_at_fire_and_call_time(jobs_bus, raw_redis):
    bus = jobs_bus(max_payload_bytes=1000)
    bus.jobs.job.fire(n="x" * 500)  # under the limit: fine
    with pytest.raises(lightbus.PayloadTooLarge) as fired:
        bus.jobs.job.fire(n="x" * 2000)
    assert (fired.value.api, fired.value.name, fired.value.limit) == ("jobs", "job", 1000)
    assert fired.value.size > 2000
    assert "max_payload_bytes" in str(fired.value) and "jobs.job" in str(fired.value)
    with pytest.raises(lightbus.PayloadTooLarge) as called:
        bus.jobs.echo(text="x" * 2000)
    assert called.value.name == "echo"
    assert raw_redis.xlen(STREAM) == 1  # nothing of the refused ones reached Redis
    assert raw_redis.llen("lightbus:rpc:jobs") == 0


def test_a_dead_consumers_backlog_is_reclaimed_as_fast_as_slots_free(jobs_bus, raw_redis):
    """Reclaiming is bounded by the free slots, but not paced by ack_timeout per batch."""
    import time

    bus = jobs_bus(ack_timeout=2.0, listener_concurrency=3)
    for n in range(30):
        bus.jobs.job.fire(n=n)
    raw_redis.xgroup_create(STREAM, "default.backlog", id="0")
    raw_redis.xreadgroup("default.backlog", "dead-consumer", {STREAM: ">"}, count=30)
    began = time.monotonic()
    handled: list[int] = []
    bus.jobs.job.listen(lambda event, n: handled.append(event.attempt), listener_name="backlog")
    wait_until(lambda: len(handled) == 30, timeout=15)
    took = time.monotonic() - began
    # One ack_timeout for the entries to go stale, then batches back to back (paced by
    # ack_timeout / 2 per batch of 3 it would take about 10 s more).
    assert took < 5.0, took
    assert set(handled) == {2}


class StoreApi(Api):
    saved = Event(parameters=("data",))

    class Meta:
        name = "store"

    def put(self, data):  # any JSON value
        return None


def _nested(levels: int) -> object:
    value: object = 1
    for _ in range(levels):
        value = [value]
    return value


def test_a_payload_nested_too_deep_is_refused_at_fire_and_call_time(bus_factory, raw_redis):
    bus = bus_factory(max_payload_depth=20)
    bus.client.register_api(StoreApi())
    bus.store.saved.fire(data=_nested(19))  # the arguments and 19 lists: 20 levels, fine
    itself: list[object] = []
    itself.append(itself)
    # Past the limit; past what the JSON encoder can recurse; a list holding itself.
    for data in (_nested(20), _nested(980), _nested(5000), itself):
        with pytest.raises(lightbus.PayloadTooDeep) as fired:
            bus.store.saved.fire(data=data)
        assert (fired.value.api, fired.value.name, fired.value.limit) == ("store", "saved", 20)
        assert "store.saved" in str(fired.value) and "max_payload_depth" in str(fired.value)
        assert "more than 20 levels" in str(fired.value)
        with pytest.raises(lightbus.PayloadTooDeep) as called:
            bus.store.put(data=data)
        assert (called.value.name, called.value.limit) == ("put", 20)
    with pytest.raises(lightbus.PayloadTooDeep) as batch:
        bus.store.saved.fire_many([{"data": 1}, {"data": _nested(30)}])
    assert batch.value.item == 1 and str(batch.value).startswith("fire_many item 1: store.saved")
    assert raw_redis.xlen("lightbus:event:store.saved") == 1  # nothing refused was sent
    assert raw_redis.llen("lightbus:rpc:store") == 0
