"""Warranty: registers every sold serial and answers "is this serial covered?".

``lightbus run --bus examples.company.warranty``. It listens to ``sales.order_placed``
without importing anything of the sales app: it knows the event from the schema sales
publishes, so its handler gets the event's arguments in their JSON form (a list of
objects for ``lines``, ISO text for ``placed_at``).
"""

from __future__ import annotations

import datetime
import enum
import logging
import re
from dataclasses import dataclass

import lightbus
from lightbus import Api, Event, Parameter

log = logging.getLogger("company.warranty")

SERIAL = re.compile(r"SN-\d+")
_registered: dict[str, Coverage] = {}


# --8<-- [start:api]
class Plan(enum.Enum):
    STANDARD = "standard"  # two years
    EXTENDED = "extended"  # three years: sold in the shop, with the shop's plan


@dataclass
class Coverage:
    """Whether a serial number is under warranty, and until when."""

    serial: str
    covered: bool
    until: datetime.date | None = None
    plan: Plan | None = None


class WarrantyApi(Api):
    registered = Event(parameters=("serial", Parameter("plan", Plan)))

    class Meta:
        name = "warranty"

    def is_covered(self, serial: str) -> Coverage:
        if not SERIAL.fullmatch(serial):
            raise ValueError(f"{serial!r} is not a serial number (they look like SN-1234)")
        found = _registered.get(serial)
        if found is None:
            return Coverage(serial=serial, covered=False)
        return Coverage(
            serial=serial,
            covered=found.until is not None and found.until >= datetime.date.today(),
            until=found.until,
            plan=found.plan,
        )
        # --8<-- [end:api]


# --8<-- [start:listener]
def register_warranty(event, order_id, lines, placed_at, channel, **_):
    """Register every line that has a serial number; fires warranty.registered for each."""
    sold = datetime.datetime.fromisoformat(placed_at).date()
    plan = Plan.EXTENDED if channel == "shop" else Plan.STANDARD
    years = 3 if plan is Plan.EXTENDED else 2
    for line in lines:
        if line.get("serial"):
            until = sold.replace(year=sold.year + years)
            _registered[line["serial"]] = Coverage(line["serial"], True, until, plan)
            bus.warranty.registered.fire(serial=line["serial"], plan=plan)
            log.info("order %d: %s registered until %s", order_id, line["serial"], until)


bus = lightbus.create(service_name="warranty")
bus.client.register_api(WarrantyApi())


@bus.client.on_start()
def start_listening(**_):
    bus.sales.order_placed.listen(register_warranty, listener_name="register_warranty")
    # --8<-- [end:listener]
