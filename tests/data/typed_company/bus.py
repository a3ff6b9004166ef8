"""Typed APIs of the company of DESIGN section 1 (sales, warranty, spare parts) on one bus.

A fixture of the schema tests: every kind of annotation the schema supports, in one bus
module, so `lightbus dumpschema` has something to show (the golden files in
tests/golden/dumpschema) and the bus has something to validate and cast. The runnable
company, one app per process, is examples/company. Run a worker here with `lightbus run`,
then:

    >>> import lightbus, datetime
    >>> from bus import bus
    >>> bus.warranty.check_serial(serial="SN-1001", purchased=datetime.date(2025, 3, 1))
    Coverage(serial='SN-1001', covered=True, until=datetime.date(2027, 3, 1), ...)
"""

from __future__ import annotations

import datetime
import enum
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Literal, TypedDict

import msgspec

import lightbus
from lightbus import Api, Event, Parameter

Quantity = Annotated[int, msgspec.Meta(gt=0, le=1000)]


class Plan(enum.Enum):
    STANDARD = "standard"
    EXTENDED = "extended"


@dataclass
class OrderLine:
    """One line of an order."""

    sku: str
    quantity: Quantity
    unit_price: Decimal


@dataclass
class Coverage:
    """Whether a serial number is under warranty, and until when."""

    serial: str
    covered: bool
    until: datetime.date | None = None
    plan: Plan = Plan.STANDARD


class Reservation(TypedDict):
    reservation_id: uuid.UUID
    sku: str
    quantity: int


@dataclass
class Order:
    order_id: uuid.UUID
    customer: str
    lines: list[OrderLine] = field(default_factory=list)


class SalesApi(Api):
    order_placed = Event(
        parameters=(
            Parameter("order_id", uuid.UUID),
            Parameter("customer", str),
            Parameter("lines", list[OrderLine]),
            Parameter("placed_at", datetime.datetime),
            Parameter("channel", Literal["web", "phone", "shop"], "web"),
        )
    )

    class Meta:
        name = "sales"

    def get_order(self, order_id: uuid.UUID) -> Order | None:
        return None


class WarrantyApi(Api):
    registered = Event(parameters=("serial", Parameter("plan", Plan)))

    class Meta:
        name = "warranty"

    def check_serial(self, serial: str, purchased: datetime.date) -> Coverage:
        until = purchased.replace(year=purchased.year + 2)
        return Coverage(serial=serial, covered=until >= datetime.date.today(), until=until)


class PartsApi(Api):
    class Meta:
        name = "company.parts"

    async def reserve(self, sku: str, quantity: Quantity, notes: str | None = None) -> Reservation:
        return Reservation(reservation_id=uuid.uuid4(), sku=sku, quantity=quantity)

    def stock(self, skus: set[str], *, warehouses: tuple[str, ...] = ("main",)) -> dict[str, int]:
        return {sku: 10 for sku in skus}


bus = lightbus.create()
bus.client.register_api(SalesApi())
bus.client.register_api(WarrantyApi())
bus.client.register_api(PartsApi())
