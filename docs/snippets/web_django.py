"""Django views that use the bus (docs/how-to/web-frameworks.md); run by
tests/test_docs_snippets.py with Django's test client against the company's workers."""

# --8<-- [start:views]
import json

from django.http import JsonResponse
from django.views.decorators.http import require_POST

import lightbus

bus = lightbus.create(service_name="shop-web")  # one per process, made at import


@require_POST
def place_order(request):
    order = json.loads(request.body)
    try:
        order_id = bus.sales.place_order(customer=order["customer"], lines=order["lines"])
    except lightbus.InvalidArguments as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse({"order_id": order_id}, status=201)


async def is_covered(request, serial):  # an async view: the async twin
    coverage = await bus.warranty.is_covered.call_async(serial=serial)
    return JsonResponse(coverage)
    # --8<-- [end:views]
