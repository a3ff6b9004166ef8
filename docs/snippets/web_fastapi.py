"""A FastAPI app that uses the bus (docs/how-to/web-frameworks.md); run by
tests/test_docs_snippets.py with FastAPI's test client against the company's workers."""

# --8<-- [start:app]
import contextlib

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

import lightbus


@contextlib.asynccontextmanager
async def lifespan(app):
    app.state.bus = lightbus.create(service_name="shop-web")
    yield
    await app.state.bus.client.close()


app = FastAPI(lifespan=lifespan)


class Line(BaseModel):
    sku: str
    quantity: int
    unit_price: str
    serial: str | None = None


class NewOrder(BaseModel):
    customer: str
    lines: list[Line]


@app.post("/orders", status_code=201)
async def place_order(order: NewOrder):
    bus = app.state.bus
    try:
        order_id = await bus.sales.place_order.call_async(**order.model_dump(exclude_none=True))
    except lightbus.InvalidArguments as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
    return {"order_id": order_id}


@app.get("/warranty/{serial}")
async def is_covered(serial: str):
    return await app.state.bus.warranty.is_covered.call_async(serial=serial)
    # --8<-- [end:app]
