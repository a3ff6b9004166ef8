"""A compiled validator for the JSON Schema that Lightbus publishes.

Callers that know an API only from the registry (or from a ``--schema`` file) have no
Python types to check against, only JSON Schema. :func:`compile_schema` turns a schema
into a tree of small closures once, so checking a payload is a walk over the value with
no schema interpretation left. It covers the keywords the schema generator emits and the
common ones a person writes by hand: ``type``, ``properties``, ``required``,
``additionalProperties``, ``items``, ``prefixItems``, ``min/maxItems``, ``uniqueItems``,
``enum``, ``const``, ``anyOf``/``oneOf`` (both taken as "any of"), ``allOf``, ``not``,
``$ref`` to ``#/$defs/...`` or ``#/definitions/...``, numeric bounds, ``multipleOf``,
``min/maxLength``, ``pattern``, ``min/maxProperties``, ``propertyNames``, the formats
``date-time``, ``date``, ``time``, ``duration``, ``uuid`` and ``decimal``, and base64
``contentEncoding``. Other keywords are ignored, as JSON Schema says.

Problems are worded like msgspec's (``Expected `int`, got `str```), so a caller sees the
same message whichever side found it.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import decimal
import json
import re
import uuid
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], None]

_TYPE_NAMES = {
    "string": "str",
    "integer": "int",
    "number": "float",
    "boolean": "bool",
    "null": "null",
    "array": "array",
    "object": "object",
}


class Invalid(Exception):
    """A value does not match; ``path`` is filled in (innermost first) as it unwinds."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.steps: list[str | int] = []

    @property
    def path(self) -> str:
        """The path of the bad value: ``order.lines[0].sku``."""
        text = ""
        for step in reversed(self.steps):
            text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
        return text


def got(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


def _is_type(value: Any, kind: str) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "null":
        return value is None
    if kind == "array":
        return isinstance(value, list | tuple)
    if kind == "object":
        return isinstance(value, dict)
    return True


def _accept(value: Any) -> None:
    return None


def _reject(value: Any) -> None:
    raise Invalid("No value is allowed here")


def _parse_format(parse: Callable[[str], Any], name: str) -> Check:
    def check(value: Any) -> None:
        if isinstance(value, str):
            try:
                parse(value)
            except (ValueError, ArithmeticError, binascii.Error):
                raise Invalid(f"Invalid {name} string {value!r}") from None

    return check


_FORMAT_CHECKS = {
    "date-time": _parse_format(datetime.datetime.fromisoformat, "datetime"),
    "date": _parse_format(datetime.date.fromisoformat, "date"),
    "time": _parse_format(datetime.time.fromisoformat, "time"),
    "uuid": _parse_format(uuid.UUID, "uuid"),
    "decimal": _parse_format(decimal.Decimal, "decimal"),
}
_DURATION = re.compile(
    r"^-?P(?!$)(\d+(\.\d+)?[WD])?(T(?=\d)(\d+(\.\d+)?H)?(\d+(\.\d+)?M)?(\d+(\.\d+)?S)?)?$"
)


def _duration(text: str) -> None:
    if not _DURATION.match(text):
        raise ValueError(text)


_FORMAT_CHECKS["duration"] = _parse_format(_duration, "duration")
_BASE64 = _parse_format(lambda s: base64.b64decode(s, validate=True), "base64")


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
        for part in target[1:].strip("/").split("/") if target != "#" else []:
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                raise ValueError(f"$ref {target!r} does not resolve in the schema")
            node = node[part]
        slot.append(self.compile(node))
        self.refs[target] = slot[0]
        return slot[0]

    def compile(self, schema: Any) -> Check:
        if schema is True or schema == {}:
            return _accept
        if schema is False:
            return _reject
        if not isinstance(schema, dict):
            raise ValueError(f"a schema must be an object or a boolean, got {schema!r}")
        checks: list[Check] = []
        if "$ref" in schema:
            checks.append(self.ref(schema["$ref"]))
        kinds = schema.get("type")
        if kinds is not None:
            checks.append(_type_check([kinds] if isinstance(kinds, str) else list(kinds)))
        if "enum" in schema:
            checks.append(_enum_check(schema["enum"]))
        if "const" in schema:
            checks.append(_enum_check([schema["const"]]))
        for key in ("anyOf", "oneOf"):
            if key in schema:
                checks.append(self._any_of(schema[key]))
        for sub in schema.get("allOf", ()):
            checks.append(self.compile(sub))
        if "not" in schema:
            checks.append(_not_check(self.compile(schema["not"])))
        checks.extend(_scalar_checks(schema))
        if any(k in schema for k in ("properties", "required", "additionalProperties")):
            checks.append(self._object(schema))
        if any(k in schema for k in ("items", "prefixItems")):
            checks.append(self._array(schema))
        if not checks:
            return _accept
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
                    raise Invalid(f"Object missing required field `{key}`")
            for key, item in value.items():
                check = properties.get(key)
                if check is None:
                    if forbid:
                        raise Invalid(f"Object contains unknown field `{key}`")
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
                    if check is _reject:
                        too_long = Invalid(f"Expected an array of at most {len(prefix)} items")
                        raise too_long from None
                    exc.steps.append(index)
                    raise

        return check_array


def _option_name(option: Any) -> str:
    if isinstance(option, dict) and isinstance(option.get("type"), str):
        return str(_TYPE_NAMES.get(option["type"], option["type"]))
    if isinstance(option, dict) and "$ref" in option:
        return str(option["$ref"]).rsplit("/", 1)[-1]
    return "..."


def _type_check(kinds: list[str]) -> Check:
    names = " | ".join(_TYPE_NAMES.get(k, k) for k in kinds)
    if len(kinds) == 1:
        kind = kinds[0]

        def check_one(value: Any) -> None:
            if not _is_type(value, kind):
                raise Invalid(f"Expected `{names}`, got `{got(value)}`")

        return check_one

    def check_many(value: Any) -> None:
        if not any(_is_type(value, k) for k in kinds):
            raise Invalid(f"Expected `{names}`, got `{got(value)}`")

    return check_many


def _canonical(value: Any) -> str:
    # json text distinguishes 1 from true and 1 from "1", as JSON Schema equality does
    return json.dumps(value, sort_keys=True)


def _enum_check(values: list[Any]) -> Check:
    allowed = {_canonical(v) for v in values}
    shown = ", ".join(json.dumps(v) for v in values)

    def check(value: Any) -> None:
        try:
            key = _canonical(value)
        except TypeError:
            key = ""
        if key not in allowed:
            raise Invalid(
                f"Invalid value {json.dumps(value, default=str)}, expected one of {shown}"
            )

    return check


def _not_check(inner: Check) -> Check:
    def check(value: Any) -> None:
        try:
            inner(value)
        except Invalid:
            return
        raise Invalid("The value matches a schema it must not match")

    return check


def _scalar_checks(schema: dict[str, Any]) -> list[Check]:
    checks: list[Check] = []
    bounds = [
        ("minimum", lambda v, b: v >= b, ">="),
        ("maximum", lambda v, b: v <= b, "<="),
        ("exclusiveMinimum", lambda v, b: v > b, ">"),
        ("exclusiveMaximum", lambda v, b: v < b, "<"),
    ]
    for key, ok, sign in bounds:
        if key in schema:
            checks.append(_number_bound(schema[key], ok, sign))
    if "multipleOf" in schema:
        step = schema["multipleOf"]

        def multiple(value: Any) -> None:
            if _is_type(value, "number") and (value / step) % 1:
                raise Invalid(f"Expected a multiple of {step}")

        checks.append(multiple)
    for key, compare, word in (("minLength", int.__ge__, ">="), ("maxLength", int.__le__, "<=")):
        if key in schema:
            checks.append(_length(schema[key], compare, f"Expected `str` of length {word}", str))
    for key, compare, word in (("minItems", int.__ge__, ">="), ("maxItems", int.__le__, "<=")):
        if key in schema:
            checks.append(_length(schema[key], compare, f"Expected `array` of length {word}", list))
    for key, compare, word in (
        ("minProperties", int.__ge__, ">="),
        ("maxProperties", int.__le__, "<="),
    ):
        if key in schema:
            checks.append(
                _length(schema[key], compare, f"Expected `object` of length {word}", dict)
            )
    if "pattern" in schema:
        pattern = re.compile(schema["pattern"])

        def match(value: Any) -> None:
            if isinstance(value, str) and not pattern.search(value):
                raise Invalid(f"Expected `str` matching regex {pattern.pattern!r}")

        checks.append(match)
    if schema.get("format") in _FORMAT_CHECKS:
        checks.append(_FORMAT_CHECKS[schema["format"]])
    if schema.get("contentEncoding") == "base64":
        checks.append(_BASE64)
    if schema.get("uniqueItems"):

        def unique(value: Any) -> None:
            if isinstance(value, list | tuple) and len({_canonical(v) for v in value}) < len(value):
                raise Invalid("Expected an array of unique items")

        checks.append(unique)
    if "propertyNames" in schema:
        names = _Compiler({}).compile(schema["propertyNames"])

        def property_names(value: Any) -> None:
            if isinstance(value, dict):
                for key in value:
                    names(key)

        checks.append(property_names)
    return checks


def _number_bound(bound: Any, ok: Callable[[Any, Any], bool], sign: str) -> Check:
    def check(value: Any) -> None:
        if _is_type(value, "number") and not ok(value, bound):
            raise Invalid(f"Expected a number {sign} {bound}")

    return check


def _length(limit: int, compare: Callable[[int, int], bool], text: str, kind: type) -> Check:
    kinds: Any = (list, tuple) if kind is list else kind

    def check(value: Any) -> None:
        if isinstance(value, kinds) and not compare(len(value), limit):
            raise Invalid(f"{text} {limit}")

    return check


def compile_schema(schema: Any) -> Check:
    """Compile ``schema`` once; the returned function raises :class:`Invalid` on a mismatch.

    Raises ``ValueError`` if the schema itself is malformed (a bad ``$ref``...).
    """
    return _Compiler(schema if isinstance(schema, dict) else {}).compile(schema)
