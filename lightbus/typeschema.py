"""JSON Schema of Python annotations, in one form whatever the installed msgspec.

msgspec generates the schemas, but its releases disagree on details for the same types:
0.21 added ``uniqueItems: true`` for sets, and 0.23 added ``default`` for fields made by
``default_factory=list``. A schema that changed with a dependency would show up as a diff
in every user's committed ``lightbus dumpschema`` files, and as a different schema hash
(a schema "clash") between two workers that differ only in their msgspec.

So the parts that versions disagree on are written here, from the types themselves
(:mod:`msgspec.inspect`), over whatever the installed msgspec emitted:

- an array made from a ``set`` or ``frozenset`` has ``uniqueItems: true``;
- a field of a dataclass, ``msgspec.Struct``, ``NamedTuple`` or ``TypedDict`` shows
  ``default`` when its default has a JSON form: a plain default as that form, and a
  ``default_factory`` of ``list``, ``dict``, ``set``, ``frozenset`` or ``tuple`` as the
  empty array or object. Any other factory is user code, which building a schema never
  runs, so such a field shows no default.

``docs/reference/schema.md`` lists the rules; a test emulates the older and newer
generators and checks that the output stays the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
import msgspec.inspect as mi

_NAMED = (mi.DataclassType, mi.StructType, mi.TypedDictType, mi.NamedTupleType)
# Factories whose product is known without calling anything of the user's, and the
# JSON form of that product.
_EMPTY: dict[Any, type] = {list: list, dict: dict, set: list, frozenset: list, tuple: list}
_NONE = object()


def components(
    types: Sequence[Any], ref_template: str
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The schema of each of ``types`` and the ``$defs`` they share, in canonical form.

    Like :func:`msgspec.json.schema_components`, whose arguments it takes.
    """
    infos = list(mi.multi_type_info(types))
    named: dict[Any, Any] = {}
    for info in infos:
        _collect(info, named)
    classes = list(named)
    # The named types are already among those reachable, so asking for them as well
    # names each $defs entry exactly as in the schemas of `types`.
    schemas, defs = msgspec.json.schema_components([*types, *classes], ref_template=ref_template)
    prefix = ref_template.split("{name}")[0]
    for info, schema in zip(infos, schemas[: len(types)], strict=True):
        _walk(schema, info)
    for cls, ref in zip(classes, schemas[len(types) :], strict=True):
        definition = defs.get(str(ref.get("$ref", "")).removeprefix(prefix))
        if definition is not None:
            _fields(definition, named[cls])
    return [dict(schema) for schema in schemas[: len(types)]], dict(defs)


def json_default(value: Any) -> Any:
    """The JSON form of a default value, or a marker (see :func:`has_json_form`)."""
    try:
        return msgspec.json.decode(msgspec.json.encode(value))
    except (TypeError, ValueError, OverflowError, msgspec.EncodeError):
        return _NONE


def has_json_form(value: Any) -> bool:
    return value is not _NONE


def _unwrap(info: Any) -> Any:
    while isinstance(info, mi.Metadata):
        info = info.type
    return info


def _collect(info: Any, named: dict[Any, Any]) -> None:
    """Every dataclass, Struct, NamedTuple and TypedDict reachable from ``info``."""
    info = _unwrap(info)
    if isinstance(info, _NAMED):
        if info.cls in named:
            return
        named[info.cls] = info
        for field in info.fields:
            _collect(field.type, named)
    elif isinstance(info, mi.CollectionType):
        _collect(info.item_type, named)
    elif isinstance(info, mi.TupleType):
        for item in info.item_types:
            _collect(item, named)
    elif isinstance(info, mi.DictType):
        _collect(info.key_type, named)
        _collect(info.value_type, named)
    elif isinstance(info, mi.UnionType):
        for member in info.types:
            _collect(member, named)


def _walk(node: Any, info: Any) -> None:
    """Mark the sets in ``node`` (the schema of ``info``); named types are done apart."""
    info = _unwrap(info)
    if not isinstance(node, dict) or "$ref" in node:
        return
    if isinstance(info, mi.SetType | mi.FrozenSetType):
        node["uniqueItems"] = True
    if isinstance(info, mi.CollectionType):
        _walk(node.get("items"), info.item_type)
    elif isinstance(info, mi.TupleType):
        for item, item_info in zip(node.get("prefixItems", ()), info.item_types, strict=False):
            _walk(item, item_info)
    elif isinstance(info, mi.DictType):
        _walk(node.get("additionalProperties"), info.value_type)
    elif isinstance(info, mi.UnionType):
        # msgspec allows at most one array-like and one object-like type in a union, so
        # the member of that JSON type is the one.
        for member in info.types:
            kind = _json_type(_unwrap(member))
            for option in node.get("anyOf", ()):
                if kind and isinstance(option, dict) and option.get("type") == kind:
                    _walk(option, member)


def _json_type(info: Any) -> str:
    if isinstance(info, mi.CollectionType | mi.TupleType):
        return "array"
    if isinstance(info, mi.DictType):
        return "object"
    return ""


def _fields(definition: dict[str, Any], info: Any) -> None:
    """Canonical defaults (and sets) for the fields of one named type's definition."""
    if isinstance(info, mi.NamedTupleType) or getattr(info, "array_like", False):
        nodes = list(definition.get("prefixItems", ()))
        pairs = list(zip(info.fields, nodes, strict=False))
    else:
        properties = definition.get("properties", {})
        pairs = [(f, properties[f.encode_name]) for f in info.fields if f.encode_name in properties]
    for field, node in pairs:
        if not isinstance(node, dict):
            continue
        _walk(node, field.type)
        node.pop("default", None)
        default = _field_default(field)
        if has_json_form(default):
            node["default"] = default


def _field_default(field: mi.Field) -> Any:
    if field.default is not msgspec.NODEFAULT:
        return json_default(field.default)
    if field.default_factory in _EMPTY:
        return _EMPTY[field.default_factory]()
    return _NONE
