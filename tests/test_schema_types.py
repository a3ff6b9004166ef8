"""Every supported type, both ways: its JSON Schema, and casting in and out of JSON.

For each annotation: the generated schema, the JSON form a caller sends, the Python value
a handler receives (the annotated type, not the JSON form), and that the schema-only
checker (what a caller that knows the API only from the registry uses) agrees.
"""

import dataclasses
import datetime
import decimal
import enum
import uuid
from typing import Annotated, Any, Literal, NamedTuple, Optional, TypedDict, Union

import msgspec
import pytest

from lightbus import Api, Event, Parameter, ValidationError
from lightbus.api import define
from lightbus.schema import build, load_schemas
from lightbus.validation import SchemaRule, TypedRule


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass
class Address:
    street: str
    number: int = 1


class Point(NamedTuple):
    x: int
    y: int = 0


class Money(msgspec.Struct):
    amount: int
    currency: str


class Person(TypedDict):
    name: str
    age: int


class Gt:
    """An annotated-types style constraint (no such package needed)."""

    def __init__(self, gt: int) -> None:
        self.gt = gt


class MaxLen:
    def __init__(self, max_length: int) -> None:
        self.max_length = max_length


UID = uuid.UUID("12345678-1234-5678-1234-567812345678")
WHEN = datetime.datetime(2025, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)

# annotation, Python value, JSON form, expected schema (subset), a wrong JSON value
CASES: list[tuple[str, Any, Any, Any, dict[str, Any], Any]] = [
    ("str", str, "hi", "hi", {"type": "string"}, 5),
    ("int", int, 5, 5, {"type": "integer"}, "5"),
    ("float", float, 1.5, 1.5, {"type": "number"}, "1.5"),
    ("bool", bool, True, True, {"type": "boolean"}, 1),
    ("none", None, None, None, {"type": "null"}, 0),
    ("bytes", bytes, b"hi", "aGk=", {"type": "string", "contentEncoding": "base64"}, 5),
    ("decimal", decimal.Decimal, decimal.Decimal("1.25"), "1.25", {"format": "decimal"}, []),
    ("uuid", uuid.UUID, UID, str(UID), {"type": "string", "format": "uuid"}, "not-a-uuid"),
    ("datetime", datetime.datetime, WHEN, "2025-01-02T03:04:05Z", {"format": "date-time"}, "x"),
    ("date", datetime.date, datetime.date(2025, 1, 2), "2025-01-02", {"format": "date"}, "2025"),
    ("time", datetime.time, datetime.time(3, 4), "03:04:00", {"format": "time"}, "25:00"),
    ("enum", Color, Color.RED, "red", {"$ref": "#/$defs/Color"}, "green"),
    (
        "timedelta",
        datetime.timedelta,
        datetime.timedelta(seconds=90),
        "PT90S",
        {"format": "duration"},
        "x",
    ),
    ("frozenset", frozenset[int], frozenset({1}), [1], {"uniqueItems": True}, ["a"]),
    (
        "struct",
        Money,
        Money(5, "EUR"),
        {"amount": 5, "currency": "EUR"},
        {"$ref": "#/$defs/Money"},
        {"amount": 5},
    ),
    (
        "optional",
        Optional[int],  # noqa: UP045 - the spelling users write
        None,
        None,
        {"anyOf": [{"type": "integer"}, {"type": "null"}]},
        "x",
    ),
    ("union", Union[int, str], "a", "a", {"anyOf": [{"type": "integer"}, {"type": "string"}]}, 1.5),  # noqa: UP007
    ("list", list[int], [1, 2], [1, 2], {"type": "array", "items": {"type": "integer"}}, [1, "2"]),
    (
        "tuple",
        tuple[int, str],
        (1, "a"),
        [1, "a"],
        {"prefixItems": [{"type": "integer"}, {"type": "string"}]},
        [1, 2],
    ),
    ("tuple...", tuple[int, ...], (1, 2), [1, 2], {"type": "array"}, ["a"]),
    ("set", set[str], {"a"}, ["a"], {"uniqueItems": True}, [1]),
    (
        "dict",
        dict[str, int],
        {"a": 1},
        {"a": 1},
        {"additionalProperties": {"type": "integer"}},
        {"a": "1"},
    ),
    ("literal", Literal["a", "b"], "a", "a", {"enum": ["a", "b"]}, "c"),
    (
        "typeddict",
        Person,
        {"name": "n", "age": 3},
        {"name": "n", "age": 3},
        {"$ref": "#/$defs/Person"},
        {"name": "n"},
    ),
    (
        "dataclass",
        Address,
        Address("s", 2),
        {"street": "s", "number": 2},
        {"$ref": "#/$defs/Address"},
        {"street": 1},
    ),
    ("namedtuple", Point, Point(1, 2), [1, 2], {"$ref": "#/$defs/Point"}, ["a"]),
    ("meta", Annotated[int, msgspec.Meta(ge=0, le=10)], 3, 3, {"minimum": 0, "maximum": 10}, 11),
    ("annotated-types", Annotated[int, Gt(0)], 3, 3, {"exclusiveMinimum": 0}, 0),
    ("maxlen", Annotated[str, MaxLen(3)], "abc", "abc", {"maxLength": 3}, "abcd"),
    ("annotated-note", Annotated[int, "a note"], 3, 3, {"type": "integer"}, "3"),
    (
        "list-of-datetime",
        list[datetime.datetime],
        [WHEN],
        ["2025-01-02T03:04:05Z"],
        {"items": {"format": "date-time", "type": "string"}},
        ["x"],
    ),
]


def wire(value: Any) -> Any:
    """What the other side decodes (tuples, for instance, travel as arrays)."""
    return msgspec.json.decode(msgspec.json.encode(value))


def checkers(annotation: Any) -> tuple[TypedRule, SchemaRule, dict[str, Any]]:
    class TypesApi(Api):
        class Meta:
            name = "types"

        def take(self, value: annotation) -> annotation:  # type: ignore[valid-type]
            return value

    definition = define(TypesApi())
    schema, problems = build(definition)
    assert problems == []
    rpc = definition.rpcs["take"]
    typed = TypedRule("types", "take", rpc.parameters, returns=rpc.return_type)
    entry = schema["rpcs"]["take"]
    return typed, SchemaRule("types", "take", entry, enforce=True), entry


@pytest.mark.parametrize(
    "label,annotation,value,json_form,fragment,wrong", CASES, ids=[c[0] for c in CASES]
)
def test_type_schema_and_casting(label, annotation, value, json_form, fragment, wrong):
    typed, by_schema, entry = checkers(annotation)
    prop = entry["parameters"]["properties"]["value"]
    for key, expected in fragment.items():
        assert prop[key] == expected, (label, prop)
    assert entry["response"].get("$ref", entry["response"].get("type")) == prop.get(
        "$ref", prop.get("type")
    )
    # Out: the caller sends the JSON form (identical whichever checker it uses).
    sent = typed.outgoing({"value": value})
    assert wire(sent) == {"value": json_form}
    assert wire(by_schema.outgoing({"value": value})) == wire(sent)
    # In: the handler gets the annotated type back.
    received = typed.incoming(msgspec.json.decode(msgspec.json.encode(sent)), "worker")["value"]
    assert received == value and type(received) is type(value)
    # The result goes the same way.
    assert wire(typed.result_out(value)) == json_form
    assert typed.result_in(json_form) == value
    # Both checkers refuse a wrong JSON value, naming the parameter.
    for checker in (typed, by_schema):
        with pytest.raises(ValidationError) as info:
            checker.incoming({"value": wrong}, "worker")
        assert info.value.field.startswith("value"), (label, info.value)
        assert info.value.api == "types" and info.value.name == "take"


def test_defaults_make_parameters_optional_and_handler_defaults_apply():
    class DefaultsApi(Api):
        class Meta:
            name = "defaults"

        def f(self, a: int, b: list[int] = [1], c: str | None = None) -> None:  # noqa: B006
            return None

    definition = define(DefaultsApi())
    params = build(definition)[0]["rpcs"]["f"]["parameters"]
    assert params["required"] == ["a"]
    assert params["properties"]["b"]["default"] == [1]
    typed = TypedRule("defaults", "f", definition.rpcs["f"].parameters)
    # Omitted optional parameters are not filled in: the handler's own default applies.
    assert typed.incoming({"a": 1}, "worker") == {"a": 1}


def test_extra_parameters_refused_unless_kwargs():
    class ExtrasApi(Api):
        class Meta:
            name = "extras"

        def strict(self, a: int) -> None: ...

        def loose(self, a: int, **rest: Any) -> None: ...

    definition = define(ExtrasApi())
    schema = build(definition)[0]["rpcs"]
    assert schema["strict"]["parameters"]["additionalProperties"] is False
    assert schema["loose"]["parameters"]["additionalProperties"] is True
    strict = TypedRule("extras", "strict", definition.rpcs["strict"].parameters)
    with pytest.raises(ValidationError, match="unknown field `b`") as info:
        strict.incoming({"a": 1, "b": 2}, "worker")
    assert info.value.field == "b"
    rpc = definition.rpcs["loose"]
    loose = TypedRule("extras", "loose", rpc.parameters, accepts_any=True)
    assert loose.incoming({"a": 1, "b": [2]}, "worker") == {"a": 1, "b": [2]}
    assert loose.outgoing({"a": 1, "b": WHEN}) == {"a": 1, "b": "2025-01-02T03:04:05Z"}


def test_event_parameters_from_parameter_objects():
    class EventsApi(Api):
        happened = Event(
            parameters=("anything", Parameter("when", datetime.datetime), Parameter("n", int, 0))
        )

        class Meta:
            name = "events"

    definition = define(EventsApi())
    params = build(definition)[0]["events"]["happened"]["parameters"]
    assert params["properties"]["anything"] == {}
    assert params["properties"]["when"] == {"type": "string", "format": "date-time"}
    assert params["required"] == ["anything", "when"]
    assert params["additionalProperties"] is False
    typed = TypedRule("events", "happened", definition.events["happened"].parameters)
    got = typed.incoming({"anything": {"x": 1}, "when": "2025-01-02T03:04:05Z"}, "listener")
    assert got == {"anything": {"x": 1}, "when": WHEN}


def test_unsupported_annotation_falls_back_to_any_with_a_warning(caplog):
    class Opaque:
        pass

    class OddApi(Api):
        class Meta:
            name = "odd"

        def f(self, a: Opaque, b: int) -> complex: ...

    definition = define(OddApi())
    schema, problems = build(definition)
    assert [(p.api, p.name, p.parameter) for p in problems] == [
        ("odd", "f", "a"),
        ("odd", "f", "<return>"),
    ]
    assert "odd.f: the parameter 'a' is annotated" in str(problems[0])
    assert schema["rpcs"]["f"]["parameters"]["properties"]["a"] == {}
    assert schema["rpcs"]["f"]["response"] == {}
    typed = TypedRule("odd", "f", definition.rpcs["f"].parameters)
    thing = Opaque()
    assert typed.incoming({"a": thing, "b": 1}, "worker")["a"] is thing
    with pytest.raises(ValidationError):
        typed.incoming({"a": 1, "b": "x"}, "worker")
    import lightbus

    bus = lightbus.create(redis_url="redis://127.0.0.1:1/0")
    with caplog.at_level("WARNING", logger="lightbus.schema"):
        bus.client.register_api(OddApi())  # registering (at import time) does not raise
    assert "odd.f: the parameter 'a'" in caplog.text


def test_unresolvable_string_annotation_is_a_problem_not_a_crash():
    namespace: dict[str, Any] = {}
    exec(
        "from __future__ import annotations\n"
        "from lightbus import Api\n"
        "class LaterApi(Api):\n"
        "    class Meta:\n"
        "        name = 'later'\n"
        "    def f(self, a: NotDefinedAnywhere, b: int) -> int: ...\n",
        namespace,
    )
    schema, problems = build(define(namespace["LaterApi"]()))
    assert {p.parameter for p in problems} >= {"a"}
    assert "could not be resolved" in problems[0].reason
    assert schema["rpcs"]["f"]["parameters"]["properties"]["a"] == {}


def test_meta_validate_false_is_published_and_relaxes_checks():
    class LaxApi(Api):
        class Meta:
            name = "lax"
            validate = False

        def f(self, when: datetime.datetime) -> int: ...

    definition = define(LaxApi())
    schema = build(definition)[0]
    assert schema["validate"] is False
    rpc = definition.rpcs["f"]
    typed = TypedRule("lax", "f", rpc.parameters, returns=rpc.return_type, enforce=False)
    assert typed.incoming({"when": "nonsense"}, "worker") == {"when": "nonsense"}
    assert typed.incoming({"when": "2025-01-02T03:04:05Z"}, "worker") == {"when": WHEN}
    assert typed.result_out("not an int") == "not an int"
    relaxed = SchemaRule("lax", "f", schema["rpcs"]["f"], enforce=False)
    assert relaxed.incoming({"when": 5}, "worker") == {"when": 5}


def test_nested_field_paths():
    @dataclasses.dataclass
    class Line:
        sku: str
        quantity: int

    @dataclasses.dataclass
    class Order:
        lines: list[Line]

    class OrdersApi(Api):
        class Meta:
            name = "orders"

        def place(self, order: Order) -> None: ...

    definition = define(OrdersApi())
    entry = build(definition)[0]["rpcs"]["place"]
    typed = TypedRule("orders", "place", definition.rpcs["place"].parameters)
    bad = {"order": {"lines": [{"sku": "a", "quantity": 1}, {"sku": "b", "quantity": "2"}]}}
    for checker in (typed, SchemaRule("orders", "place", entry, enforce=True)):
        with pytest.raises(ValidationError) as info:
            checker.incoming(bad, "worker")
        assert info.value.field == "order.lines[1].quantity"
        assert info.value.problem == "Expected `int`, got `str`"
        assert "orders.place: argument 'order.lines[1].quantity' is invalid" in str(info.value)


def test_schema_files_round_trip(tmp_path):
    class FileApi(Api):
        class Meta:
            name = "file"

        def f(self, a: int) -> str: ...

    schema = build(define(FileApi()))[0]
    (tmp_path / "all.json").write_text(msgspec.json.encode({"file": schema}).decode())
    assert load_schemas(tmp_path / "all.json") == {"file": schema}
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "file.json").write_text(msgspec.json.encode(schema).decode())
    assert load_schemas(tmp_path / "dir") == {"file": schema}


def test_event_parameter_names_need_not_be_identifiers():
    params = (Parameter("order-id", int), Parameter("class", str, "a"))
    typed = TypedRule("odd", "named", params)
    assert typed.incoming({"order-id": 1}, "listener") == {"order-id": 1}
    assert typed.outgoing({"order-id": 1, "class": "b"}) == {"order-id": 1, "class": "b"}
    with pytest.raises(ValidationError) as info:
        typed.incoming({"order-id": "1"}, "listener")
    assert info.value.field == "order-id"


def test_a_local_caller_checks_python_values_as_given():
    class StrictApi(Api):
        class Meta:
            name = "strict"

        def f(self, label: str, when: datetime.datetime) -> None: ...

    typed = TypedRule("strict", "f", define(StrictApi()).rpcs["f"].parameters)
    with pytest.raises(ValidationError) as info:
        typed.outgoing({"label": datetime.date(2025, 1, 2), "when": WHEN})
    assert (info.value.field, info.value.problem) == ("label", "Expected `str`, got `date`")
    # Text in the JSON form of the annotated type is accepted, and sent canonically.
    sent = typed.outgoing({"label": "x", "when": "2025-01-02T03:04:05+00:00"})
    assert sent == {"label": "x", "when": "2025-01-02T03:04:05Z"}


def test_results_are_checked_as_returned():
    class ResultApi(Api):
        class Meta:
            name = "results"

        def f(self) -> str: ...

    rpc = define(ResultApi()).rpcs["f"]
    typed = TypedRule("results", "f", rpc.parameters, returns=rpc.return_type)
    with pytest.raises(ValidationError) as info:
        typed.result_out(datetime.date(2025, 1, 2))
    assert (info.value.part, info.value.problem) == ("result", "Expected `str`, got `date`")
