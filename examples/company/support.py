"""Support: answers a customer by asking the warranty and parts apps.

``lightbus run --bus examples.company.support``. ``support.ask`` makes two RPCs of its
own, to ``warranty.is_covered`` and ``company.parts.in_stock``, and queues an email with
the answer: one trace holds all of it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import lightbus
from lightbus import Api

log = logging.getLogger("company.support")


@dataclass
class Answer:
    serial: str
    sku: str
    covered: bool
    in_stock: bool
    reply: str


# --8<-- [start:api]
class SupportApi(Api):
    class Meta:
        name = "support"

    async def ask(self, customer: str, serial: str, sku: str) -> Answer:
        """A customer's product (serial) needs a part (sku): what can we do?"""
        coverage, in_stock = await asyncio.gather(
            bus.warranty.is_covered.call_async(serial=serial),
            bus.company.parts.in_stock.call_async(sku=sku),
        )
        covered = coverage["covered"]  # a dict: support knows warranty only by its schema
        if covered and in_stock:
            reply = f"{sku} is on its way, free of charge (covered until {coverage['until']})."
        elif in_stock:
            reply = f"{serial} is not under warranty; {sku} can be ordered."
        else:
            reply = f"{sku} is out of stock; we will write when it is back."
        await bus.mail.email_queued.fire_async(to=customer, subject=f"About {serial}", body=reply)
        log.info("%s asked about %s and %s: %s", customer, serial, sku, reply)
        return Answer(serial, sku, covered, in_stock, reply)
        # --8<-- [end:api]


bus = lightbus.create(service_name="support")
bus.client.register_api(SupportApi())
