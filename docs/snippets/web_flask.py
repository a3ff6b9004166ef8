"""Flask views that use the bus (docs/how-to/web-frameworks.md); run by
tests/test_docs_snippets.py with the Flask test client against the company's workers."""

# --8<-- [start:app]
from flask import Flask, request

import lightbus

app = Flask(__name__)
bus = lightbus.create(service_name="shop-web")  # one per process, made at import


@app.post("/orders")
def place_order():
    order = request.get_json()
    with lightbus.start_trace(request.headers.get("traceparent")):  # the caller's trace, if any
        order_id = bus.sales.place_order(customer=order["customer"], lines=order["lines"])
    return {"order_id": order_id}, 201


@app.get("/warranty/<serial>")
def is_covered(serial):
    return bus.warranty.is_covered(serial=serial)


@app.errorhandler(lightbus.InvalidArguments)
def refused(exc):
    return {"error": str(exc)}, 400


@app.errorhandler(lightbus.RpcTimeout)
def unavailable(exc):
    return {"error": str(exc)}, 503
    # --8<-- [end:app]
