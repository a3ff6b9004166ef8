"""A web request's work as one trace (docs/how-to/join-logs-to-traces.md); run by
tests/test_trace_docs.py. The view is framework-free: ``request.headers`` is what
Django, Flask and Starlette requests all have."""

import logging

from shop_events import bus  # the events how-to's shop: shop.order_placed

import lightbus

logger = logging.getLogger("shopapp")


# --8<-- [start:view]
def view(request):
    with lightbus.start_trace(request.headers.get("traceparent")):
        logger.info("placing order")  # carries the trace id
        return bus.shop.order_placed.fire(order_id="o-1")  # joins the same trace
        # --8<-- [end:view]
