"""Entries the bus cannot read or check, whatever the reason, never jam a listener.

Each is dead-lettered with the reason, on the first read, on the pass that takes back a
restarted worker's own pending entries, and on a reclaim pass; the entries around it are
handled and the listener reads on. Over-limit entries from another producer (size,
nesting depth, a newer protocol version) are refused the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from faults import BUS_SOURCE, JobsApi, ended, nest, producer, raw_message, read_log, worker_env
from support import wait_until

from lightbus import Api, Event, Parameter
from lightbus.deadletter import DeadLetter

pytestmark = pytest.mark.reliability

JOBS = "lightbus:event:jobs.job"
JOBS_DEAD = "lightbus:dead:jobs.job"
SHOP = "lightbus:event:shop.ordered"
SHOP_DEAD = "lightbus:dead:shop.ordered"


@dataclass
class Sku:
    code: str

    def __post_init__(self) -> None:
        # A type's own check, raising what the user's code raises: not a ValueError.
        if self.code == "withdrawn":
            raise LookupError(f"SKU {self.code!r} is no longer sold")


class ShopApi(Api):
    ordered = Event(parameters=(Parameter("sku", Sku),))

    class Meta:
        name = "shop"


def _letters(raw_redis, stream: str) -> list[DeadLetter]:
    return [DeadLetter.from_fields(i.decode(), f) for i, f in raw_redis.xrange(stream)]


def _pending(raw_redis, stream: str, group: str) -> int:
    return int(raw_redis.xpending(stream, group)["pending"])


def test_entries_of_one_batch_that_break_any_step_are_dead_lettered_and_the_rest_handled(
    bus_factory, raw_redis
):
    bus = bus_factory(retry_backoff=0.01)
    bus.client.register_api(ShopApi())
    entries = {
        "good 1": b'{"sku": {"code": "a"}}',
        # ~2 KB, 1,000 levels: Python's JSON decoders raise RecursionError on it.
        "recursion": b'{"sku": ' + nest(1000) + b"}",
        "over the depth limit": b'{"sku": ' + nest(150) + b"}",
        "a type's own error": b'{"sku": {"code": "withdrawn"}}',
        "good 2": b'{"sku": {"code": "b"}}',
    }
    ids = {
        raw_redis.xadd(
            SHOP, {"m": raw_message(bus.client, "event", "shop", "ordered", data)}
        ).decode(): what
        for what, data in entries.items()
    }
    handled: list[str] = []
    # Every entry is in the stream before the listener starts: one read, one batch.
    bus.shop.ordered.listen(
        lambda event, sku: handled.append(sku.code), listener_name="shop", since="0"
    )
    wait_until(lambda: len(_letters(raw_redis, SHOP_DEAD)) == 3 and len(handled) == 2)
    bus.shop.ordered.fire(sku=Sku("c"))  # the listener reads on
    wait_until(lambda: handled == ["a", "b", "c"])

    letters = {ids[letter.entry_id]: letter for letter in _letters(raw_redis, SHOP_DEAD)}
    assert set(letters) == {"recursion", "over the depth limit", "a type's own error"}
    for what in ("recursion", "over the depth limit"):
        assert letters[what].error_type == "lightbus.errors.PayloadTooDeep"
        assert "more than 100 levels" in letters[what].error
        assert "max_payload_depth" in letters[what].error
    withdrawn = letters["a type's own error"]
    assert withdrawn.error_type == "LookupError"
    assert withdrawn.error == "SKU 'withdrawn' is no longer sold"
    assert "__post_init__" in withdrawn.traceback
    assert all(letter.attempts == 1 for letter in letters.values())
    assert letters["recursion"].raw == raw_redis.xrange(SHOP)[1][1][b"m"]  # byte for byte
    wait_until(lambda: _pending(raw_redis, SHOP, "default.shop") == 0)


def test_a_worker_restarted_with_its_name_dead_letters_a_bad_entry_it_held_and_reads_on(
    project, start_worker, redis_url, raw_redis
):
    """The pass that takes back a restarted worker's own pending entries meets the bad
    entry first; it must neither stop there nor keep the listener from new events."""
    bus = producer(redis_url)
    raw_redis.xgroup_create(JOBS, "default.jobs", id="$", mkstream=True)
    deep = raw_message(bus.client, "event", "jobs", "job", b'{"n": ' + nest(1000) + b"}")
    raw_redis.xadd(JOBS, {"m": deep})
    bus.jobs.job.fire_many([{"n": n} for n in range(3)])
    # The worker "same" read all four and died before acknowledging any of them.
    raw_redis.xreadgroup("default.jobs", "same", {JOBS: ">"}, count=10)
    folder = project(BUS_SOURCE)
    start_worker(folder, **worker_env(LIGHTBUS_PROCESS_NAME="same"))
    wait_until(lambda: ended(folder) == {0, 1, 2})
    bus.jobs.job.fire_many([{"n": n} for n in range(3, 23)])  # new events are read too
    wait_until(lambda: ended(folder) == set(range(23)), timeout=15)
    bus.close()

    (letter,) = _letters(raw_redis, JOBS_DEAD)
    assert letter.error_type == "lightbus.errors.PayloadTooDeep"
    assert letter.attempts == 2  # its second delivery, counted
    assert {line.attempt for line in read_log(folder) if line.n < 3} == {2}
    wait_until(lambda: _pending(raw_redis, JOBS, "default.jobs") == 0)


def test_a_reclaim_pass_dead_letters_a_bad_entry_and_runs_the_good_ones_claimed_after_it(
    bus_factory, raw_redis
):
    bus = bus_factory(ack_timeout=0.5)
    bus.client.register_api(JobsApi())
    bus.jobs.job.fire(n=1)
    deep = raw_message(bus.client, "event", "jobs", "job", b'{"n": ' + nest(1000) + b"}")
    raw_redis.xadd(JOBS, {"m": deep})
    bus.jobs.job.fire_many([{"n": 2}, {"n": 3}])
    raw_redis.xgroup_create(JOBS, "default.jobs", id="0")
    # A worker that died holding all four: another reclaims them after ack_timeout.
    raw_redis.xreadgroup("default.jobs", "dead", {JOBS: ">"}, count=10)
    handled: list[tuple[int, int]] = []
    bus.jobs.job.listen(lambda event, n: handled.append((n, event.attempt)), listener_name="jobs")
    wait_until(lambda: sorted(handled) == [(1, 2), (2, 2), (3, 2)], timeout=5)

    (letter,) = _letters(raw_redis, JOBS_DEAD)
    assert letter.error_type == "lightbus.errors.PayloadTooDeep" and letter.attempts == 2
    wait_until(lambda: _pending(raw_redis, JOBS, "default.jobs") == 0)


def test_entries_over_the_limits_or_of_a_newer_version_are_dead_lettered_saying_so(
    bus_factory, raw_redis
):
    """Written by another producer, past what fire() would have let through."""
    bus = bus_factory()
    bus.client.register_api(JobsApi())
    client = bus.client
    entries = {
        "5 MB": raw_message(client, "event", "jobs", "job", b'{"n": "' + b"x" * 5_000_000 + b'"}'),
        "deep": raw_message(client, "event", "jobs", "job", b'{"n": ' + nest(101) + b"}"),
        "v2": raw_message(client, "event", "jobs", "job", b'{"n": 1}', v=2),
        # A newer version may change what fields hold: the version is the reason given.
        "v2 reshaped": raw_message(client, "event", "jobs", "job", b"[1]", v=2, sent_at="now"),
        "just deep enough": raw_message(
            client, "event", "jobs", "job", b'{"n": ' + nest(99) + b"}"
        ),
    }
    ids = {raw_redis.xadd(JOBS, {"m": data}).decode(): what for what, data in entries.items()}
    handled: list[object] = []
    bus.jobs.job.listen(lambda event, n: handled.append(n), listener_name="jobs", since="0")
    wait_until(lambda: len(_letters(raw_redis, JOBS_DEAD)) == 4 and len(handled) == 1)

    letters = {ids[letter.entry_id]: letter for letter in _letters(raw_redis, JOBS_DEAD)}
    assert set(letters) == {"5 MB", "deep", "v2", "v2 reshaped"}
    big = letters["5 MB"]
    assert big.error_type == "lightbus.errors.PayloadTooLarge"
    assert "jobs.job: the message is 5000" in big.error and "max_payload_bytes" in big.error
    assert letters["deep"].error_type == "lightbus.errors.PayloadTooDeep"
    for what in ("v2", "v2 reshaped"):
        assert letters[what].error_type == "lightbus.limits.UnsupportedVersion"
        assert "protocol version 2, newer than this process understands" in letters[what].error
    wait_until(lambda: _pending(raw_redis, JOBS, "default.jobs") == 0)
