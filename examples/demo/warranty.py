"""The warranty service: registers sold serials and answers whether one is covered.

`lightbus run --bus examples.demo.warranty`; it listens to ``sales.order_placed``.
"""

import lightbus
from lightbus import Api

_registered: set[str] = set()


class WarrantyApi(Api):
    class Meta:
        name = "warranty"

    def is_covered(self, serial: str) -> bool:
        if not serial.startswith("SN-"):
            raise ValueError(f"{serial!r} is not a serial number (they look like SN-1234)")
        return serial in _registered


def register_warranty(event, order_id, product, serial):
    _registered.add(serial)


bus = lightbus.create(service_name="warranty")
bus.client.register_api(WarrantyApi())


@bus.client.on_start()
def start_listening(**_):
    bus.sales.order_placed.listen(register_warranty, listener_name="register_warranty")
