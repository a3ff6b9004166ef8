"""Records written together share one trace stream entry; the reader gives them back one by one."""

from __future__ import annotations

import asyncio
import logging

import msgspec
import pytest

import lightbus
from lightbus import Api, BusClient, Event, Settings, trace, traceentries
from lightbus.trace import TraceRecord
from lightbus.traceentries import entry_of, records_from_fields, stream_position
from lightbus.tracesink import TraceSink
from lightbus_tools.feed import _after

KEY = "lightbus:trace"


class ShopApi(Api):
    order_placed = Event(parameters=("n",))

    class Meta:
        name = "shop"


@pytest.fixture
async def client(redis_url):
    client = BusClient(Settings(redis_url=redis_url))
    client.register_api(ShopApi())
    yield client
    await client.close()


async def test_a_batch_of_fires_is_one_entry_and_reads_back_as_one_record_each(client, raw_redis):
    sent = await client.fire_many("shop", "order_placed", [{"n": n} for n in range(300)])
    # One write: 300 records in entries of up to 16 records, not 300 entries.
    assert raw_redis.xlen(KEY) == -(-300 // traceentries.ENTRY_RECORDS)

    records = [r async for r in lightbus.read_trace(client, step="event.fired")]
    assert [r.id for r in records] == [m.id for m in sent]  # each event once, in order
    assert [r.payload for r in records] == [f'{{"n":{n}}}' for n in range(300)]
    ids = [r.stream_id for r in records]
    assert len(set(ids)) == 300  # every record has its own stream id
    assert ids[0] == entry_of(ids[1]) and ids[1] == f"{ids[0]}#1"
    assert sorted(ids, key=stream_position) == ids

    # Finding one message, its trace, and the newest few all see records inside the entry.
    found = await lightbus.TraceReader(client).find(sent[150].id)
    assert found is not None and found.id == sent[150].id
    newest = [r async for r in lightbus.read_trace(client, limit=3)]
    assert [r.id for r in newest] == [m.id for m in sent[-3:]]
    reader = lightbus.TraceReader(client)
    tree = await reader.trace(sent[7].trace_id, near_ms=found.stream_ms)
    assert [r.id for r in tree] == [sent[7].id]


async def test_an_entry_stays_small_so_trace_maxlen_still_bounds_memory(client, raw_redis):
    """trace_maxlen caps entries; an entry holds at most 16 records and about 16 KB."""
    big = "x" * 3000
    await client.fire_many("shop", "order_placed", [{"n": big} for _ in range(40)])
    entries = raw_redis.xrange(KEY)
    sizes = [sum(len(value) for value in fields.values()) for _, fields in entries]
    assert len(entries) > 40 // traceentries.ENTRY_RECORDS  # split by size, not only by count
    assert max(sizes) <= traceentries.ENTRY_BYTES + 4000  # the cap, plus at most one record
    records = [r async for r in lightbus.read_trace(client)]
    assert len(records) == 40 and all(r.payload == f'{{"n":"{big}"}}' for r in records)


async def test_acks_of_one_batch_write_their_handled_records_in_one_entry(client, raw_redis):
    await client.fire_many("shop", "order_placed", [{"n": n} for n in range(40)])
    handled: list[int] = []

    async def handler(event, n):
        handled.append(n)

    listener = client.listen([("shop", "order_placed")], handler, listener_name="t", since="0")
    await client.start_listener(listener)
    async with asyncio.timeout(10):
        while True:
            records = [r async for r in lightbus.read_trace(client, step="event.handled")]
            if len(records) == 40:
                break
            await asyncio.sleep(0.02)
    assert sorted(handled) == list(range(40))
    assert {r.listener for r in records} == {"t"}
    assert {(r.attempt, r.status, r.payload) for r in records} == {(1, "ok", "")}
    assert {r.handled_by for r in records} == {client.settings.process_name}
    # 1 entry for the fires, and far fewer than 40 for the handled records.
    assert raw_redis.xlen(KEY) < 1 + 40 // 2


async def test_following_from_a_record_inside_an_entry_resumes_after_that_entry(client):
    await client.fire_many("shop", "order_placed", [{"n": n} for n in range(3)])
    first = [r async for r in lightbus.read_trace(client)]
    reader = lightbus.TraceReader(client)
    stop = asyncio.Event()
    seen: list[TraceRecord] = []

    async def follow() -> None:
        async for record in reader.follow(after=first[1].stream_id, stop=stop.is_set):
            seen.append(record)
            stop.set()

    task = asyncio.create_task(follow())
    await asyncio.sleep(0.1)
    later = await client.fire("shop", "order_placed", {"n": 99})
    await asyncio.wait_for(task, 5)
    assert [r.id for r in seen] == [later.id]


async def test_a_failing_trace_write_does_not_fail_the_fire(client, raw_redis, caplog):
    raw_redis.set(KEY, "not a stream")  # XADD to it fails with WRONGTYPE
    with caplog.at_level(logging.WARNING, logger="lightbus.trace"):
        await client.fire_many("shop", "order_placed", [{"n": 1}, {"n": 2}])
        await client.fire("shop", "order_placed", {"n": 3})
    assert raw_redis.xlen("lightbus:event:shop.order_placed") == 3  # the events went out
    assert "trace records were not written" in caplog.text
    assert "WRONGTYPE" in caplog.text


@pytest.mark.parametrize("field", [traceentries.BATCH_FIELD, traceentries.STEPS_FIELD])
def test_an_entry_that_does_not_decode_names_the_entry(field):
    with pytest.raises(ValueError, match="trace entry 5-0 does not decode"):
        records_from_fields("5-0", {field.encode(): b'[{"record": 1}]'})
    newer = b'[{"v": 99, "record": "event.fired", "ts": 1, "m": {}, "new": {"x": 1}}]'
    with pytest.raises(trace.NewerRecordVersion, match="version 99"):
        records_from_fields("5-0", {field.encode(): newer})


def test_a_message_step_whose_message_does_not_decode_names_the_entry():
    junk = b'[{"record": "event.fired", "ts": 1, "m": {"id": 5}}]'
    with pytest.raises(ValueError, match="trace entry 5-0 holds a message that does not decode"):
        records_from_fields("5-0", {traceentries.STEPS_FIELD.encode(): junk})


def _writer(**settings) -> TraceSink:
    return TraceSink(Settings(**settings), KEY)


def _read_back(item) -> TraceRecord:
    (fields,) = traceentries.pack([item, item])  # two: an entry of the shared kind
    return records_from_fields("7-0", {k.encode(): v for k, v in fields.items()})[0]


@pytest.mark.parametrize(
    ("step", "options"),
    [
        (trace.EVENT_FIRED, {}),
        (trace.EVENT_HANDLED, {"listener": "audit", "queued_ms": 2.5, "with_payload": False}),
    ],
)
def test_a_message_step_reads_back_as_the_record_it_stands_for(step, options):
    client = BusClient(Settings(service_name="shop", process_name="shop-1"))
    with lightbus.start_trace():
        message = client.make_message("event", "shop", "order_placed", kwargs={"n": 1, "é": [2]})
    message.attempt = 3
    message.host = "sender-box"  # the reader runs elsewhere: the record keeps the sender's
    writer = _writer(process_name="worker-1")
    item = writer.message_step(step, message, message.to_json(), duration_ms=0.1234, **options)
    assert isinstance(item, trace.MessageStep)  # the compact form was used
    full = writer.for_message(step, message, duration_ms=0.1234, **options)
    assert full is not None
    back = _read_back(item)
    assert back.stream_id == "7-0" and back.host == "sender-box"
    assert msgspec.structs.replace(back, ts=0, stream_id="") == msgspec.structs.replace(full, ts=0)


def test_a_message_with_a_redacted_name_or_too_large_is_traced_in_full():
    client = BusClient(Settings())
    writer = _writer(trace_payload_bytes=600)
    secret = client.make_message("event", "shop", "login", kwargs={"user": "a", "Password": "x"})
    item = writer.message_step(trace.EVENT_FIRED, secret, secret.to_json())
    assert isinstance(item, TraceRecord) and item.redacted
    assert "x" not in item.payload.replace("user", "")
    assert b'"x"' not in traceentries.pack([item, item])[0][traceentries.BATCH_FIELD]
    big = client.make_message("event", "shop", "order_placed", kwargs={"n": "y" * 1000})
    item = writer.message_step(trace.EVENT_FIRED, big, big.to_json())
    assert isinstance(item, TraceRecord) and item.truncated and len(item.payload) == 600


def test_record_positions_order_records_within_and_across_entries():
    ordered = ["9-0", "10-0", "10-0#1", "10-0#2", "10-0#10", "10-1"]
    assert sorted(reversed(ordered), key=stream_position) == ordered
    assert _after("10-0#2", "10-0#1") and not _after("10-0", "10-0#1")


async def test_a_record_that_cannot_be_encoded_is_dropped_and_the_write_goes_on(
    client, raw_redis, caplog
):
    bad = trace.TraceRecord(record="worker.started", ts=1, detail={"when": object()})
    with caplog.at_level(logging.ERROR, logger="lightbus.trace"):
        async with asyncio.timeout(10):  # never left waiting for a reply
            async with client.pipeline() as pipe:
                client.tracer.add(pipe, bad)
                pipe.xadd("elsewhere", {"k": b"v"})
                await pipe.execute()
            await client.fire("shop", "order_placed", {"n": 1})  # the next write is fine
    assert raw_redis.xlen("elsewhere") == 1
    assert "trace records could not be encoded" in caplog.text
    assert [r.record async for r in lightbus.read_trace(client)] == ["event.fired"]
