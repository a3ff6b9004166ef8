"""The leaf checks of the JSON Schema validator: types, enums, bounds, lengths, formats.

:mod:`lightbus.jsonvalidate` compiles a schema into a tree of these closures. Each takes
a value and raises :class:`Invalid` with a problem worded like msgspec's.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import decimal
import json
import operator
import re
import uuid
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], None]

TYPE_NAMES = {
    "string": "str",
    "integer": "int",
    "number": "float",
    "boolean": "bool",
    "null": "null",
    "array": "array",
    "object": "object",
}


class Invalid(Exception):
    """A value does not match; ``path`` is filled in (innermost first) as it unwinds.

    ``named`` is the field an object lacks or must not have (``""`` for other problems):
    the path is the object's, the field is below it.
    """

    def __init__(self, problem: str, *, named: str = "") -> None:
        super().__init__(problem)
        self.problem = problem
        self.named = named
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


def is_type(value: Any, kind: str) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        # JSON has one number type: 1.0 is an integer, as the spec says.
        if isinstance(value, float):
            return value.is_integer()
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


def accept(value: Any) -> None:
    return None


def reject(value: Any) -> None:
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


def type_check(kinds: list[str]) -> Check:
    names = " | ".join(TYPE_NAMES.get(k, k) for k in kinds)
    if len(kinds) == 1:
        kind = kinds[0]

        def check_one(value: Any) -> None:
            if not is_type(value, kind):
                raise Invalid(f"Expected `{names}`, got `{got(value)}`")

        return check_one

    def check_many(value: Any) -> None:
        if not any(is_type(value, k) for k in kinds):
            raise Invalid(f"Expected `{names}`, got `{got(value)}`")

    return check_many


def canonical(value: Any) -> Any:
    """A hashable key equal for exactly the values JSON Schema calls equal: 1 and 1.0
    are, 1 and true are not, and objects are equal whatever the order of their keys."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return (type(value).__name__, value)
    if isinstance(value, int | float):
        return ("number", value)  # 1 == 1.0 and hash(1) == hash(1.0)
    if isinstance(value, list | tuple):
        return ("array", tuple(canonical(v) for v in value))
    if isinstance(value, dict):
        return ("object", frozenset((k, canonical(v)) for k, v in value.items()))
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def enum_check(values: list[Any]) -> Check:
    allowed = {canonical(v) for v in values}
    shown = ", ".join(json.dumps(v) for v in values)

    def check(value: Any) -> None:
        try:
            known = canonical(value) in allowed
        except TypeError:
            known = False
        if not known:
            raise Invalid(
                f"Invalid value {json.dumps(value, default=str)}, expected one of {shown}"
            )

    return check


def not_check(inner: Check) -> Check:
    def check(value: Any) -> None:
        try:
            inner(value)
        except Invalid:
            return
        raise Invalid("The value matches a schema it must not match")

    return check


_LENGTHS: dict[str, type] = {
    "minLength": str,
    "maxLength": str,
    "minItems": list,
    "maxItems": list,
    "minProperties": dict,
    "maxProperties": dict,
}


def scalar_checks(schema: dict[str, Any]) -> list[Check]:
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
            if is_type(value, "number") and not _is_multiple(value, step):
                raise Invalid(f"Expected a multiple of {step}")

        checks.append(multiple)
    for key, kind in _LENGTHS.items():
        if key in schema:
            word = ">=" if key.startswith("min") else "<="
            compare = operator.ge if key.startswith("min") else operator.le
            name = TYPE_NAMES["array" if kind is list else "object" if kind is dict else "string"]
            checks.append(
                _length(schema[key], compare, f"Expected `{name}` of length {word}", kind)
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
            if isinstance(value, list | tuple) and len({canonical(v) for v in value}) < len(value):
                raise Invalid("Expected an array of unique items")

        checks.append(unique)
    return checks


def _is_multiple(value: int | float, step: int | float) -> bool:
    """Exactly, in decimal: 0.0075 is a multiple of 0.0001 though the floats are not."""
    try:
        return decimal.Decimal(repr(value)) % decimal.Decimal(repr(step)) == 0
    except decimal.InvalidOperation:  # the quotient is too large to hold: not a multiple
        return False


def dependent_required(dependencies: dict[str, list[str]]) -> Check:
    def check(value: Any) -> None:
        if not isinstance(value, dict):
            return
        for key, needed in dependencies.items():
            if key in value:
                for other in needed:
                    if other not in value:
                        raise Invalid(
                            f"Object with field `{key}` missing required field `{other}`",
                            named=other,
                        )

    return check


def _number_bound(bound: Any, ok: Callable[[Any, Any], bool], sign: str) -> Check:
    def check(value: Any) -> None:
        if is_type(value, "number") and not ok(value, bound):
            raise Invalid(f"Expected a number {sign} {bound}")

    return check


def _length(limit: float, compare: Callable[[int, float], bool], text: str, kind: type) -> Check:
    kinds: Any = (list, tuple) if kind is list else kind

    def check(value: Any) -> None:
        if isinstance(value, kinds) and not compare(len(value), limit):
            raise Invalid(f"{text} {limit}")

    return check
