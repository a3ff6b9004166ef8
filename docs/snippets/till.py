"""The till of the tutorial "A listener fails: fix it and replay".

See docs/tutorial/fix-and-replay.md; tests/test_tutorial_fix_and_replay.py runs it.
"""

import lightbus
from lightbus import Api, Event, Parameter

# --8<-- [start:prices]
PRICES = {"KETTLE-1": 25.00, "FILTER-S": 3.95}  # EUR, by the SKU printed on the box
# --8<-- [end:prices]


class TillApi(Api):
    sold = Event(parameters=(Parameter("sku", str), Parameter("qty", int)))

    class Meta:
        name = "till"


bus = lightbus.create(service_name="accounts")
bus.client.register_api(TillApi())


# --8<-- [start:handler]
def record_sale(event, sku, qty):
    total = PRICES[sku] * qty
    print(f"sold {qty} x {sku}: {total:.2f} EUR")
    # --8<-- [end:handler]


def count_stock(event, sku, qty):
    print(f"stock: {qty} x {sku} out")


@bus.client.on_start()
def start(**_):
    bus.till.sold.listen(record_sale, listener_name="record_sale", max_attempts=3)
    bus.till.sold.listen(count_stock, listener_name="count_stock")
