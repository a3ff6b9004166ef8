"""Trace context: reading it, starting a trace, and propagation into handlers' sends.

Covers the places a context variable can get lost: a sync handler run in the thread
pool, a blocking call made from that thread, and a task an async handler spawns.
"""

from __future__ import annotations

import asyncio
import threading

import pytest
from support import wait_until

import lightbus
from lightbus import Api, Event


class OrdersApi(Api):
    placed = Event(parameters=("n",))
    followed = Event(parameters=("via",))

    class Meta:
        name = "orders"


def test_outside_a_handler_there_is_no_context_and_each_send_starts_a_trace(bus_factory):
    bus = bus_factory()
    bus.client.register_api(OrdersApi())
    assert lightbus.current_trace() is None
    first = bus.orders.placed.fire(n=1)
    second = bus.orders.placed.fire(n=2)
    assert first.trace_id != second.trace_id
    assert first.parent_span_id == "" and first.causation_id == ""
    assert len(first.trace_id) == 32 and len(first.span_id) == 16


def test_start_trace_with_a_given_id_is_readable_and_used_by_sends(bus_factory):
    bus = bus_factory()
    bus.client.register_api(OrdersApi())
    given = "4BF92F3577B34DA6A3CE929D0E0E4736"
    with lightbus.start_trace(given) as started:
        assert lightbus.current_trace() == started
        assert started.trace_id == given.lower()
        fired = bus.orders.placed.fire(n=1)
    assert lightbus.current_trace() is None
    assert fired.trace_id == given.lower()
    assert fired.parent_span_id == "" and fired.causation_id == ""


def test_start_trace_from_a_traceparent_makes_its_span_the_parent(bus_factory):
    bus = bus_factory()
    bus.client.register_api(OrdersApi())
    header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    with lightbus.start_trace(header) as started:
        assert started.traceparent == header
        fired = bus.orders.placed.fire(n=1)
    assert fired.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert fired.parent_span_id == "00f067aa0ba902b7"


async def test_start_trace_applies_to_messages_made_in_async_code():
    bus = lightbus.create(redis_url="redis://127.0.0.1:1")
    bus.client.register_api(OrdersApi())
    with lightbus.start_trace() as started:
        message = bus.client.make_message("event", "orders", "placed", kwargs={"n": 1})
    assert message.trace_id == started.trace_id


@pytest.mark.parametrize(
    "bad",
    ["abc", "0" * 32, "g" * 32, "00-" + "0" * 32 + "-00f067aa0ba902b7-01", "00-abc-def-01"],
)
def test_start_trace_refuses_a_malformed_id(bad):
    with pytest.raises(ValueError, match="trace"), lightbus.start_trace(bad):
        pass


def run_cascade(bus, first_handler):
    """Listen with ``first_handler`` on orders.placed (it fires orders.followed)."""
    seen: dict[str, object] = {}

    def second(event, via):
        seen["followed"] = event

    bus.orders.placed.listen(first_handler(seen), listener_name="first")
    bus.orders.followed.listen(second, listener_name="second")
    fired = bus.orders.placed.fire(n=1)
    wait_until(lambda: "followed" in seen)
    return fired, seen


def check_joined(fired, seen):
    context = seen["context"]
    assert context.trace_id == fired.trace_id
    assert context.span_id == fired.span_id
    assert context.message_id == fired.id
    followed = seen["followed"]
    assert followed.trace_id == fired.trace_id
    assert followed.parent_span_id == fired.span_id
    assert followed.causation_id == fired.id
    assert followed.span_id not in (fired.span_id, "")


def test_sync_handler_in_the_thread_pool_sees_the_context_and_its_blocking_fire_joins(
    bus_factory,
):
    bus = bus_factory()
    bus.client.register_api(OrdersApi())

    def handler(seen):
        def first(event, n):
            seen["thread"] = threading.current_thread().name
            seen["context"] = lightbus.current_trace()
            bus.orders.followed.fire(via="blocking")

        return first

    fired, seen = run_cascade(bus, handler)
    assert str(seen["thread"]).startswith("lightbus-handler")
    check_joined(fired, seen)


def test_a_task_spawned_by_an_async_handler_joins_the_trace(bus_factory):
    bus = bus_factory()
    bus.client.register_api(OrdersApi())

    def handler(seen):
        async def first(event, n):
            seen["context"] = lightbus.current_trace()

            async def later():
                await asyncio.sleep(0.01)  # runs after the handler has returned
                await bus.orders.followed.fire_async(via="task")

            seen["task"] = asyncio.get_running_loop().create_task(later())

        return first

    fired, seen = run_cascade(bus, handler)
    check_joined(fired, seen)


def test_asyncio_to_thread_from_an_async_handler_joins_the_trace(bus_factory):
    bus = bus_factory()
    bus.client.register_api(OrdersApi())

    def handler(seen):
        async def first(event, n):
            seen["context"] = lightbus.current_trace()
            await asyncio.to_thread(bus.orders.followed.fire, via="to_thread")

        return first

    fired, seen = run_cascade(bus, handler)
    check_joined(fired, seen)
