"""What the trace settings change: off switch, payload cap, redaction, traceback cap."""

from __future__ import annotations

import json

import pytest
from support import wait_until

import lightbus
from lightbus import trace
from lightbus.message import Message
from lightbus.settings import Settings
from lightbus.traceentries import records_from_fields
from lightbus.tracesink import TraceSink

BUS = """
import lightbus
from lightbus import Api, Event

class ShopApi(Api):
    placed = Event(parameters=("n",))

    class Meta:
        name = "shop"

    def place(self, n: int) -> int:
        bus.shop.placed.fire(n=n)
        return n

bus = lightbus.create()
bus.client.register_api(ShopApi())
seen = []

@bus.client.on_start()
def start(**_):
    bus.shop.placed.listen(lambda event, n: print("handled", n, flush=True), listener_name="l")
"""


def test_tracing_off_writes_nothing_to_the_stream(project, start_worker, bus_factory, raw_redis):
    worker = start_worker(project(BUS), LIGHTBUS_TRACE_ENABLED="false")
    bus = bus_factory(trace_enabled=False)
    assert bus.shop.place(n=7) == 7
    worker.wait_for("handled 7")
    worker.stop()
    bus.close()
    assert raw_redis.exists("lightbus:trace") == 0
    assert raw_redis.xlen("lightbus:event:shop.placed") == 1  # the bus itself still works


def test_the_same_run_with_tracing_on_does_write(project, start_worker, bus_factory, raw_redis):
    """The control for the test above: without the switch, the records are there."""
    worker = start_worker(project(BUS))
    bus = bus_factory()
    assert bus.shop.place(n=7) == 7
    worker.wait_for("handled 7")
    wait_until(lambda: raw_redis.xlen("lightbus:trace") >= 6)


def writer(**settings) -> TraceSink:
    return TraceSink(Settings(**settings), "lightbus:trace")


def event(**kwargs) -> Message:
    return Message(
        id="0" * 32,
        kind="event",
        api="a",
        name="b",
        trace_id="1" * 32,
        span_id="2" * 16,
        kwargs=kwargs,
    )


def test_redaction_reaches_nested_fields_case_insensitively():
    record = writer(trace_redact=("password", "Token")).for_message(
        trace.EVENT_FIRED,
        event(user={"name": "ann", "PASSWORD": "x"}, items=[{"token": "t", "n": 1}], note="ok"),
    )
    assert record.redacted and not record.truncated
    assert json.loads(record.payload) == {
        "user": {"name": "ann", "PASSWORD": "***"},
        "items": [{"token": "***", "n": 1}],
        "note": "ok",
    }
    clean = writer().for_message(trace.EVENT_FIRED, event(note="ok"))
    assert clean.redacted is False


def test_payloads_and_tracebacks_are_capped():
    w = writer(trace_payload_bytes=50, trace_traceback_bytes=40)
    record = w.for_message(
        trace.EVENT_FAILED,
        event(blob="y" * 500),
        error=ValueError("e" * 100),
        traceback="Traceback (most recent call last):\n" + "  frame\n" * 50 + "ValueError: boom\n",
    )
    assert record.truncated and len(record.payload) == 50
    assert record.traceback.startswith("...\n") and record.traceback.endswith("ValueError: boom\n")
    assert len(record.error) == 40
    small = w.for_message(trace.EVENT_FIRED, event(n=1))
    assert not small.truncated and json.loads(small.payload) == {"n": 1}


def test_records_say_which_process_handled_a_message():
    w = writer(process_name="worker-9")
    assert w.for_message(trace.EVENT_HANDLED, event()).handled_by == "worker-9"
    assert w.for_message(trace.EVENT_FIRED, event()).handled_by == ""


def test_retention_by_age_trims_old_records(bus_factory, raw_redis):
    old = trace.TraceRecord(record="event.fired", ts=1)
    pipe = raw_redis.pipeline()
    for n in range(300):
        pipe.xadd("lightbus:trace", old.to_fields(), id=f"{1000 + n}-0")
    pipe.execute()
    bus = bus_factory(trace_max_age=60.0)

    class Api(lightbus.Api):
        e = lightbus.Event()

        class Meta:
            name = "ages"

    bus.client.register_api(Api())
    bus.ages.e.fire()
    # MINID ~ trims whole macro nodes (100 entries by default), so some old ones may stay.
    assert raw_redis.xlen("lightbus:trace") < 150
    newest = raw_redis.xrevrange("lightbus:trace", count=1)[0][1]
    assert any(b"ages" in value for value in newest.values())


SCHEDULED = """
import lightbus
from lightbus import Api, Event

class TickApi(Api):
    first = Event()
    second = Event()

    class Meta:
        name = "tick"

bus = lightbus.create()
bus.client.register_api(TickApi())

@bus.client.every(seconds=0.5)
def tick():
    assert lightbus.current_trace() is not None
    bus.tick.first.fire()
    bus.tick.second.fire()
"""


def test_each_scheduled_tick_is_one_trace(project, start_worker, raw_redis):
    start_worker(project(SCHEDULED))

    def fired():
        entries = raw_redis.xrange("lightbus:trace")
        records = [r for i, f in entries for r in records_from_fields(i.decode(), f)]
        found = [r for r in records if r.record == "event.fired"]
        runs = {r.id: r for r in records if r.record == "schedule.ran"}
        return (found, runs) if len(found) >= 4 and len(runs) >= 2 else None

    records, runs = wait_until(fired, timeout=15)
    first_tick, second_tick = records[:2], records[2:4]
    assert [r.name for r in first_tick] == ["first", "second"]
    assert first_tick[0].trace_id == first_tick[1].trace_id
    assert second_tick[0].trace_id != first_tick[0].trace_id
    # Each tick's run is the root of its trace: what it fired names the run as its cause.
    for record in records[:4]:
        run = runs[record.causation_id]
        assert (run.trace_id, run.span_id) == (record.trace_id, record.parent_span_id)
        assert run.parent_span_id == run.causation_id == ""


def test_a_negative_trace_max_age_is_refused():
    with pytest.raises(lightbus.ConfigError, match="trace_max_age") as info:
        Settings(trace_max_age=-1)
    assert info.value.key == "trace_max_age"


def test_tracing_off_builds_no_record_at_all():
    """Off means free: the writer hands back nothing to encode, and adding nothing is a no-op."""
    off = writer(trace_enabled=False)
    assert off.for_message(trace.EVENT_FIRED, event(n=1)) is None
    assert writer().for_message(trace.EVENT_FIRED, event(n=1)) is not None
