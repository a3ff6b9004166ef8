"""Consumer groups stay true: consumers that are gone and hold nothing are removed."""

from __future__ import annotations

import time

import pytest
from faults import BUS_SOURCE, ended, producer, worker_env
from support import wait_until

from lightbus import registry
from lightbus.keys import Keys

pytestmark = pytest.mark.reliability

STREAM = "lightbus:event:jobs.job"
GROUP = "default.jobs"


def _consumers(raw_redis) -> dict[str, int]:
    return {c["name"].decode(): c["pending"] for c in raw_redis.xinfo_consumers(STREAM, GROUP)}


def test_consumers_that_are_gone_and_hold_nothing_are_removed_never_live_or_holding_ones(
    project, start_worker, redis_url, raw_redis
):
    bus = producer(redis_url)
    bus.jobs.job.fire_many([{"n": n} for n in range(20)])
    bus.close()
    raw_redis.xgroup_create(STREAM, GROUP, id="0")
    # What a storm of restarts with process-id names leaves: consumers that handled
    # events and died. One of them died holding 3 events.
    ghosts = [f"host-{pid}" for pid in range(4000, 4010)]
    for ghost in ghosts:
        ((_, [(entry_id, _)]),) = raw_redis.xreadgroup(GROUP, ghost, {STREAM: ">"}, count=1)
        raw_redis.xack(STREAM, GROUP, entry_id)
    raw_redis.xreadgroup(GROUP, "holder", {STREAM: ">"}, count=3)
    # A consumer whose worker is alive (a fresh heartbeat) but idle is never removed.
    raw_redis.xreadgroup(GROUP, "quiet", {STREAM: ">"}, count=1)
    raw_redis.xack(
        STREAM,
        GROUP,
        raw_redis.xpending_range(STREAM, GROUP, "-", "+", 1, "quiet")[0]["message_id"],
    )
    heartbeat = registry.Heartbeat(
        service="default", process="quiet", host="h", pid=1, ts=time.time(), interval=60
    )
    with raw_redis.pipeline() as pipe:
        registry.publish_heartbeat(pipe, Keys(), heartbeat)
        pipe.execute()
    time.sleep(1.1)  # every one of them idle past ack_timeout

    folder = project(BUS_SOURCE)
    # One handler slot, 1 s per event: the holder's events are reclaimed one at a time.
    env = {"LIGHTBUS_ACK_TIMEOUT": "1", "LIGHTBUS_LISTENER_CONCURRENCY": "1", "TEST_SLEEP": "1"}
    start_worker(folder, **worker_env(LIGHTBUS_PROCESS_NAME="live", **env))
    # The live worker's consumer appears with its first read, which may come after the
    # ghosts are removed: wait for both.
    wait_until(
        lambda: not set(ghosts) & set(_consumers(raw_redis)) and "live" in _consumers(raw_redis),
        timeout=10,
    )
    consumers = _consumers(raw_redis)
    assert consumers["holder"] > 0  # still holding events: kept
    assert "quiet" in consumers and "live" in consumers

    # Once the holder's events are reclaimed and it is idle again, it goes too.
    wait_until(lambda: "holder" not in _consumers(raw_redis), timeout=15)
    assert set(_consumers(raw_redis)) == {"live", "quiet"}
    wait_until(lambda: len(ended(folder)) >= 3, timeout=10)  # the holder's, handled
