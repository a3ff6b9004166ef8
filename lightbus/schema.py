"""The schema of an API: what its RPCs take and return and what its events carry.

Per API the schema is ``{"rpcs": {name: {"parameters": ..., "response": ...}},
"events": {name: {"parameters": ...}}}``. Each ``parameters`` is a JSON Schema object
(one property per parameter, ``required`` for those without a default,
``additionalProperties`` true only for an RPC taking ``**kwargs``); ``response`` is the
JSON Schema of the RPC's return annotation. Both are self-contained: named types
(dataclasses, enums, TypedDicts, NamedTuples) sit in the schema's own ``$defs``. An API
with ``Meta.validate = False`` carries ``"validate": false``.

Schemas come from type hints through msgspec, in the canonical form of
:mod:`lightbus.typeschema`, the same whatever the msgspec version (see
``docs/reference/schema.md`` for the supported types). An annotation msgspec cannot
express does not stop the user's module from importing: the parameter falls back to
"any" (``{}``), with no validation or casting, and a warning naming the API, the RPC or
event and the parameter is logged.

Workers publish these schemas to the registry; callers validate against them;
:func:`load_schemas` reads the files that ``lightbus dumpschema`` writes.

This is a public module (``docs/reference/python-api.md``): :func:`api_schema`,
:func:`schema_hash`, :func:`dumps`, :func:`load_schemas` (raising
:class:`SchemaFileError`), :func:`live_schemas` (the registry, read), and the wire shapes
that renderings such as AsyncAPI use: :func:`envelope`, :func:`error_info`,
:func:`message_body`, :func:`channel_address` and :data:`ENTRY_FIELD`.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import msgspec

from lightbus.api import ApiDefinition, Parameter
from lightbus.keys import Keys
from lightbus.message import FIELD, REPLY_FIELD, body_schema, envelope_schema, error_schema
from lightbus.typeschema import components, has_json_form, json_default

logger = logging.getLogger("lightbus.schema")

__all__ = [
    "ENTRY_FIELD",
    "SchemaFileError",
    "api_schema",
    "channel_address",
    "dumps",
    "envelope",
    "error_info",
    "live_schemas",
    "load_schemas",
    "message_body",
    "schema_hash",
]

REF_TEMPLATE = "#/$defs/{name}"

# Attributes of annotated-types-style constraint objects (Gt, Ge, Len, MultipleOf, ...),
# read by name so no such package is needed.
_CONSTRAINTS = {
    "gt": "gt",
    "ge": "ge",
    "lt": "lt",
    "le": "le",
    "multiple_of": "multiple_of",
    "min_length": "min_length",
    "max_length": "max_length",
    "pattern": "pattern",
}
# msgspec leaves these strings without a format (naive datetimes are not RFC 3339);
# the format is added for readers of the schema.
_FORMATS = {datetime.datetime: "date-time", datetime.time: "time"}


@dataclass(frozen=True)
class Problem:
    """An annotation the generator cannot express; the parameter is treated as "any"."""

    api: str
    name: str
    parameter: str
    annotation: str
    reason: str

    def __str__(self) -> str:
        where = "return value" if self.parameter == "<return>" else f"parameter {self.parameter!r}"
        return (
            f"{self.api}.{self.name}: the {where} is annotated {self.annotation}, which has no "
            f"JSON Schema ({self.reason}); it is treated as any value, with no validation or "
            f"casting. Use a supported type (see docs/reference/schema.md)."
        )


class SchemaFileError(ValueError):
    """A schema file is missing, is not JSON, or is not a Lightbus schema."""


def prepare(annotation: Any) -> Any:
    """The msgspec-ready form of an annotation.

    Translates annotated-types-style constraints (objects with ``gt``, ``min_length``...)
    into :class:`msgspec.Meta` and marks datetimes and times with their format. It looks
    into unions and containers, not into dataclasses (use ``msgspec.Meta`` there).
    """
    if annotation is Any or annotation is None or isinstance(annotation, str):
        return annotation
    if annotation in _FORMATS:
        return Annotated[
            annotation, msgspec.Meta(extra_json_schema={"format": _FORMATS[annotation]})
        ]
    # Typed as Any: the subscriptions below build types at run time.
    origin: Any = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    annotated: Any = Annotated
    union: Any = typing.Union
    if origin is Annotated:
        inner, *metadata = args
        metas = [meta for m in metadata if (meta := _as_meta(m)) is not None]
        # Metadata that is not a constraint (a note, a Doc) is dropped.
        return annotated[(prepare(inner), *metas)] if metas else prepare(inner)
    if origin in (typing.Union, types.UnionType) and args:
        return union[tuple(prepare(a) for a in args)]
    if origin in (list, set, frozenset) and len(args) == 1:
        return origin[prepare(args[0])]
    if origin is dict and len(args) == 2:
        return origin[args[0], prepare(args[1])]
    if origin is tuple and args:
        if len(args) == 2 and args[1] is Ellipsis:
            return origin[prepare(args[0]), ...]
        return origin[tuple(prepare(a) for a in args)]
    return annotation


def _as_meta(item: Any) -> Any:
    if isinstance(item, msgspec.Meta):
        return item
    found = {
        meta: getattr(item, attr)
        for attr, meta in _CONSTRAINTS.items()
        if getattr(item, attr, None) is not None
    }
    return msgspec.Meta(**found) if found else None


def usable(annotation: Any) -> tuple[Any, str]:
    """``(prepared annotation, "")`` or ``(Any, why not)`` when it has no JSON Schema."""
    if isinstance(annotation, str):
        return Any, "a string annotation that could not be resolved"
    prepared = prepare(annotation)
    try:
        msgspec.json.schema(prepared)
    except (TypeError, ValueError, NameError, AttributeError) as exc:
        return Any, str(exc).strip().splitlines()[-1]
    return prepared, ""


def describe(annotation: Any) -> str:
    if isinstance(annotation, type):
        return annotation.__qualname__
    return repr(annotation).replace("typing.", "")


class _Builder:
    """Collects the schemas of one parameters object (or one response) and their $defs."""

    def __init__(self, api: str, name: str, problems: list[Problem]) -> None:
        self.api = api
        self.name = name
        self.problems = problems

    def types(self, params: Iterable[tuple[str, Any]]) -> list[Any]:
        prepared = []
        for pname, annotation in params:
            tp, reason = usable(annotation)
            if reason:
                self.problems.append(
                    Problem(self.api, self.name, pname, describe(annotation), reason)
                )
            prepared.append(tp)
        return prepared

    def object(self, params: tuple[Parameter, ...], additional: bool) -> dict[str, Any]:
        types = self.types((p.name, p.type) for p in params)
        schemas, defs = components(types, REF_TEMPLATE)
        properties: dict[str, Any] = {}
        for param, schema in zip(params, schemas, strict=True):
            if not param.required:
                # A default with no JSON form is still a default, just not shown.
                default = json_default(param.default)
                if has_json_form(default):
                    schema["default"] = default
            properties[param.name] = schema
        result: dict[str, Any] = {
            "type": "object",
            "properties": properties,
            "required": [p.name for p in params if p.required],
            "additionalProperties": additional,
        }
        if defs:
            result["$defs"] = defs
        return result

    def response(self, annotation: Any) -> dict[str, Any]:
        (tp,) = self.types([("<return>", annotation)])
        (result,), defs = components([tp], REF_TEMPLATE)
        if defs:
            result["$defs"] = defs
        return result


def parameters_schema(
    api: str, name: str, params: tuple[Parameter, ...], additional: bool
) -> dict[str, Any]:
    """The JSON Schema of one RPC's or event's parameters, as :func:`build` writes it."""
    return _Builder(api, name, []).object(params, additional)


def response_schema(api: str, name: str, annotation: Any) -> dict[str, Any]:
    """The JSON Schema of one RPC's result, as :func:`build` writes it."""
    return _Builder(api, name, []).response(annotation)


def build(definition: ApiDefinition) -> tuple[dict[str, Any], list[Problem]]:
    """The schema of one API and the annotations it could not express."""
    problems: list[Problem] = []
    rpcs = {}
    for name, rpc in sorted(definition.rpcs.items()):
        builder = _Builder(definition.name, name, problems)
        rpcs[name] = {
            "parameters": builder.object(rpc.parameters, rpc.accepts_any),
            "response": builder.response(rpc.return_type),
        }
    events = {}
    for name, event in sorted(definition.events.items()):
        builder = _Builder(definition.name, name, problems)
        events[name] = {"parameters": builder.object(event.parameters, False)}
    schema: dict[str, Any] = {"rpcs": rpcs, "events": events}
    if not validation_enabled(definition):
        schema["validate"] = False
    return schema, problems


def api_schema(definition: ApiDefinition) -> dict[str, Any]:
    """The JSON-serialisable schema of one API; logs a warning for each :class:`Problem`."""
    schema, problems = build(definition)
    for problem in problems:
        logger.warning("%s", problem)
    return schema


def validation_enabled(definition: ApiDefinition) -> bool:
    """False when the API's class says ``Meta.validate = False``."""
    meta = getattr(type(definition.instance), "Meta", None)
    return bool(getattr(meta, "validate", True))


def schema_hash(schema: dict[str, Any]) -> str:
    """A short, stable hash of a schema, carried by every message as ``schema``."""
    text = json.dumps(schema, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def dumps(value: Any) -> str:
    """Stable text of a schema document: sorted keys, two-space indent, final newline."""
    return json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------- for renderings


def channel_address(prefix: str, api: str, event: str = "") -> str:
    """The Redis key an AsyncAPI channel stands for: an event's stream, or the RPC queue."""
    keys = Keys(prefix)
    return keys.event_stream(api, event) if event else keys.rpc_queue(api)


def envelope() -> tuple[dict[str, Any], str]:
    """The envelope's JSON Schema and the name of its reply-address field."""
    return envelope_schema(), REPLY_FIELD


# The rest of what a document describing the wire needs (AsyncAPI), from the one module
# that knows the wire format: the field of a stream entry that holds a message's JSON (a
# list item is the JSON itself), the schema of a whole message, of a result's error.
ENTRY_FIELD = FIELD
message_body = body_schema
error_info = error_schema


# ---------------------------------------------------------------- schema files


def check_api_schema(api: str, schema: Any, source: str) -> dict[str, Any]:
    """Return ``schema`` if it has the shape of an API schema; raise SchemaFileError if not."""
    if not isinstance(schema, dict):
        raise SchemaFileError(f"{source}: the schema of {api!r} is not a JSON object")
    unknown = set(schema) - {"rpcs", "events", "validate"}
    if unknown or not {"rpcs", "events"} & set(schema):
        raise SchemaFileError(
            f"{source}: {api!r} is not a Lightbus API schema (expected the keys 'rpcs' and "
            f"'events'{', found ' + ', '.join(sorted(unknown)) if unknown else ''}). "
            f"Write schema files with `lightbus dumpschema`."
        )
    for section, needs in (("rpcs", ("parameters", "response")), ("events", ("parameters",))):
        entries = schema.setdefault(section, {})
        if not isinstance(entries, dict):
            raise SchemaFileError(f"{source}: {api}.{section} is not a JSON object")
        for name, entry in entries.items():
            if not isinstance(entry, dict) or not isinstance(entry.get("parameters"), dict):
                raise SchemaFileError(
                    f"{source}: {api}.{section}.{name} needs {' and '.join(needs)} objects"
                )
            if section == "rpcs":
                entry.setdefault("response", {})
    return schema


def load_schemas(path: str | Path) -> dict[str, dict[str, Any]]:
    """Read API schemas from a file or a directory written by ``lightbus dumpschema``.

    A file holds ``{api: schema, ...}``, or one API's schema (named by the file's stem).
    A directory holds one ``<api>.json`` per API. Raises :class:`SchemaFileError`.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.json"))
        if not files:
            raise SchemaFileError(f"{path}: the directory holds no .json schema files")
        schemas: dict[str, dict[str, Any]] = {}
        for file in files:
            schemas.update(_load_file(file))
        return dict(sorted(schemas.items()))
    if not path.exists():
        raise SchemaFileError(f"{path}: no such file or directory")
    return _load_file(path)


def _load_file(path: Path) -> dict[str, dict[str, Any]]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise SchemaFileError(f"{path}: cannot read it ({exc})") from None
    except json.JSONDecodeError as exc:
        raise SchemaFileError(
            f"{path}: not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
    if not isinstance(document, dict):
        raise SchemaFileError(f"{path}: not a schema (the top level is not a JSON object)")
    if "asyncapi" in document:
        raise SchemaFileError(
            f"{path}: an AsyncAPI document; use the JSON Schema output of "
            f"`lightbus dumpschema --format jsonschema`"
        )
    if {"rpcs", "events"} & set(document):
        return {path.stem: check_api_schema(path.stem, document, str(path))}
    return {api: check_api_schema(api, s, str(path)) for api, s in sorted(document.items())}


async def live_schemas(bus: Any) -> dict[str, dict[str, Any]]:
    """Every API schema published on the bus right now (by workers serving the API), by
    API name. ``bus`` is a :class:`~lightbus.Bus` or its client.

    Raises:
        BusConnectionError: Redis cannot be reached.
    """
    from lightbus.busaccess import access
    from lightbus.registry import fetch_all_schemas

    conn = access(bus)
    return await conn.guard(fetch_all_schemas(conn.redis, conn.keys))
