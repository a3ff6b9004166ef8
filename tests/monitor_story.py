"""The monitor's story on a real bus, shared by its Pilot tests.

The sales worker serves ``sales.place_order``, which fires ``sales.order_placed``; two
listeners handle it. ``reserve_parts`` raises for order 42 (one attempt, so it is
dead-lettered at once); ``send_invoice`` handles every order.
"""

from __future__ import annotations

import pytest
from monitor_pilot import steps, until

from lightbus import Api, Event


class OutOfStock(Exception):
    pass


class SalesApi(Api):
    order_placed = Event(parameters=("order_id", "product"))

    class Meta:
        name = "sales"

    bus = None  # the worker's bus, set once it serves

    async def place_order(self, order_id: int, product: str) -> int:
        await self.bus.sales.order_placed.fire_async(order_id=order_id, product=product)
        return order_id


def reserve_parts(event, order_id, product):
    if order_id == 42:
        raise OutOfStock(f"no {product} in stock for order {order_id}")


def send_invoice(event, order_id, product):
    pass


def listeners(bus):
    bus.sales.order_placed.listen(reserve_parts, listener_name="reserve_parts", max_attempts=1)
    bus.sales.order_placed.listen(send_invoice, listener_name="send_invoice")


@pytest.fixture(name="sales")
async def sales_fixture(serve, caller):
    """The worker is up; returns a caller that places orders."""
    api = SalesApi()
    api.bus = await serve(api, setup=listeners, service_name="sales", retry_backoff=0.01)
    bus = caller(service_name="support")

    async def place(order_id: int, product: str = "kettle") -> int:
        return await bus.sales.place_order.call_async(order_id=order_id, product=product)

    return place


async def story_told(pilot, orders: int = 1):
    """Until order 42 is dead-lettered and every order returned and invoiced, in the feed
    and beside it (the dead-letter stream)."""
    app = pilot.app
    await until(pilot, lambda: "event.dead_lettered" in steps(app))
    await until(pilot, lambda: steps(app).count("event.handled") >= 2 * orders - 1)
    await until(pilot, lambda: steps(app).count("rpc.returned") == orders)
    await until(pilot, lambda: app.model.dead_letters)
