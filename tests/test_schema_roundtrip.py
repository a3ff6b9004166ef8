"""Property: whatever a caller sends, a handler gets back exactly, and the schema agrees."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import uuid

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from lightbus import Api
from lightbus.api import define
from lightbus.schema import build
from lightbus.validation import SchemaRule, TypedRule


class Size(enum.Enum):
    SMALL = "s"
    LARGE = "l"


@dataclasses.dataclass
class Item:
    sku: str
    price: decimal.Decimal
    size: Size
    tags: list[str]


class ShopApi(Api):
    class Meta:
        name = "shop"

    def order(
        self,
        order_id: uuid.UUID,
        at: datetime.datetime,
        items: list[Item],
        counts: dict[str, int],
        blob: bytes,
        ratio: float,
        note: str | None = None,
    ) -> list[Item]: ...


DEFINITION = define(ShopApi())
RPC = DEFINITION.rpcs["order"]
TYPED = TypedRule("shop", "order", RPC.parameters, returns=RPC.return_type)
BY_SCHEMA = SchemaRule("shop", "order", build(DEFINITION)[0]["rpcs"]["order"], enforce=True)

items = st.builds(
    Item,
    sku=st.text(max_size=8),
    price=st.decimals(allow_nan=False, allow_infinity=False, places=2),
    size=st.sampled_from(Size),
    tags=st.lists(st.text(max_size=4), max_size=3),
)
arguments = st.fixed_dictionaries(
    {
        "order_id": st.uuids(),
        "at": st.datetimes(timezones=st.just(datetime.UTC)),
        "items": st.lists(items, max_size=3),
        "counts": st.dictionaries(st.text(max_size=4), st.integers(), max_size=3),
        "blob": st.binary(max_size=16),
        "ratio": st.floats(allow_nan=False, allow_infinity=False),
    },
    optional={"note": st.none() | st.text(max_size=8)},
)


@settings(max_examples=40, deadline=None)
@given(arguments)
def test_arguments_round_trip_exactly(kwargs):
    wire = msgspec.json.decode(msgspec.json.encode(TYPED.outgoing(kwargs)))
    BY_SCHEMA.incoming(wire, "worker")  # a schema-only peer accepts the same payload
    assert TYPED.incoming(wire, "worker") == kwargs


@settings(max_examples=20, deadline=None)
@given(st.lists(items, max_size=3))
def test_results_round_trip_exactly(result):
    wire = msgspec.json.decode(msgspec.json.encode(TYPED.result_out(result)))
    BY_SCHEMA.result_in(wire)
    assert TYPED.result_in(wire) == result
