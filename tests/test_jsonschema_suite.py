"""lightbus.jsonvalidate against the official JSON-Schema-Test-Suite (draft 2020-12).

Every case of the vendored files runs (tests/data/json-schema-test-suite/README.md says
where they come from). A case group is left out only when its schema uses something the
validator documents as not supported (remote or ``$id``-based references, and keywords
the schema generator never emits); the list is below, and a test checks that every
keyword the generator emits has cases that ran.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lightbus.jsonvalidate import Invalid, compile_schema

SUITE = Path(__file__).parent / "data" / "json-schema-test-suite"

# Keywords the validator does not implement; a group using one is not run. None of them
# is emitted by the schema generator (msgspec and lightbus.schema).
UNSUPPORTED = {
    "$id", "$anchor", "$dynamicRef", "$dynamicAnchor", "$vocabulary",
    "patternProperties", "dependentSchemas", "if", "then", "else", "contains",
    "minContains", "maxContains", "unevaluatedItems", "unevaluatedProperties",
}  # fmt: skip
# Deliberate differences (lightbus/jsonvalidate.py's docstring): patterns are Python
# regular expressions, as msgspec's are on the typed side.
DIFFERENT = {("pattern.json", "pattern with Unicode property escape requires unicode mode")}
# Keywords the schema generator emits (msgspec.json.schema plus lightbus.schema and
# lightbus.message); each must have suite cases that ran. Annotations (title,
# description, default, examples, discriminator, $defs) only have to be accepted.
EMITTED = {
    "type", "properties", "required", "additionalProperties", "items", "prefixItems",
    "minItems", "maxItems", "uniqueItems", "enum", "const", "anyOf", "oneOf", "not",
    "$ref", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
    "minLength", "maxLength", "pattern", "minProperties", "maxProperties",
    "propertyNames", "default",
}  # fmt: skip
# `format` is emitted too, but asserted as msgspec decodes each format, not as the suite's
# optional RFC 3339 cases say: tests/test_jsonvalidate.py covers it.
# Also documented as checked, though the generator does not emit them.
DOCUMENTED = {"allOf", "dependentRequired"}


def _keywords(schema: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(schema, dict):
        for key, value in schema.items():
            found.add(key)
            if key in ("properties", "$defs", "definitions", "dependentRequired"):
                for sub in value.values() if isinstance(value, dict) else ():
                    found |= _keywords(sub)
            elif key not in ("enum", "const", "required", "default", "examples"):
                found |= _keywords(value)
    elif isinstance(schema, list):
        for item in schema:
            found |= _keywords(item)
    return found


def _refs(schema: Any) -> list[str]:
    if isinstance(schema, dict):
        own = [schema["$ref"]] if isinstance(schema.get("$ref"), str) else []
        return own + [r for v in schema.values() for r in _refs(v)]
    if isinstance(schema, list):
        return [r for v in schema for r in _refs(v)]
    return []


def _cases() -> list[Any]:
    cases = []
    for path in sorted(SUITE.rglob("*.json")):
        name = str(path.relative_to(SUITE))
        for group in json.loads(path.read_text()):
            schema = group["schema"]
            skip = sorted(_keywords(schema) & UNSUPPORTED)
            if any(not ref.startswith("#") for ref in _refs(schema)):
                skip.append("a remote $ref")
            if (name, group["description"]) in DIFFERENT:
                skip.append("a Python regex feature (deliberate)")
            for test in group["tests"]:
                marks = [pytest.mark.skip(reason=f"uses {', '.join(skip)}")] if skip else []
                cases.append(
                    pytest.param(
                        schema,
                        test["data"],
                        test["valid"],
                        id=f"{name}: {group['description']}: {test['description']}",
                        marks=marks,
                    )
                )
    return cases


CASES = _cases()


@pytest.mark.parametrize(("schema", "data", "valid"), CASES)
def test_suite_case(schema, data, valid):
    check = compile_schema(schema)
    try:
        check(data)
    except Invalid:
        assert not valid, "refused a valid value"
    else:
        assert valid, "accepted an invalid value"


def test_every_keyword_the_generator_emits_has_cases_that_run():
    ran: dict[str, int] = {}
    for case in CASES:
        if not case.marks:
            for keyword in _keywords(case.values[0]):
                ran[keyword] = ran.get(keyword, 0) + 1
    for keyword in EMITTED | DOCUMENTED:
        assert ran.get(keyword, 0) >= 3, f"{keyword}: {ran.get(keyword, 0)} cases ran"
