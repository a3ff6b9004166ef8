"""The schema is the project's own: the same for the same code whatever msgspec emits.

msgspec releases disagree on details (0.18-0.20 leave ``uniqueItems`` off sets, 0.18-0.22
leave ``default`` off fields made by ``default_factory``). These tests run the schema
builder over generators that behave like those releases, and like a future one that adds
things of its own, and expect the output of today's. `nox -s tests_schema_floor` also runs
the golden-file tests under the oldest msgspec the package allows.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import msgspec
import pytest

from lightbus import Api, Event, Parameter
from lightbus.api import define
from lightbus.schema import build, dumps


@dataclasses.dataclass
class Line:
    sku: str
    quantity: int = 1
    tags: list[str] = dataclasses.field(default_factory=list)
    options: dict[str, str] = dataclasses.field(default_factory=dict)
    seen: set[int] = dataclasses.field(default_factory=set)
    lucky: list[int] = dataclasses.field(default_factory=lambda: [7])
    kinds: frozenset[str] | None = None


class Basket(msgspec.Struct):
    lines: list[Line] = msgspec.field(default_factory=list)
    labels: set[str] = set()


class Corner(NamedTuple):
    x: int
    marks: tuple[int, ...] = ()


class ShopApi(Api):
    basket_saved = Event(parameters=(Parameter("basket", Basket), Parameter("ids", set[int])))

    class Meta:
        name = "shop"

    def price(
        self, line: Line, corner: Corner, groups: dict[str, set[int]], only: set[str] | None = None
    ) -> list[Basket]:
        return []


def _edit(fix: Callable[[dict[str, Any], bool], None]) -> Callable[..., Any]:
    """A generator that calls msgspec's own, then changes its output with ``fix``."""
    original = msgspec.json.schema_components

    def generate(types: Any, ref_template: str = "#/$defs/{name}") -> Any:
        schemas, defs = copy.deepcopy(original(types, ref_template=ref_template))
        for schema in schemas:
            _visit(schema, fix, in_defs=False)
        for schema in defs.values():
            _visit(schema, fix, in_defs=True)
        return schemas, defs

    return generate


def _visit(node: Any, fix: Callable[[dict[str, Any], bool], None], in_defs: bool) -> None:
    if isinstance(node, dict):
        for name, value in node.items():
            if name == "properties" and in_defs:
                for prop in value.values():
                    fix(prop, True)
            _visit(value, fix, in_defs)
        fix(node, False)
    elif isinstance(node, list):
        for item in node:
            _visit(item, fix, in_defs)


def _no_unique_items(node: dict[str, Any], is_field: bool) -> None:
    node.pop("uniqueItems", None)


def _no_factory_defaults(node: dict[str, Any], is_field: bool) -> None:
    if is_field and node.get("default") in ([], {}):
        del node["default"]


def _defaults_of_its_own(node: dict[str, Any], is_field: bool) -> None:
    if is_field:
        node.setdefault("default", "from a newer generator")


GENERATORS = {
    "like msgspec 0.18-0.20 (no uniqueItems)": _no_unique_items,
    "like msgspec 0.18-0.22 (no defaults from factories)": _no_factory_defaults,
    "like a generator adding defaults of its own": _defaults_of_its_own,
}


@pytest.mark.parametrize("fix", GENERATORS.values(), ids=GENERATORS.keys())
def test_the_schema_does_not_change_with_the_generator(monkeypatch, fix):
    expected, _ = build(define(ShopApi()))
    monkeypatch.setattr(msgspec.json, "schema_components", _edit(fix))
    assert dumps(build(define(ShopApi()))[0]) == dumps(expected)


def test_sets_are_unique_arrays_and_known_factories_show_their_default():
    schema, problems = build(define(ShopApi()))
    assert problems == []
    price = schema["rpcs"]["price"]["parameters"]
    line = price["$defs"]["Line"]["properties"]
    assert line["quantity"]["default"] == 1
    assert line["tags"]["default"] == [] and line["options"]["default"] == {}
    assert line["seen"] == {"type": "array", "items": {"type": "integer"}, "uniqueItems": True,
                            "default": []}  # fmt: skip
    assert "default" not in line["lucky"]  # a factory of the user's is never called
    assert line["kinds"]["anyOf"][0]["uniqueItems"] is True
    assert price["properties"]["groups"]["additionalProperties"]["uniqueItems"] is True
    assert price["properties"]["only"]["anyOf"][0]["uniqueItems"] is True
    corner = price["$defs"]["Corner"]["prefixItems"]
    assert corner[1]["default"] == []
    basket = schema["events"]["basket_saved"]["parameters"]
    assert basket["$defs"]["Basket"]["properties"]["labels"]["default"] == []
    assert basket["properties"]["ids"]["uniqueItems"] is True
