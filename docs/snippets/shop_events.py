"""The events how-to's shop: declare, fire, fire many, listen, schedule.

A bus module: `lightbus run --bus shop_events` in docs/snippets runs its listener and its
schedule; a script that imports it fires (tests/test_docs_snippets.py does both).
"""

import lightbus
from lightbus import Api, Event, Parameter


# --8<-- [start:declare]
class ShopApi(Api):
    order_placed = Event(parameters=("order_id", Parameter("total", float, default=0.0)))

    class Meta:
        name = "shop"
        # --8<-- [end:declare]


bus = lightbus.create(service_name="shop")
bus.client.register_api(ShopApi())


def fire_one():
    # --8<-- [start:fire]
    message = bus.shop.order_placed.fire(order_id="A1", total=9.5)  # blocking
    # --8<-- [end:fire]
    return message


async def fire_one_async():
    # --8<-- [start:fire_async]
    message = await bus.shop.order_placed.fire_async(order_id="A1")  # async; total=0.0
    # --8<-- [end:fire_async]
    return message


def fire_batch():
    # --8<-- [start:fire_many]
    orders = [{"order_id": "A1", "total": 9.5}, {"order_id": "A2"}]
    messages = bus.shop.order_placed.fire_many(orders)  # blocking
    # --8<-- [end:fire_many]
    return messages


async def fire_batch_async():
    orders = [{"order_id": "A3"}]
    # --8<-- [start:fire_many_async]
    messages = await bus.shop.order_placed.fire_many_async(orders)  # async
    # --8<-- [end:fire_many_async]
    return messages


# --8<-- [start:listen]
def send_receipt(event, order_id, total):
    print(f"receipt for {order_id}: {total:.2f}", flush=True)


@bus.client.on_start()
def start_listening(**_):
    bus.shop.order_placed.listen(send_receipt, listener_name="send_receipt")
    # --8<-- [end:listen]


# --8<-- [start:schedule]
@bus.client.every(minutes=5)
def tidy_up():
    print("tidying up", flush=True)
    # --8<-- [end:schedule]
