"""The schema of an API: what its RPCs take and return and what its events carry.

Per API the schema is ``{"rpcs": {name: {"parameters": ..., "response": ...}},
"events": {name: {"parameters": ...}}}`` where each ``parameters`` is a JSON Schema
object. Workers publish it to the registry; callers use it to check arguments.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

import msgspec

from lightbus.api import ApiDefinition, Parameter


def parameters_schema(params: Iterable[Parameter], accepts_any: bool = False) -> dict[str, Any]:
    params = tuple(params)
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {p.name: _property(p) for p in params},
        "required": [p.name for p in params if p.required],
        "additionalProperties": accepts_any,
    }
    return schema


def _property(param: Parameter) -> dict[str, Any]:
    if param.required:
        return {}
    try:
        msgspec.json.encode(param.default)
    except (TypeError, ValueError, OverflowError):
        return {}  # a default with no JSON form stays the receiver's business
    return {"default": param.default}


def api_schema(definition: ApiDefinition) -> dict[str, Any]:
    """The JSON-serialisable schema of one API."""
    return {
        "rpcs": {
            name: {
                "parameters": parameters_schema(rpc.parameters, rpc.accepts_any),
                "response": {},
            }
            for name, rpc in sorted(definition.rpcs.items())
        },
        "events": {
            name: {"parameters": parameters_schema(event.parameters)}
            for name, event in sorted(definition.events.items())
        },
    }


def schema_hash(schema: dict[str, Any]) -> str:
    """A short, stable hash of a schema, carried by every message as ``schema``."""
    text = json.dumps(schema, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]
