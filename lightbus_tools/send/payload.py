"""What to send: ``api.name`` and its keyword arguments, from the command line.

``key=value`` arguments are parsed as JSON where they parse and taken as strings
otherwise: ``n=5`` is 5, ``flag=true`` is True, ``name=bob`` is "bob", ``s='"5"'`` is the
string "5". ``--json '{...}'`` gives a whole payload (``--json -`` reads it from stdin);
``key=value`` arguments given beside it add to it or replace its keys.

Every mistake raises :class:`BadInput` with a message that says what was wrong and what
to write instead; the commands print it and exit with status 2.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import IO, Any


class BadInput(ValueError):
    """The command line does not say what to send."""


def parse_target(text: str) -> tuple[str, str]:
    """``api.name`` (the API part may hold dots: ``company.parts.reserve``)."""
    api, dot, name = text.rpartition(".")
    if not dot or not api or not name or any(not part for part in api.split(".")):
        raise BadInput(
            f"{text!r} is not api.name: give the API and the RPC or event name joined by a "
            f"dot, e.g. auth.check_password"
        )
    return api, name


def parse_value(text: str) -> Any:
    """The JSON value ``text`` holds, or ``text`` itself when it is not JSON."""
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except ValueError:
        return text
    if isinstance(value, float) and not math.isfinite(value):
        return text  # 1e999: JSON has no infinity, keep what was typed
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN, Infinity: taken as strings instead


def parse_pairs(pairs: Iterable[str]) -> dict[str, Any]:
    """``["n=5", "name=bob"]`` as ``{"n": 5, "name": "bob"}``."""
    kwargs: dict[str, Any] = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals:
            raise BadInput(
                f"argument {pair!r} is not key=value: write name=value (e.g. n=5 or "
                f"name=bob), or give the whole payload with --json '{{...}}'"
            )
        if not key.isidentifier():
            raise BadInput(
                f"argument {pair!r}: {key!r} is not a parameter name; write name=value, e.g. n=5"
            )
        if key in kwargs:
            raise BadInput(f"argument {key!r} is given twice ({key}=...); give it once")
        kwargs[key] = parse_value(value)
    return kwargs


def parse_json(text: str, stdin: IO[str]) -> dict[str, Any]:
    """The payload of ``--json TEXT`` (``-``: read from ``stdin``): a JSON object."""
    source = "--json"
    if text == "-":
        text, source = stdin.read(), "--json - (stdin)"
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except ValueError as exc:
        raise BadInput(
            f"{source} is not valid JSON ({exc}); give an object of arguments, e.g. "
            f'--json \'{{"n": 5, "name": "bob"}}\''
        ) from None
    if not isinstance(value, dict):
        raise BadInput(
            f"{source} must be a JSON object of arguments, not {_json_type(value)}; e.g. "
            f"--json '{{\"n\": 5}}'"
        )
    return value


def payload(pairs: Iterable[str], json_text: str | None, stdin: IO[str]) -> dict[str, Any]:
    """The keyword arguments: ``--json`` first, then ``key=value`` pairs over it."""
    kwargs = parse_json(json_text, stdin) if json_text is not None else {}
    kwargs.update(parse_pairs(pairs))
    return kwargs


def _json_type(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")
