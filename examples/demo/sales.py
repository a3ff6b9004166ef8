"""The sales service: places orders and announces them.

Run it with `lightbus run --bus examples.demo.sales`.
"""

import itertools

import lightbus
from lightbus import Api, Event, Parameter

_order_ids = itertools.count(1001)


class SalesApi(Api):
    order_placed = Event(parameters=("order_id", "product", Parameter("serial", str)))

    class Meta:
        name = "sales"

    async def place_order(self, product: str, serial: str) -> int:
        order_id = next(_order_ids)
        # Fired while handling the call: the event joins the call's trace.
        await bus.sales.order_placed.fire_async(order_id=order_id, product=product, serial=serial)
        return order_id


bus = lightbus.create(service_name="sales")
bus.client.register_api(SalesApi())
