"""The shop of "A listener failed: fix it and replay" (docs/how-to/replay.md)."""

import lightbus
from lightbus import Api, Event, Parameter


class ShopApi(Api):
    placed = Event(parameters=(Parameter("order", str), Parameter("qty", int)))

    class Meta:
        name = "shop"


bus = lightbus.create(service_name="billing")
bus.client.register_api(ShopApi())


# --8<-- [start:buggy]
def invoice(event, order, qty):
    lines = ["item"] * qty
    print(f"invoice for {order}: {lines[9]}")  # bug: an order has fewer than 10 items?
    # --8<-- [end:buggy]


# --8<-- [start:fixed]
def invoice_fixed(event, order, qty):
    again = f" (replay of {event.replay_of})" if event.replay_of else ""
    print(f"invoice for {order}: {qty} items{again}")
    # --8<-- [end:fixed]


@bus.client.on_start()
def start(**_):
    bus.shop.placed.listen(invoice, listener_name="invoice", max_attempts=2)
    bus.shop.placed.listen(lambda event, order, qty: None, listener_name="mail")
