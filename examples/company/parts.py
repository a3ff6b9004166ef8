"""Spare parts: reserves stock for each order and answers "is this part in stock?".

``lightbus run --bus examples.company.parts``. The stock starts the same on every run,
and one part, GASKET-9, is out of it: the order that asks for one (order 42, see
README.md) cannot reserve its parts. The listener raises, is retried, and after its third
attempt the event is dead-lettered, where the trace tools find it.
"""

from __future__ import annotations

import logging
from typing import Annotated, TypedDict

import msgspec

import lightbus
from lightbus import Api

log = logging.getLogger("company.parts")

STOCK = {
    "KETTLE-1": 40,
    "TOASTER-2": 25,
    "JUICER-3": 12,
    "ELEMENT-2K": 30,
    "FILTER-S": 60,
    "BLADE-4": 8,
    "GASKET-9": 0,
}
_stock = dict(STOCK)
_reserved: dict[int, list[tuple[str, int]]] = {}

Quantity = Annotated[int, msgspec.Meta(gt=0, le=100)]


class StockLevel(TypedDict):
    sku: str
    in_stock: int
    reserved: int


class OutOfStock(Exception):
    """Not enough of a part to reserve an order's lines."""


# --8<-- [start:api]
class PartsApi(Api):
    class Meta:
        name = "company.parts"  # dotted names group APIs: bus.company.parts.in_stock(...)

    def in_stock(self, sku: str, quantity: Quantity = 1) -> bool:
        return _stock.get(sku, 0) >= quantity

    def stock(self, skus: set[str]) -> list[StockLevel]:
        reserved: dict[str, int] = {}
        for lines in _reserved.values():
            for sku, quantity in lines:
                reserved[sku] = reserved.get(sku, 0) + quantity
        return [
            StockLevel(sku=sku, in_stock=_stock.get(sku, 0), reserved=reserved.get(sku, 0))
            for sku in sorted(skus)
        ]
        # --8<-- [end:api]


# --8<-- [start:listener]
async def reserve_parts(event, order_id, lines, **_):
    """Reserve every line of the order, or none of them."""
    if order_id in _reserved:
        return  # a redelivery of an order already reserved: nothing to do twice
    wanted = [(line["sku"], line["quantity"]) for line in lines]
    for sku, quantity in wanted:
        if _stock.get(sku, 0) < quantity:
            raise OutOfStock(
                f"order {order_id} needs {quantity} x {sku}, {_stock.get(sku, 0)} in stock"
            )
    for sku, quantity in wanted:
        _stock[sku] -= quantity
    _reserved[order_id] = wanted
    log.info("order %d: reserved %s", order_id, ", ".join(f"{q} x {s}" for s, q in wanted))
    # --8<-- [end:listener]


bus = lightbus.create(service_name="parts")
bus.client.register_api(PartsApi())


@bus.client.on_start()
def start_listening(**_):
    bus.sales.order_placed.listen(reserve_parts, listener_name="reserve_parts", max_attempts=3)
