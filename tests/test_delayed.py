"""Delayed events: fire(delay=) / fire(at=) reach listeners no earlier than their time,
once across workers, and survive every worker stopping (the wait is in Redis)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time

import pytest
from support import reach, run_python, wait_until

from lightbus import Api, Event, read_trace
from lightbus.keys import Keys
from lightbus.tracetree import build_tree


class MailApi(Api):
    reminder_due = Event(parameters=("user",))
    timed = Event(parameters=("delay", "at"))

    class Meta:
        name = "mail"


async def test_a_delayed_event_arrives_no_earlier_than_its_time(serve, caller):
    handled: list[tuple[str, float]] = []

    def remind(event, user):
        handled.append((user, time.time()))

    await serve(
        MailApi(), setup=lambda bus: bus.mail.reminder_due.listen(remind, listener_name="remind")
    )
    bus = caller()
    fired_at = time.time()
    sent = await bus.mail.reminder_due.fire_async(user="ann", delay=1.5)
    at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1.0)
    await bus.mail.reminder_due.fire_async(user="bob", at=at)
    await bus.mail.reminder_due.fire_async(user="now")  # no delay: at once
    await reach(lambda: len(handled) == 3, timeout=10)
    when = dict(handled)
    assert when["ann"] >= fired_at + 1.5
    assert when["bob"] >= at.timestamp()
    assert handled[0][0] == "now"
    assert sent.id

    # The trace: fired (delayed, with its due time), then released, then handled.
    async def mine() -> list:
        return [r async for r in read_trace(bus, trace_id=sent.trace_id) if r.id == sent.id]

    deadline = time.monotonic() + 5
    while "event.handled" not in [r.record for r in await mine()]:
        assert time.monotonic() < deadline, await mine()
        await asyncio.sleep(0.05)
    mine = await mine()
    assert [r.record for r in mine] == ["event.fired", "event.released", "event.handled"]
    fired, released, _ = mine
    assert fired.status == "delayed"
    assert fired.detail["due_at"] >= fired_at * 1000 + 1500
    assert released.ts >= fired.detail["due_at"]
    (node,) = build_tree(mine)  # the release is part of the message, not a handling
    assert [h.listener for h in node.handlings] == ["remind"]


async def test_fire_many_delays_every_item_and_zero_delay_fires_now(serve, caller, raw_redis):
    handled: list[str] = []
    await serve(
        MailApi(),
        setup=lambda bus: bus.mail.reminder_due.listen(
            lambda event, user: handled.append(user), listener_name="remind"
        ),
    )
    bus = caller()
    await bus.mail.reminder_due.fire_many_async([{"user": "a"}, {"user": "b"}], delay=1.5)
    assert raw_redis.zcard(Keys().delayed("mail", "reminder_due")) == 2
    await bus.mail.reminder_due.fire_async(user="c", delay=0)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    await bus.mail.reminder_due.fire_async(user="d", at=past)
    await reach(lambda: len(handled) == 4, timeout=10)
    assert sorted(handled[:2]) == ["c", "d"]  # zero and past delays are fired at once
    assert sorted(handled[2:]) == ["a", "b"]
    assert raw_redis.zcard(Keys().delayed("mail", "reminder_due")) == 0


async def test_an_event_parameter_named_delay_is_an_argument_and_bus_options_delays_it(
    serve, caller
):
    handled: list[tuple[object, object, float]] = []
    await serve(
        MailApi(),
        setup=lambda bus: bus.mail.timed.listen(
            lambda event, delay, at: handled.append((delay, at, time.time())),
            listener_name="timed",
        ),
    )
    bus = caller()
    started = time.time()
    await bus.mail.timed.fire_async(delay=5, at="noon", bus_options={"delay": 0.3})
    await reach(lambda: handled, timeout=10)
    delay, at, when = handled[0]
    assert (delay, at) == (5, "noon")
    assert when >= started + 0.3


@pytest.mark.parametrize(
    ("options", "error", "says"),
    [
        ({"delay": -1}, ValueError, "zero or more seconds"),
        ({"delay": float("nan")}, ValueError, "zero or more seconds"),
        ({"delay": "10"}, TypeError, "number of seconds"),
        ({"delay": True}, TypeError, "number of seconds"),
        ({"at": "2030-01-01"}, TypeError, "timezone-aware datetime"),
        ({"at": dt.datetime(2030, 1, 1)}, ValueError, "naive"),
        ({"delay": 1, "at": dt.datetime(2030, 1, 1, tzinfo=dt.UTC)}, ValueError, "not both"),
    ],
)
async def test_a_bad_delay_is_refused_and_nothing_is_sent(
    serve, caller, raw_redis, options, error, says
):
    await serve(MailApi())
    bus = caller()
    with pytest.raises(error, match=says):
        await bus.mail.reminder_due.fire_async(user="x", **options)
    with pytest.raises(error, match=says):
        await bus.mail.reminder_due.fire_many_async([{"user": "x"}], **options)
    assert raw_redis.keys("lightbus:delayed:*") == []
    assert raw_redis.keys("lightbus:event:*") == []


async def test_unknown_bus_options_are_refused(serve, caller):
    await serve(MailApi())
    with pytest.raises(TypeError, match="takes delay and at, not countdown"):
        await caller().mail.reminder_due.fire_async(user="x", bus_options={"countdown": 3})


LISTENER = """
import json, os, time, lightbus
from lightbus import Api, Event

class MailApi(Api):
    reminder_due = Event(parameters=("user", "due"))
    class Meta:
        name = "mail"

bus = lightbus.create()
bus.client.register_api(MailApi())

def remind(event, user, due):
    with open(os.environ["OUT"], "a") as out:
        out.write(json.dumps({"user": user, "due": due, "at": time.time(),
                              "process": os.environ["LIGHTBUS_PROCESS_NAME"]}) + "\\n")

@bus.client.on_start()
def start(**_):
    bus.mail.reminder_due.listen(remind, listener_name="remind")
"""

FIRE = """
import sys, time, lightbus
bus = lightbus.create()
batch, count, delay = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
due = time.time() + delay
bus.mail.reminder_due.fire_many(
    [{"user": f"{batch}{i}", "due": due} for i in range(count)], delay=delay
)
print("fired")
"""


def test_delayed_events_are_handled_once_across_workers_and_survive_all_workers_stopping(
    project, start_worker, worker_env, tmp_path, raw_redis
):
    folder = project(LISTENER)
    out = tmp_path / "handled.jsonl"

    def start_all() -> list:
        return [start_worker(folder, LIGHTBUS_PROCESS_NAME=f"w{i}", OUT=str(out)) for i in range(3)]

    def fire(batch: str, count: int, delay: float) -> None:
        run_python(FIRE, batch, str(count), str(delay), cwd=folder, env=worker_env())

    def handled() -> list[dict]:
        if not out.exists():
            return []
        return [json.loads(line) for line in out.read_text().splitlines()]

    workers = start_all()
    fire("a", 60, 1.0)  # released while the three workers run
    wait_until(lambda: len(handled()) >= 60, timeout=30)
    for worker in workers:
        worker.stop()
    fire("b", 60, 1.0)  # due while no worker runs
    assert raw_redis.zcard(Keys().delayed("mail", "reminder_due")) == 60  # still waiting
    due_b = json.loads(raw_redis.zrange(Keys().delayed("mail", "reminder_due"), 0, 0)[0])
    wait_until(lambda: time.time() > due_b["kwargs"]["due"] + 0.5, timeout=10)
    assert not [row for row in handled() if row["user"].startswith("b")]
    start_all()
    wait_until(lambda: len(handled()) >= 120, timeout=30)
    time.sleep(0.5)  # a duplicate delivery would show by now
    rows = handled()
    users = sorted(row["user"] for row in rows)
    assert users == sorted([f"a{i}" for i in range(60)] + [f"b{i}" for i in range(60)])
    assert all(row["at"] >= row["due"] for row in rows)  # none before its time
    assert len({row["process"] for row in rows}) >= 2  # the work was shared
    assert raw_redis.zcard(Keys().delayed("mail", "reminder_due")) == 0
