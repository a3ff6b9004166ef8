"""Sales: takes orders and announces them.

``lightbus run --bus examples.company.sales``. Every order placed fires
``sales.order_placed``, which warranty, parts and the mailer listen to. Orders live in
this process's memory: enough for an example.
"""

from __future__ import annotations

import datetime
import itertools
import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Literal

import msgspec

import lightbus
from lightbus import Api, Event, Parameter

log = logging.getLogger("company.sales")

# Order numbers carry on from the shop's last one, 39, so order 42 comes up within seconds
# of a start (README.md: "why did order 42 not reserve its parts?").
FIRST_ORDER = 40
_order_ids = itertools.count(FIRST_ORDER)
_orders: dict[int, Order] = {}

# --8<-- [start:types]
Quantity = Annotated[int, msgspec.Meta(gt=0, le=100)]
Channel = Literal["web", "phone", "shop"]


@dataclass
class OrderLine:
    """One line of an order; products have a serial number, spare parts do not."""

    sku: str
    quantity: Quantity
    unit_price: Decimal
    serial: str | None = None


@dataclass
class Order:
    order_id: int
    customer: str
    placed_at: datetime.datetime
    channel: Channel
    lines: list[OrderLine] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return sum((line.unit_price * line.quantity for line in self.lines), Decimal(0))


@dataclass
class Summary:
    orders: int
    revenue: Decimal
    by_channel: dict[str, int]


# --8<-- [end:types]


# --8<-- [start:api]
class SalesApi(Api):
    order_placed = Event(
        parameters=(
            Parameter("order_id", int),
            Parameter("customer", str),
            Parameter("lines", list[OrderLine]),
            Parameter("placed_at", datetime.datetime),
            Parameter("channel", Channel, "web"),
        )
    )

    class Meta:
        name = "sales"

    async def place_order(
        self, customer: str, lines: list[OrderLine], channel: Channel = "web"
    ) -> int:
        """Record the order, announce it, and return its number."""
        if not lines:
            raise ValueError("an order needs at least one line")
        order = Order(
            next(_order_ids), customer, datetime.datetime.now(datetime.UTC), channel, lines
        )
        _orders[order.order_id] = order
        # Sent while handling the call, so both join the call's trace.
        await bus.sales.order_placed.fire_async(
            order_id=order.order_id,
            customer=customer,
            lines=lines,
            placed_at=order.placed_at,
            channel=channel,
        )
        log.info("order %d placed: %d line(s), %s EUR", order.order_id, len(lines), order.total)
        return order.order_id

    def get_order(self, order_id: int) -> Order | None:
        return _orders.get(order_id)

    def summary(self) -> Summary:
        """Orders taken since this process started."""
        by_channel: dict[str, int] = {}
        for order in _orders.values():
            by_channel[order.channel] = by_channel.get(order.channel, 0) + 1
        revenue = sum((order.total for order in _orders.values()), Decimal(0))
        return Summary(orders=len(_orders), revenue=revenue, by_channel=by_channel)
        # --8<-- [end:api]


# --8<-- [start:register]
bus = lightbus.create(service_name="sales")
bus.client.register_api(SalesApi())
# --8<-- [end:register]
