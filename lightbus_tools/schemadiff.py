"""Comparing two sets of API schemas: every difference, breaking or compatible.

Who breaks depends on the direction values flow:

- RPC parameters flow from callers to the worker. A new required parameter, a removed
  one (unless the RPC takes ``**kwargs``), a parameter made required, a narrowed type,
  or refusing extra parameters breaks callers. A new optional parameter, a widened type
  (``int`` to ``int | None``) or accepting extras is compatible.
- RPC results flow from the worker to callers. A removed result field or a retyped
  result breaks callers, unless the new type is narrower (every new value was valid
  before). A new result field is compatible.
- Event fields flow from firers to listeners, so both must agree: a removed or retyped
  field breaks listeners, a new required field (or one made required) breaks firers, a
  field made optional breaks listeners that expect it. A new optional field is compatible.
- Removing an API, an RPC or an event breaks; adding one is compatible.

Nested objects (dataclasses, TypedDicts) are compared field by field, with paths like
``order.address.city``; ``$ref`` types are resolved first.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

_METADATA = frozenset({"title", "description", "default", "examples", "$defs", "definitions"})
_MAX_DEPTH = 12


@dataclass(frozen=True)
class Change:
    """One difference between the old and the new schemas."""

    api: str
    name: str
    kind: str  # "api", "rpc" or "event"
    change: str  # a short code, e.g. "parameter-added-required"
    breaking: bool
    detail: str
    field: str = ""

    @property
    def where(self) -> str:
        target = f"{self.api}.{self.name}" if self.name else self.api
        return f"{target} {self.field}".strip()

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"where": self.where}


class _Side:
    """One schema with its $defs, for resolving references."""

    def __init__(self, root: dict[str, Any]) -> None:
        self.defs = {**root.get("definitions", {}), **root.get("$defs", {})}

    def resolve(self, schema: Any, depth: int = 0) -> Any:
        while isinstance(schema, dict) and "$ref" in schema and depth < _MAX_DEPTH:
            name = str(schema["$ref"]).rsplit("/", 1)[-1]
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**self.defs.get(name, {}), **rest}
            depth += 1
        return schema


def _bare(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _bare(v) for k, v in schema.items() if k not in _METADATA}
    if isinstance(schema, list):
        return [_bare(v) for v in schema]
    return schema


def accepts(wide: Any, narrow: Any) -> bool:
    """Conservatively: does every value valid under ``narrow`` also pass ``wide``?"""
    wide, narrow = _bare(wide), _bare(narrow)
    if wide == narrow or wide in ({}, True):
        return True
    if not isinstance(wide, dict) or not isinstance(narrow, dict):
        return False
    if "anyOf" in narrow:
        return all(accepts(wide, option) for option in narrow["anyOf"])
    if "anyOf" in wide:
        return any(accepts(option, narrow) for option in wide["anyOf"])
    if "enum" in narrow and "enum" in wide:
        return all(v in wide["enum"] for v in narrow["enum"])
    if wide.get("type") == "number" and narrow.get("type") == "integer":
        narrow = {**narrow, "type": "number"}
    # Same kind of value, and every constraint of the wide one also holds in the narrow one.
    return all(narrow.get(k) == v for k, v in wide.items())


class Differ:
    """Collects the :class:`Change` list between two ``{api: schema}`` mappings."""

    def __init__(self) -> None:
        self.changes: list[Change] = []

    def add(
        self,
        api: str,
        name: str,
        kind: str,
        code: str,
        breaking: bool,
        detail: str,
        field: str = "",
    ) -> None:
        self.changes.append(Change(api, name, kind, code, breaking, detail, field))

    def compare(self, old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
        for api in sorted(set(old) | set(new)):
            if api not in new:
                self.add(api, "", "api", "api-removed", True, "API removed")
            elif api not in old:
                self.add(api, "", "api", "api-added", False, "API added")
            else:
                self._api(api, old[api], new[api])
        return self.changes

    def _api(self, api: str, old: dict[str, Any], new: dict[str, Any]) -> None:
        for kind, section in (("rpc", "rpcs"), ("event", "events")):
            before, after = old.get(section, {}), new.get(section, {})
            for name in sorted(set(before) | set(after)):
                if name not in after:
                    self.add(api, name, kind, f"{kind}-removed", True, f"{kind.upper()} removed")
                elif name not in before:
                    self.add(api, name, kind, f"{kind}-added", False, f"{kind.upper()} added")
                elif kind == "rpc":
                    self._rpc(api, name, before[name], after[name])
                else:
                    self._fields(
                        api, name, "event", before[name]["parameters"], after[name]["parameters"]
                    )
        if old.get("validate", True) != new.get("validate", True):
            state = "on" if new.get("validate", True) else "off"
            self.add(api, "", "api", "validation-switched", False, f"validation turned {state}")

    def _rpc(self, api: str, name: str, old: dict[str, Any], new: dict[str, Any]) -> None:
        self._fields(api, name, "rpc", old["parameters"], new["parameters"])
        old_side, new_side = _Side(old.get("response", {})), _Side(new.get("response", {}))
        self._result(
            api,
            name,
            old_side,
            new_side,
            old.get("response", {}),
            new.get("response", {}),
            "result",
            0,
        )

    def _result(
        self, api: str, name: str, os: _Side, ns: _Side, old: Any, new: Any, path: str, depth: int
    ) -> None:
        old, new = os.resolve(old), ns.resolve(new)
        if _bare(old) == _bare(new):
            return
        if _is_object(old) and _is_object(new) and depth < _MAX_DEPTH:
            before, after = old["properties"], new["properties"]
            for key in sorted(set(before) | set(after)):
                sub = f"{path}.{key}"
                if key not in after:
                    self.add(
                        api,
                        name,
                        "rpc",
                        "result-field-removed",
                        True,
                        "result field removed: callers reading it break",
                        sub,
                    )
                elif key not in before:
                    self.add(
                        api, name, "rpc", "result-field-added", False, "result field added", sub
                    )
                else:
                    self._result(api, name, os, ns, before[key], after[key], sub, depth + 1)
            return
        if accepts(_inline(os, old), _inline(ns, new)):
            self.add(
                api,
                name,
                "rpc",
                "result-narrowed",
                False,
                f"result type narrowed: {_show(old)} -> {_show(new)}",
                path,
            )
        else:
            self.add(
                api,
                name,
                "rpc",
                "result-retyped",
                True,
                f"result retyped: {_show(old)} -> {_show(new)}",
                path,
            )

    def _fields(
        self,
        api: str,
        name: str,
        kind: str,
        old: dict[str, Any],
        new: dict[str, Any],
        path: str = "",
        sides: Any = None,
    ) -> None:
        os, ns = sides or (_Side(old), _Side(new))
        old, new = os.resolve(old), ns.resolve(new)
        before, after = old.get("properties", {}), new.get("properties", {})
        req_before, req_after = set(old.get("required", ())), set(new.get("required", ()))
        extras_after = new.get("additionalProperties", True) is not False
        extras_before = old.get("additionalProperties", True) is not False
        event = kind == "event"
        noun = "field" if event or path else "parameter"
        for key in sorted(set(before) | set(after)):
            sub = f"{path}.{key}" if path else key
            if key not in after:
                breaking = event or not extras_after
                who = "listeners reading it" if event else "callers passing it"
                self.add(
                    api,
                    name,
                    kind,
                    f"{noun}-removed",
                    breaking,
                    f"{noun} removed" + (f": {who} break" if breaking else ""),
                    sub,
                )
            elif key not in before:
                required = key in req_after
                code = f"{noun}-added-{'required' if required else 'optional'}"
                text = f"new required {noun}: " + ("firers" if event else "callers") + " break"
                self.add(
                    api,
                    name,
                    kind,
                    code,
                    required,
                    text if required else f"new optional {noun}",
                    sub,
                )
            else:
                if key in req_after and key not in req_before:
                    self.add(
                        api,
                        name,
                        kind,
                        f"{noun}-now-required",
                        True,
                        f"{noun} made required: "
                        + ("firers" if event else "callers")
                        + " that omit it break",
                        sub,
                    )
                elif key in req_before and key not in req_after:
                    self.add(
                        api,
                        name,
                        kind,
                        f"{noun}-now-optional",
                        event,
                        f"{noun} made optional"
                        + (": listeners expecting it break" if event else ""),
                        sub,
                    )
                self._field_type(api, name, kind, os, ns, before[key], after[key], sub)
        if extras_before and not extras_after:
            self.add(
                api,
                name,
                kind,
                "extra-parameters-refused",
                True,
                "extra parameters no longer accepted (**kwargs removed)",
                path,
            )
        elif extras_after and not extras_before and not path:
            self.add(
                api,
                name,
                kind,
                "extra-parameters-accepted",
                False,
                "extra parameters now accepted",
                path,
            )

    def _field_type(
        self, api: str, name: str, kind: str, os: _Side, ns: _Side, old: Any, new: Any, path: str
    ) -> None:
        old_r, new_r = os.resolve(old), ns.resolve(new)
        if _bare(old_r) == _bare(new_r):
            return
        if _is_object(old_r) and _is_object(new_r) and path.count(".") < _MAX_DEPTH:
            self._fields(api, name, kind, old_r, new_r, path, (os, ns))
            return
        old_i, new_i = _inline(os, old_r), _inline(ns, new_r)
        widened = kind == "rpc" and accepts(new_i, old_i)
        noun = "field" if kind == "event" or "." in path else "parameter"
        text = f"{noun} retyped: {_show(old_r)} -> {_show(new_r)}"
        if widened:
            self.add(api, name, kind, f"{noun}-widened", False, text + " (widened)", path)
        else:
            who = "listeners" if kind == "event" else "callers"
            self.add(api, name, kind, f"{noun}-retyped", True, f"{text}: {who} break", path)


def _is_object(schema: Any) -> bool:
    return isinstance(schema, dict) and isinstance(schema.get("properties"), dict)


def _inline(side: _Side, schema: Any, depth: int = 0) -> Any:
    """The schema with references replaced, to compare types defined in different $defs."""
    schema = side.resolve(schema)
    if depth > _MAX_DEPTH:
        return schema
    if isinstance(schema, dict):
        return {k: _inline(side, v, depth + 1) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_inline(side, v, depth + 1) for v in schema]
    return schema


def _show(schema: Any) -> str:
    if not isinstance(schema, dict) or not schema:
        return "any"
    if "anyOf" in schema:
        return " | ".join(_show(o) for o in schema["anyOf"])
    if "enum" in schema:
        return "one of " + ", ".join(repr(v) for v in schema["enum"])
    text = str(schema.get("type", schema.get("title", "object")))
    if schema.get("format"):
        text += f" ({schema['format']})"
    if text == "array" and isinstance(schema.get("items"), dict):
        text = f"array of {_show(schema['items'])}"
    return text


def compare(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """Every difference from ``old`` to ``new`` (``{api: schema}`` each)."""
    return Differ().compare(old, new)
