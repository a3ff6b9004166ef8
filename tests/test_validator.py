"""The Validator: one rule per RPC or event, one call per message on each side.

These run the Validator over an in-memory API source (the narrow collaborator the client
hands it); the end-to-end checks against a real worker are in tests/test_validation.py.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from typing import Any

import msgspec
import pytest

from lightbus import Api, Event, Parameter, Settings
from lightbus.api import define
from lightbus.errors import (
    InvalidArguments,
    InvalidArgumentValue,
    PayloadTooDeep,
    UnknownApi,
    UnknownName,
    ValidationError,
)
from lightbus.rules import DEFAULT_MAX_DEPTH
from lightbus.schema import api_schema
from lightbus.validation import Validator


@dataclasses.dataclass
class Line:
    sku: str
    quantity: int


class ShopApi(Api):
    placed = Event(parameters=(Parameter("order", uuid.UUID), Parameter("channel", str, "web")))

    class Meta:
        name = "shop"

    def order(self, customer: str, lines: list[Line], when: datetime.date) -> int:
        return 1


class Source:
    """What the client gives the Validator: its APIs, their schemas, the registry."""

    def __init__(self, *apis: Api, remote: dict[str, Any] | None = None, **settings: Any):
        self.settings = Settings(**settings)
        self.apis = {d.name: d for d in map(define, apis)}
        self.schemas = {name: api_schema(d) for name, d in self.apis.items()}
        self.remote = remote or {}

    async def remote_schema(self, api: str) -> dict[str, Any] | None:
        return self.remote.get(api)

    async def live_schemas(self) -> dict[str, Any]:
        return dict(self.remote)


LINES = [{"sku": "A", "quantity": 1}, {"sku": "B", "quantity": "two"}]


@pytest.fixture
def validator():
    return Validator(Source(ShopApi()))


async def test_one_call_checks_names_then_values_and_gives_both_forms(validator):
    rule = await validator.rule("shop", "order", "rpc")
    assert rule is await validator.rule("shop", "order", "rpc")  # compiled once
    sent = rule.send(
        {"customer": "c", "lines": [Line("A", 1)], "when": "2025-01-02"}, side="caller"
    )
    assert sent.wire == {
        "customer": "c",
        "lines": [{"sku": "A", "quantity": 1}],
        "when": "2025-01-02",
    }
    with pytest.raises(InvalidArguments, match="keyword arguments only"):
        rule.send({}, side="caller", args=(1,))
    with pytest.raises(InvalidArguments, match=r"custmer \(did you mean customer\?\)"):
        rule.send({"custmer": "c", "lines": [], "when": "2025-01-02"}, side="caller")
    with pytest.raises(InvalidArgumentValue) as info:
        rule.send({"customer": "c", "lines": LINES, "when": "2025-01-02"}, side="caller")
    assert (info.value.field, info.value.problem) == (
        "lines[1].quantity",
        "Expected `int`, got `str`",
    )
    assert isinstance(info.value, TypeError)  # the caller's own arguments


async def test_an_event_is_sent_with_its_defaults(validator):
    rule = await validator.rule("shop", "placed", "event")
    order = uuid.uuid4()
    sent = rule.send({"order": order}, side="firer")
    assert sent.values == {"order": order, "channel": "web"}
    assert sent.wire == {"order": str(order), "channel": "web"}


async def test_incoming_data_and_results_are_value_errors_not_type_errors(validator):
    rule = await validator.rule("shop", "order", "rpc")
    with pytest.raises(ValidationError) as info:
        rule.incoming({"customer": "c", "lines": LINES, "when": "2025-01-02"}, "worker")
    assert (info.value.field, info.value.side) == ("lines[1].quantity", "worker")
    with pytest.raises(ValidationError) as result:
        rule.result_in("one")
    assert (result.value.part, result.value.side) == ("result", "caller")
    for error in (info.value, result.value):
        assert isinstance(error, ValueError) and not isinstance(error, TypeError)
    cast = rule.incoming({"customer": "c", "lines": LINES[:1], "when": "2025-01-02"}, "worker")
    assert cast["lines"] == [Line("A", 1)] and cast["when"] == datetime.date(2025, 1, 2)


async def test_the_field_path_does_not_come_from_msgspecs_message(validator, monkeypatch):
    rule = await validator.rule("shop", "order", "rpc")

    def convert(*args: Any, **kwargs: Any) -> Any:
        raise msgspec.ValidationError("some other wording, no path")

    monkeypatch.setattr(msgspec, "convert", convert)
    with pytest.raises(ValidationError) as info:
        rule.incoming({"customer": "c", "lines": LINES, "when": "2025-01-02"}, "listener")
    assert (info.value.field, info.value.problem) == (
        "lines[1].quantity",
        "Expected `int`, got `str`",
    )
    with pytest.raises(ValidationError) as missing:
        rule.incoming({"customer": "c", "when": "2025-01-02"}, "listener")
    assert (missing.value.field, missing.value.problem) == (
        "lines",
        "Object missing required field `lines`",
    )


async def test_a_value_whose_json_form_fits_is_still_named(validator):
    # JSON Schema takes 1.0 as an integer, msgspec's int does not: the parameter is named.
    rule = await validator.rule("shop", "order", "rpc")
    lines = [{"sku": "A", "quantity": 1.0}]
    with pytest.raises(ValidationError) as info:
        rule.incoming({"customer": "c", "lines": lines, "when": "2025-01-02"}, "worker")
    assert info.value.field == "lines" and "Expected `int`, got `float`" in info.value.problem
    with pytest.raises(ValidationError) as whole:
        rule.result_in(2.0)
    assert (whole.value.field, whole.value.part) == ("", "result")


async def test_apis_known_only_from_a_schema_are_checked_by_it():
    remote = {"stock": {"rpcs": {"level": {"parameters": {
        "type": "object", "properties": {"sku": {"type": "string"}}, "required": ["sku"],
        "additionalProperties": False,
    }, "response": {"type": "integer"}}}, "events": {"moved": {"parameters": {}}}}}  # fmt: skip
    validator = Validator(Source(remote=remote))
    rule = await validator.rule("stock", "level", "rpc")
    assert validator.local("stock", "level", "rpc") is None  # not defined here
    assert rule.send({"sku": "A"}, side="caller").wire == {"sku": "A"}
    with pytest.raises(InvalidArgumentValue) as info:
        rule.send({"sku": 5}, side="caller")
    assert (info.value.field, info.value.problem) == ("sku", "Expected `str`, got `int`")
    assert rule.result_in(1.0) == 1.0  # JSON Schema: 1.0 is an integer
    with pytest.raises(ValidationError):
        rule.incoming({}, "worker")
    with pytest.raises(UnknownName, match="is an event, not an rpc"):
        await validator.rule("stock", "moved", "rpc")
    with pytest.raises(UnknownApi, match="Known APIs: stock"):
        await validator.rule("nope", "x", "rpc")
    assert await validator.for_listener("nope", "x") is None


async def test_validate_false_casts_without_refusing():
    validator = Validator(Source(ShopApi(), validate=False))
    rule = await validator.rule("shop", "order", "rpc")
    values = rule.incoming({"customer": 5, "lines": "x", "when": "2025-01-02"}, "worker")
    assert values == {"customer": 5, "lines": "x", "when": datetime.date(2025, 1, 2)}


async def test_a_payload_that_holds_itself_is_too_deep(validator):
    rule = await validator.rule("shop", "order", "rpc")
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(PayloadTooDeep):
        rule.send({"customer": "c", "lines": loop, "when": "2025-01-02"}, side="caller")
    assert Settings().max_payload_depth == DEFAULT_MAX_DEPTH
