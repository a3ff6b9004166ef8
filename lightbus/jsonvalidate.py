"""A compiled validator for the JSON Schema that Lightbus publishes.

Callers that know an API only from the registry (or from a ``--schema`` file) have no
Python types to check against, only JSON Schema. :func:`compile_schema` turns a schema
into a tree of small closures once, so checking a payload is a walk over the value with
no schema interpretation left. It covers the keywords the schema generator emits and the
common ones a person writes by hand: ``type``, ``properties``, ``required``,
``additionalProperties``, ``items``, ``prefixItems``, ``min/maxItems``, ``uniqueItems``,
``enum``, ``const``, ``anyOf``, ``oneOf`` (exactly one), ``allOf``, ``not``, local
``$ref`` (JSON Pointers such as ``#/$defs/...``), numeric bounds, ``multipleOf``,
``min/maxLength``, ``pattern``, ``min/maxProperties``, ``propertyNames``,
``dependentRequired``, the formats ``date-time``, ``date``, ``time``, ``duration``,
``uuid`` and ``decimal``, and base64 ``contentEncoding``. Other keywords are not checked.

It conforms to JSON Schema 2020-12 for these keywords, proven by the official
JSON-Schema-Test-Suite's cases (``tests/test_jsonschema_suite.py``), with three
deliberate differences, each to agree with what msgspec accepts on the typed side:
``pattern`` is a Python regular expression (no Unicode property escapes), and
``format`` and base64 ``contentEncoding`` are asserted (the spec makes them annotations
by default), as the string forms that msgspec decodes (``docs/reference/schema.md``).

Problems are worded like msgspec's (``Expected `int`, got `str```), so a caller sees the
same message whichever side found it.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from lightbus.jsonchecks import (
    TYPE_NAMES,
    Check,
    Invalid,
    accept,
    dependent_required,
    enum_check,
    got,
    not_check,
    reject,
    scalar_checks,
    type_check,
)

__all__ = ["Check", "Invalid", "compile_schema"]


class _Compiler:
    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.refs: dict[str, Check] = {}

    def ref(self, target: str) -> Check:
        if target in self.refs:
            return self.refs[target]
        slot: list[Check] = []

        def deferred(value: Any) -> None:  # resolved on first use: allows recursive types
            slot[0](value)

        self.refs[target] = deferred
        node: Any = self.root
        if not target.startswith("#"):
            raise ValueError(f"only local $ref targets are supported, got {target!r}")
        pointer = urllib.parse.unquote(target[1:])
        for part in pointer.split("/")[1:] if pointer else []:  # a JSON Pointer (RFC 6901)
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            elif isinstance(node, dict) and part in node:
                node = node[part]
            else:
                raise ValueError(f"$ref {target!r} does not resolve in the schema")
        slot.append(self.compile(node))
        self.refs[target] = slot[0]
        return slot[0]

    def compile(self, schema: Any) -> Check:
        if schema is True or schema == {}:
            return accept
        if schema is False:
            return reject
        if not isinstance(schema, dict):
            raise ValueError(f"a schema must be an object or a boolean, got {schema!r}")
        checks: list[Check] = []
        if "$ref" in schema:
            checks.append(self.ref(schema["$ref"]))
        kinds = schema.get("type")
        if kinds is not None:
            checks.append(type_check([kinds] if isinstance(kinds, str) else list(kinds)))
        if "enum" in schema:
            checks.append(enum_check(schema["enum"]))
        if "const" in schema:
            checks.append(enum_check([schema["const"]]))
        if "anyOf" in schema:
            checks.append(self._any_of(schema["anyOf"]))
        if "oneOf" in schema:
            checks.append(self._one_of(schema["oneOf"]))
        for sub in schema.get("allOf", ()):
            checks.append(self.compile(sub))
        if "not" in schema:
            checks.append(not_check(self.compile(schema["not"])))
        checks.extend(scalar_checks(schema))
        if isinstance(schema.get("dependentRequired"), dict):
            checks.append(dependent_required(schema["dependentRequired"]))
        if "propertyNames" in schema:
            names = self.compile(schema["propertyNames"])

            def property_names(value: Any) -> None:
                if isinstance(value, dict):
                    for key in value:
                        names(key)

            checks.append(property_names)
        if any(k in schema for k in ("properties", "required", "additionalProperties")):
            checks.append(self._object(schema))
        if any(k in schema for k in ("items", "prefixItems")):
            checks.append(self._array(schema))
        if not checks:
            return accept
        if len(checks) == 1:
            return checks[0]
        frozen = tuple(checks)

        def check_all(value: Any) -> None:
            for check in frozen:
                check(value)

        return check_all

    def _any_of(self, options: list[Any]) -> Check:
        nullable = any(isinstance(o, dict) and o.get("type") == "null" for o in options)
        rest = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
        compiled = [self.compile(o) for o in rest]
        if len(compiled) == 1:
            # Optional[X]: report X's own problem, which says more than "none matched".
            only = compiled[0]

            def optional(value: Any) -> None:
                if value is None and nullable:
                    return
                only(value)

            return optional
        names = " | ".join(_option_name(o) for o in options)

        def any_of(value: Any) -> None:
            if value is None and nullable:
                return
            for check in compiled:
                try:
                    check(value)
                    return
                except Invalid:
                    continue
            raise Invalid(f"Expected `{names}`, got `{got(value)}`")

        return any_of

    def _one_of(self, options: list[Any]) -> Check:
        compiled = [self.compile(o) for o in options]
        names = " | ".join(_option_name(o) for o in options)

        def one_of(value: Any) -> None:
            matched = 0
            problem = None
            for check in compiled:
                try:
                    check(value)
                except Invalid as exc:
                    problem = problem or exc
                    continue
                matched += 1
                if matched > 1:
                    raise Invalid(f"Expected exactly one of `{names}` to match, got several")
            if not matched:
                if len(compiled) == 1 and problem is not None:
                    raise problem
                raise Invalid(f"Expected `{names}`, got `{got(value)}`")

        return one_of

    def _object(self, schema: dict[str, Any]) -> Check:
        properties = {k: self.compile(v) for k, v in schema.get("properties", {}).items()}
        required = tuple(schema.get("required", ()))
        extra = schema.get("additionalProperties", True)
        extra_check = None if isinstance(extra, bool) else self.compile(extra)
        forbid = extra is False

        def check_object(value: Any) -> None:
            if not isinstance(value, dict):
                return  # "type" reports a wrong kind of value
            for key in required:
                if key not in value:
                    raise Invalid(f"Object missing required field `{key}`", named=key)
            for key, item in value.items():
                check = properties.get(key)
                if check is None:
                    if forbid:
                        raise Invalid(f"Object contains unknown field `{key}`", named=key)
                    check = extra_check
                    if check is None:
                        continue
                try:
                    check(item)
                except Invalid as exc:
                    exc.steps.append(key)
                    raise

        return check_object

    def _array(self, schema: dict[str, Any]) -> Check:
        prefix = [self.compile(s) for s in schema.get("prefixItems", ())]
        items = schema.get("items", True)
        rest = self.compile(items)

        def check_array(value: Any) -> None:
            if not isinstance(value, list | tuple):
                return
            for index, item in enumerate(value):
                check = prefix[index] if index < len(prefix) else rest
                try:
                    check(item)
                except Invalid as exc:
                    if check is reject:
                        too_long = Invalid(f"Expected an array of at most {len(prefix)} items")
                        raise too_long from None
                    exc.steps.append(index)
                    raise

        return check_array


def _option_name(option: Any) -> str:
    if isinstance(option, dict) and isinstance(option.get("type"), str):
        return str(TYPE_NAMES.get(option["type"], option["type"]))
    if isinstance(option, dict) and "$ref" in option:
        return str(option["$ref"]).rsplit("/", 1)[-1]
    return "..."


def compile_schema(schema: Any) -> Check:
    """Compile ``schema`` once; the returned function raises :class:`Invalid` on a mismatch.

    Raises ``ValueError`` if the schema itself is malformed (a bad ``$ref``...).
    """
    return _Compiler(schema if isinstance(schema, dict) else {}).compile(schema)
