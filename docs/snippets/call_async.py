"""RPCs from async code (docs/how-to/call-an-rpc.md): two calls at once, and a deadline.

Run against the company's warranty and parts workers by tests/test_docs_snippets.py.
"""

import asyncio
import logging

import lightbus

log = logging.getLogger("support")


async def check(bus, serial, sku):
    # --8<-- [start:gather]
    coverage, in_stock = await asyncio.gather(
        bus.warranty.is_covered.call_async(serial=serial),
        bus.company.parts.in_stock.call_async(sku=sku),
    )
    # --8<-- [end:gather]
    return coverage["covered"], in_stock


# --8<-- [start:timeout]
async def in_stock_or_none(bus, sku):
    """Whether parts has the part, or None if parts does not answer within half a second."""
    try:
        return await bus.company.parts.in_stock.call_async(sku=sku, bus_options={"timeout": 0.5})
    except lightbus.RpcTimeout as exc:
        # exc.served: True if a live worker serves the API (it is slow or stuck),
        # False if none does (it is down), None if that could not be learnt.
        log.warning("parts did not answer within %ss (served: %s)", exc.timeout, exc.served)
        return None
        # --8<-- [end:timeout]


async def main():
    bus = lightbus.create()
    try:
        print(await check(bus, "SN-0999", "FILTER-S"))
        print(await in_stock_or_none(bus, "FILTER-S"))
    finally:
        await bus.client.close()


if __name__ == "__main__":
    logging.basicConfig(format="%(levelname)s %(message)s")
    asyncio.run(main())
