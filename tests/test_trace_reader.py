"""The public trace reader against a real Redis: filters, history, live, find, bad entries."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import msgspec
import pytest

import lightbus
from lightbus import ids, tracereader
from lightbus.trace import RECORD_VERSION, TraceRecord
from lightbus.traceentries import stream_position

KEY = "lightbus:trace"


def record(step: str, **fields) -> TraceRecord:
    kind = step.partition(".")[0]
    fields.setdefault("id", ids.message_id())
    fields.setdefault("trace_id", ids.trace_id())
    fields.setdefault("span_id", ids.span_id())
    return TraceRecord(record=step, ts=fields.pop("ts", 1), kind=kind, **fields)


def put(raw_redis, *records: TraceRecord, at_ms: int | None = None) -> list[str]:
    """Append records; ``at_ms`` gives them stream ids at that time (else Redis's clock)."""
    written = []
    for n, rec in enumerate(records):
        entry_id = f"{at_ms}-{n}" if at_ms is not None else "*"
        written.append(raw_redis.xadd(KEY, rec.to_fields(), id=entry_id).decode())
    return written


@pytest.fixture
async def bus(redis_url):
    bus = lightbus.create(redis_url=redis_url)
    yield bus
    await bus.client.close()


async def collect(bus, **kwargs) -> list[TraceRecord]:
    return [r async for r in lightbus.read_trace(bus, **kwargs)]


async def test_filters_match_each_field(bus, raw_redis):
    tid = ids.trace_id()
    put(
        raw_redis,
        record("event.fired", api="shop", name="placed", trace_id=tid, status="ok"),
        record("event.failed", api="shop", name="placed", status="error", listener="audit"),
        record("rpc.called", api="stock", name="reserve", status="ok", service="front"),
        record("rpc.expired", api="stock", name="reserve", status="expired"),
        TraceRecord(record="worker.started", ts=1, kind="worker", service="shop"),
    )

    async def steps(**kwargs):
        return [r.record for r in await collect(bus, **kwargs)]

    assert await steps(api="shop") == ["event.fired", "event.failed"]
    assert await steps(name="reserve") == ["rpc.called", "rpc.expired"]
    assert await steps(kind="worker") == ["worker.started"]
    assert await steps(kind="rpc", status="expired") == ["rpc.expired"]
    assert await steps(status="error") == ["event.failed"]
    assert await steps(step="event.failed") == ["event.failed"]
    assert await steps(trace_id=tid.upper()) == ["event.fired"]
    assert await steps(service="front") == ["rpc.called"]
    assert await steps(api="nope") == []


async def test_since_until_and_limit(bus, raw_redis):
    base = 1_700_000_000_000
    for n in range(5):
        put(raw_redis, record("event.fired", api="a", name=str(n)), at_ms=base + n * 1000)
    names = [r.name for r in await collect(bus, since=base + 1000, until=base + 3000)]
    assert names == ["1", "2", "3"]
    since = datetime.fromtimestamp((base + 3000) / 1000, tz=UTC)
    assert [r.name for r in await collect(bus, since=since)] == ["3", "4"]
    # limit: the newest N of the range, returned oldest first
    assert [r.name for r in await collect(bus, limit=2)] == ["3", "4"]
    assert [r.name for r in await collect(bus, until=base + 2000, limit=2)] == ["1", "2"]
    assert await collect(bus, limit=0) == []
    first = (await collect(bus))[0]
    assert first.stream_id == f"{base}-0" and first.stream_ms == base


async def test_limit_pages_back_through_more_than_one_batch(bus, raw_redis):
    pipe = raw_redis.pipeline()
    for n in range(2500):
        rec = record("event.fired", api="a", name="hit" if n % 1000 == 7 else "miss")
        pipe.xadd(KEY, rec.to_fields())
    pipe.execute()
    hits = await collect(bus, name="hit", limit=5)
    assert len(hits) == 3
    assert hits == sorted(hits, key=lambda r: stream_position(r.stream_id))
    assert len(await collect(bus)) == 2500


async def test_follow_yields_history_then_live_records_without_a_gap(bus, raw_redis):
    put(raw_redis, record("event.fired", api="a", name="old"))
    got: list[str] = []

    async def read():
        async for rec in lightbus.read_trace(bus, follow=True, api="a", limit=10):
            got.append(rec.name)
            if len(got) == 3:
                return

    task = asyncio.create_task(read())
    await asyncio.sleep(0.2)
    put(raw_redis, record("event.fired", api="b", name="other"))
    put(raw_redis, record("event.fired", api="a", name="new1"))
    put(raw_redis, record("event.fired", api="a", name="new2"))
    await asyncio.wait_for(task, 10)
    assert got == ["old", "new1", "new2"]


async def test_follow_without_history_starts_at_now(bus, raw_redis):
    put(raw_redis, record("event.fired", api="a", name="old"))
    reader = lightbus.TraceReader(bus)
    stream = reader.follow()
    nxt = asyncio.ensure_future(stream.__anext__())
    await asyncio.sleep(0.2)
    put(raw_redis, record("event.fired", api="a", name="new"))
    rec = await asyncio.wait_for(nxt, 10)
    assert rec.name == "new"
    await stream.aclose()


async def test_find_starts_near_the_ids_time_and_does_not_scan_the_stream(bus, raw_redis):
    now = ids.timestamp_ms(ids.message_id())
    # An hour of older records, then the message (written 2 s after its id, a skewed clock).
    pipe = raw_redis.pipeline()
    for n in range(20_000):
        pipe.xadd(KEY, record("event.fired", api="old").to_fields(), id=f"{now - 3_600_000 + n}-0")
    pipe.execute()
    wanted = ids.message_id()
    stamp = ids.timestamp_ms(wanted)
    put(raw_redis, record("event.fired", id=wanted, api="shop"), at_ms=stamp + 2000)
    put(raw_redis, record("event.handled", id=wanted, api="shop", listener="l"), at_ms=stamp + 2500)
    raw_redis.config_resetstat()
    found = await lightbus.TraceReader(bus).find(wanted)
    assert found is not None and found.record == "event.fired" and found.api == "shop"
    stats = raw_redis.info("commandstats")
    assert stats["cmdstat_xrange"]["calls"] == 1, "one XRANGE near the id's time, not a scan"
    assert stats.get("cmdstat_xrevrange", {"calls": 0})["calls"] == 0
    assert (await tracereader.find(bus, wanted)) == found
    steps = [r.record for r in await lightbus.TraceReader(bus).records_of(wanted)]
    assert steps == ["event.fired", "event.handled"]


async def test_find_returns_none_for_an_unknown_id_and_refuses_a_non_id(bus, raw_redis):
    put(raw_redis, record("event.fired"))
    reader = lightbus.TraceReader(bus)
    assert await reader.find(ids.message_id()) is None
    assert await reader.records_of(ids.message_id()) == []
    with pytest.raises(ValueError, match="not a Lightbus message id"):
        await reader.find("not-an-id")
    with pytest.raises(ValueError, match="not a Lightbus message id"):
        await reader.find(ids.trace_id()[:12] + "4" + "0" * 19)


async def test_trace_gathers_every_record_of_one_trace(bus, raw_redis):
    tid = ids.trace_id()
    base = ids.timestamp_ms(ids.message_id())
    put(raw_redis, record("rpc.called", trace_id=tid, name="root"), at_ms=base - 5000)
    put(raw_redis, *[record("event.fired", name="noise") for _ in range(50)], at_ms=base)
    put(raw_redis, record("event.fired", trace_id=tid, name="child"), at_ms=base + 1000)
    put(raw_redis, record("event.fired", trace_id=tid, name="far"), at_ms=base + 600_000)
    reader = lightbus.TraceReader(bus, gap_ms=60_000)
    names = [r.name for r in await reader.trace(tid, near_ms=base + 1000)]
    assert names == ["root", "child"], "stops after gap_ms of stream time without a match"
    # By trace id alone: newest first, so the newest cluster of the trace.
    assert [r.name for r in await reader.trace(tid.upper())] == ["far"]
    wide = lightbus.TraceReader(bus, gap_ms=3_600_000)
    assert [r.name for r in await wide.trace(tid)] == ["root", "child", "far"]


async def test_newer_format_records_are_skipped_with_one_warning(bus, raw_redis, caplog):
    newer = record("event.fired", api="future")
    newer.v = RECORD_VERSION + 1
    retyped = msgspec.json.encode({"v": RECORD_VERSION + 1, "record": 5, "ts": "soon"})
    put(raw_redis, newer, newer, record("event.fired", api="today"))
    raw_redis.xadd(KEY, {"r": retyped})
    reader = lightbus.TraceReader(bus)
    with caplog.at_level(logging.WARNING, logger="lightbus.trace"):
        got = await collect(bus, reader=reader)
    assert [r.api for r in got] == ["today"]
    assert reader.skipped_newer == 3
    warnings = [r for r in caplog.records if "newer format" in r.getMessage()]
    assert len(warnings) == 1
    assert f"version {RECORD_VERSION + 1}" in warnings[0].getMessage()


async def test_entries_written_by_something_else_are_skipped(bus, raw_redis, caplog):
    raw_redis.xadd(KEY, {"hello": "world"})
    raw_redis.xadd(KEY, {"r": "not json"})
    raw_redis.xadd(KEY, {"r": '{"record": "event.fired"}'})  # no ts: not a record
    raw_redis.xadd(KEY, {"r": "[1, 2]"})
    put(raw_redis, record("event.fired", api="real"))
    reader = lightbus.TraceReader(bus)
    with caplog.at_level(logging.WARNING, logger="lightbus.trace"):
        got = await collect(bus, reader=reader)
    assert [r.api for r in got] == ["real"]
    assert reader.skipped_foreign == 4 and reader.skipped_newer == 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_an_unreachable_redis_is_a_clear_error():
    bus = lightbus.create(redis_url="redis://127.0.0.1:1/0", connect_timeout=0.5)
    try:
        with pytest.raises(lightbus.BusConnectionError, match=r"Cannot reach Redis at redis://"):
            await asyncio.wait_for(collect(bus), 10)
        with pytest.raises(lightbus.BusConnectionError):
            await asyncio.wait_for(lightbus.TraceReader(bus).find(ids.message_id()), 10)
    finally:
        await bus.client.close()


async def test_follow_carries_on_after_its_connection_is_killed(bus, raw_redis):
    got: list[str] = []

    async def read():
        async for rec in lightbus.read_trace(bus, follow=True):
            got.append(rec.name)
            if len(got) == 2:
                return

    task = asyncio.create_task(read())
    for _ in range(200):
        if raw_redis.info("clients")["blocked_clients"]:
            break
        await asyncio.sleep(0.02)
    put(raw_redis, record("event.fired", name="before"))
    for _ in range(200):
        if got:
            break
        await asyncio.sleep(0.02)
    raw_redis.client_kill_filter(_type="normal", skipme=True)
    put(raw_redis, record("event.fired", name="after"))
    await asyncio.wait_for(task, 15)
    assert got == ["before", "after"]
