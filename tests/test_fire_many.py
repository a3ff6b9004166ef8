"""fire_many: a batch of events checked as a whole, sent in one write, each its own event."""

from __future__ import annotations

import asyncio
import time

import pytest

import lightbus
from lightbus import Api, Event, Parameter
from lightbus.errors import InvalidArguments, SyncCallInLoopError, ValidationError


class ShopApi(Api):
    order_placed = Event(parameters=(Parameter("order_id", str), Parameter("total", float, 0.0)))

    class Meta:
        name = "shop"


STREAM = "lightbus:event:shop.order_placed"


async def _until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def _records(bus, step: str) -> list[lightbus.TraceRecord]:
    return [r async for r in lightbus.read_trace(bus, step=step)]


async def test_every_event_of_a_batch_arrives_with_its_own_id_and_trace(serve, caller):
    received = []

    async def on_order(event, order_id, total):
        received.append((event.id, event.trace_id, order_id, total))

    await serve(
        ShopApi(),
        setup=lambda bus: bus.shop.order_placed.listen(on_order, listener_name="record"),
    )
    bus = caller()
    bus.client.register_api(ShopApi())
    items = [{"order_id": f"A{i}", "total": float(i)} for i in range(30)] + [{"order_id": "Z"}]
    sent = await bus.shop.order_placed.fire_many_async(items)

    assert [m.kwargs for m in sent] == [*items[:30], {"order_id": "Z", "total": 0.0}]
    assert len({m.id for m in sent}) == len({m.trace_id for m in sent}) == 31
    await _until(lambda: len(received) == 31)
    by_id = {
        event_id: (trace_id, order_id, total) for event_id, trace_id, order_id, total in received
    }
    assert by_id == {m.id: (m.trace_id, m.kwargs["order_id"], m.kwargs["total"]) for m in sent}

    fired = await _records(bus, "event.fired")
    assert sorted(r.id for r in fired) == sorted(m.id for m in sent)
    handled: list[lightbus.TraceRecord] = []

    async def all_handled() -> bool:
        handled[:] = await _records(bus, "event.handled")
        return len(handled) == 31

    deadline = time.monotonic() + 10
    while not await all_handled():
        assert time.monotonic() < deadline, f"{len(handled)} of 31 handled records"
        await asyncio.sleep(0.05)
    assert {(r.id, r.trace_id) for r in handled} == {(m.id, m.trace_id) for m in sent}


@pytest.mark.parametrize(
    ("bad", "error", "words"),
    [
        ({"total": 1.0}, InvalidArguments, "missing required argument(s): order_id"),
        ({"order_id": "x", "color": "red"}, InvalidArguments, "unexpected argument(s): color"),
        ({"order_id": 5}, ValidationError, "argument 'order_id' is invalid"),
        ("order_id=x", InvalidArguments, "dict of keyword arguments, not str"),
    ],
)
async def test_a_bad_item_names_its_index_and_nothing_is_sent(caller, raw_redis, bad, error, words):
    bus = caller()
    bus.client.register_api(ShopApi())
    items = [{"order_id": "ok-1"}, {"order_id": "ok-2"}, bad, {"order_id": "ok-3"}]
    with pytest.raises(error) as caught:
        await bus.shop.order_placed.fire_many_async(items)
    assert caught.value.item == 2
    assert str(caught.value).startswith("fire_many item 2: shop.order_placed")
    assert words in str(caught.value)
    assert raw_redis.exists(STREAM) == 0
    await bus.client.flush_trace()
    assert raw_redis.exists("lightbus:trace") == 0


async def test_fire_many_wants_a_list_of_dicts(caller, raw_redis):
    bus = caller()
    bus.client.register_api(ShopApi())
    with pytest.raises(InvalidArguments, match=r"takes a list of keyword-argument dicts.*not dict"):
        await bus.shop.order_placed.fire_many_async({"order_id": "A1"})
    assert await bus.shop.order_placed.fire_many_async([]) == []
    assert raw_redis.exists(STREAM) == 0


async def test_unknown_event_is_refused_like_fire(caller):
    bus = caller()
    bus.client.register_api(ShopApi())
    with pytest.raises(lightbus.errors.UnknownName, match="order_cancelled"):
        await bus.shop.order_cancelled.fire_many_async([{"order_id": "A1"}])


def test_the_blocking_form_sends_the_batch(bus_factory, raw_redis):
    bus = bus_factory()
    bus.client.register_api(ShopApi())
    sent = bus.shop.order_placed.fire_many([{"order_id": "B1"}, {"order_id": "B2", "total": 2.0}])
    assert [m.kwargs["order_id"] for m in sent] == ["B1", "B2"]
    entries = raw_redis.xrange(STREAM)
    assert len(entries) == 2
    assert [lightbus.Message.from_fields(f).id for _, f in entries] == [m.id for m in sent]


async def test_the_blocking_form_on_a_loop_points_to_the_async_twin(caller):
    bus = caller()
    bus.client.register_api(ShopApi())
    with pytest.raises(SyncCallInLoopError, match=r"fire_many_async\(\[\.\.\.\]\)"):
        bus.shop.order_placed.fire_many([{"order_id": "C1"}])
