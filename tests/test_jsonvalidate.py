"""The compiled JSON Schema validator used for APIs known only from a schema."""

from __future__ import annotations

import pytest

from lightbus.jsonvalidate import Invalid, compile_schema


def problem(schema, value):
    with pytest.raises(Invalid) as info:
        compile_schema(schema)(value)
    return info.value.path, info.value.problem


def test_types_and_their_wording():
    assert problem({"type": "integer"}, True) == ("", "Expected `int`, got `bool`")
    assert problem({"type": "number"}, "1") == ("", "Expected `float`, got `str`")
    assert problem({"type": ["string", "null"]}, 1) == ("", "Expected `str | null`, got `int`")
    compile_schema({"type": "number"})(3)  # an integer is a number


def test_objects_required_extra_and_paths():
    schema = {
        "type": "object",
        "properties": {"items": {"type": "array", "items": {"$ref": "#/$defs/Item"}}},
        "required": ["items"],
        "additionalProperties": False,
        "$defs": {
            "Item": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
        },
    }
    check = compile_schema(schema)
    check({"items": [{"n": 1}, {"n": 2, "extra": True}]})
    assert problem(schema, {"items": [{"n": 1}, {"n": "2"}]}) == (
        "items[1].n",
        "Expected `int`, got `str`",
    )
    assert problem(schema, {}) == ("", "Object missing required field `items`")
    assert problem(schema, {"items": [], "x": 1}) == ("", "Object contains unknown field `x`")


def test_recursive_references():
    schema = {
        "$ref": "#/$defs/Node",
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}},
            }
        },
    }
    compile_schema(schema)({"children": [{"children": [{}]}]})
    assert problem(schema, {"children": [{"children": [5]}]})[0] == "children[0].children[0]"


def test_unions_enums_and_constraints():
    assert problem({"anyOf": [{"type": "integer"}, {"type": "null"}]}, "x")[1] == (
        "Expected `int`, got `str`"
    )
    assert problem({"anyOf": [{"type": "integer"}, {"type": "string"}]}, 1.5)[1] == (
        "Expected `int | str`, got `float`"
    )
    assert "expected one of" in problem({"enum": ["a", "b"]}, "c")[1]
    assert problem({"enum": [1]}, True)  # true is not 1 in JSON
    assert problem({"type": "integer", "minimum": 0}, -1)[1] == "Expected a number >= 0"
    assert problem({"type": "integer", "exclusiveMaximum": 5}, 5)[1] == "Expected a number < 5"
    assert problem({"type": "string", "maxLength": 2}, "abc")[1] == "Expected `str` of length <= 2"
    assert "regex" in problem({"type": "string", "pattern": "^a"}, "b")[1]
    assert problem({"type": "array", "uniqueItems": True}, [1, 1])
    assert problem({"prefixItems": [{"type": "integer"}], "items": False}, [1, 2])


def test_formats():
    compile_schema({"type": "string", "format": "date-time"})("2025-01-02T03:04:05Z")
    for fmt, bad in [
        ("date-time", "soon"),
        ("date", "2025-13-01"),
        ("uuid", "x"),
        ("decimal", "1.2.3"),
    ]:
        assert problem({"type": "string", "format": fmt}, bad)
    assert problem({"type": "string", "contentEncoding": "base64"}, "***")


def test_malformed_schema_is_a_value_error():
    with pytest.raises(ValueError, match="does not resolve"):
        compile_schema({"$ref": "#/$defs/Missing"})
    with pytest.raises(ValueError):
        compile_schema({"properties": {"a": 5}})


def test_the_three_defects_the_suite_found_stay_fixed():
    # oneOf: a value matching two branches is invalid (it was taken as anyOf).
    one_of = {"oneOf": [{"type": "integer"}, {"minimum": 2}]}
    compile_schema(one_of)(1)
    assert "exactly one" in problem(one_of, 3)[1]
    # 1.0 is an integer in JSON Schema (it was refused).
    compile_schema({"type": "integer"})(1.0)
    assert problem({"type": "integer"}, 1.5)[1] == "Expected `int`, got `float`"
    # dependentRequired is enforced (it was ignored).
    schema = {"type": "object", "dependentRequired": {"card": ["expiry"]}}
    compile_schema(schema)({"card": 1, "expiry": "12/30"})
    assert "missing required field `expiry`" in problem(schema, {"card": 1})[1]
