"""run_handler: one handler, a made-up event (id, attempt, replay), no Redis."""

from __future__ import annotations

import datetime
import re

import pytest

import lightbus
from lightbus import Api, Event, InvalidArguments, Parameter, ValidationError
from lightbus.testing import BusMocker, make_event, run_handler, run_handler_async


class ShopApi(Api):
    order_placed = Event(
        parameters=("order_id", Parameter("at", datetime.datetime), Parameter("total", float, 0.0))
    )

    class Meta:
        name = "shop"


AT = "2026-12-01T09:30:00+00:00"


def record(event, order_id, at, total=0.0):
    return {
        "id": event.id,
        "attempt": event.attempt,
        "replay_of": event.replay_of,
        "name": event.full_name,
        "order_id": order_id,
        "at": at,
        "total": total,
        "trace": lightbus.current_trace().message_id,
    }


def test_the_handler_gets_the_made_up_event():
    got = run_handler(
        record,
        "shop.order_placed",
        {"order_id": "A1", "at": AT},
        id="evt-1",
        attempt=3,
        replay_of="evt-0",
    )
    assert got == {
        "id": "evt-1",
        "attempt": 3,
        "replay_of": "evt-0",
        "name": "shop.order_placed",
        "order_id": "A1",
        "at": AT,  # as given: no API to convert it
        "total": 0.0,
        "trace": "evt-1",  # the handler runs inside the event's trace
    }


def test_a_made_up_event_has_a_fresh_id_and_is_a_first_delivery_by_default():
    got = run_handler(record, "shop.order_placed", {"order_id": "A1", "at": AT})
    assert re.fullmatch(r"[0-9a-f-]{20,}", got["id"]) and got["attempt"] == 1
    assert got["replay_of"] == ""


def test_with_the_api_the_arguments_arrive_as_a_listener_gets_them():
    got = run_handler(record, "shop.order_placed", {"order_id": "A1", "at": AT}, api=ShopApi())
    assert got["at"] == datetime.datetime(2026, 12, 1, 9, 30, tzinfo=datetime.UTC)
    assert got["total"] == 0.0  # the declared default


def test_with_the_api_bad_arguments_and_handlers_are_refused():
    with pytest.raises(InvalidArguments, match="missing required argument"):
        run_handler(record, "shop.order_placed", {"order_id": "A1"}, api=ShopApi())
    with pytest.raises(ValidationError, match="at"):
        run_handler(record, "shop.order_placed", {"order_id": "A1", "at": 3}, api=ShopApi())
    with pytest.raises(InvalidArguments, match=r"cannot handle shop\.order_placed"):
        run_handler(lambda event, order_id: None, "shop.order_placed",
                    {"order_id": "A1", "at": AT}, api=ShopApi())  # fmt: skip
    with pytest.raises(ValueError, match="has no event 'order_paid'"):
        run_handler(record, "shop.order_paid", {}, api=ShopApi())
    with pytest.raises(ValueError, match="pass the API that declares 'sales'"):
        run_handler(record, "sales.order_placed", {}, api=ShopApi())


def test_what_the_handler_fires_names_the_event_as_its_cause():
    bus = lightbus.create(redis_url="redis://127.0.0.1:1/0")  # nothing listens: nothing sent

    def handler(event, order_id, at, total=0.0):
        bus.mail.receipt_due.fire(order_id=order_id)

    with BusMocker(bus) as bus_mock:
        bus_mock.mock_event_firing("mail.receipt_due")
        run_handler(handler, "shop.order_placed", {"order_id": "A1", "at": AT}, id="evt-9")
    fired = bus_mock.get_event_messages("mail.receipt_due")[0]
    assert fired.causation_id == "evt-9"
    bus.close()


def test_the_handlers_exception_is_raised():
    def failing(event, **kwargs):
        raise KeyError("no such order")

    with pytest.raises(KeyError, match="no such order"):
        run_handler(failing, "shop.order_placed", {"order_id": "A1", "at": AT})


def test_an_async_handler_runs_to_the_end():
    async def handler(event, order_id, at):
        return (event.attempt, order_id)

    assert run_handler(handler, "shop.order_placed", {"order_id": "A", "at": AT}, attempt=2) == (
        2,
        "A",
    )


async def test_the_async_twin_runs_sync_and_async_handlers():
    async def handler(event, order_id, at):
        return lightbus.current_trace().message_id

    event = make_event("shop.order_placed", {"order_id": "A", "at": AT}, id="evt-2")
    assert await run_handler_async(handler, event) == "evt-2"
    assert (await run_handler_async(record, event))["trace"] == "evt-2"
    with pytest.raises(RuntimeError, match=r"use `await run_handler_async\(...\)`"):
        run_handler(handler, event)
    # A plain handler may be run with run_handler inside a loop too, its API included.
    at = run_handler(record, "shop.order_placed", {"order_id": "A", "at": AT}, api=ShopApi())["at"]
    assert at.year == 2026
    got = await run_handler_async(record, "shop.order_placed", {"order_id": "A", "at": AT},
                                  api=ShopApi())  # fmt: skip
    assert got["at"] == at


def test_bad_input_is_refused_with_a_clear_error():
    with pytest.raises(ValueError, match=r"'api\.name'.*got 'order_placed'"):
        run_handler(record, "order_placed", {})
    with pytest.raises(ValueError, match="attempt must be a whole number from 1"):
        run_handler(record, "shop.order_placed", {}, attempt=0)
    with pytest.raises(TypeError, match="dict of keyword arguments, not list"):
        run_handler(record, "shop.order_placed", [1, 2])
    with pytest.raises(ValueError, match="id must be a non-empty string"):
        make_event("shop.order_placed", id="")
    with pytest.raises(TypeError, match="needs a callable handler"):
        run_handler("record", "shop.order_placed")
    event = make_event("shop.order_placed", {})
    with pytest.raises(TypeError, match="set them with make_event"):
        run_handler(record, event, attempt=2)
