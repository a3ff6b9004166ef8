"""Validating and casting what crosses the bus, on both sides.

A :class:`Checker` is compiled once per RPC or event and does four jobs:

- :meth:`~Checker.outgoing` (caller, firer): check the arguments and return their JSON
  form, the one that goes on the wire;
- :meth:`~Checker.incoming` (RPC server, listener): check the arguments that arrived and
  turn them into the annotated types (a ``datetime`` parameter gets a ``datetime``);
- :meth:`~Checker.result_out` (RPC server): check the handler's result, return its JSON form;
- :meth:`~Checker.result_in` (caller): check the result that arrived and cast it.

Where the API is defined in this process, the checker holds msgspec types built from its
annotations (:class:`TypedChecker`). Where it is known only from a schema (the live
registry, or ``lightbus run --schema``), it holds compiled JSON Schema
(:class:`SchemaChecker`) and values stay in their JSON form. Either way a mismatch raises
:class:`~lightbus.errors.ValidationError` naming the api, the name and the field path.

Validation is skipped (values pass as they are, cast where they can be) when the setting
``validate`` is false or the API says ``Meta.validate = False``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Union

import msgspec

from lightbus.api import Parameter
from lightbus.errors import NotSerializable, UnknownApi, UnknownName, ValidationError
from lightbus.jsonvalidate import Check, Invalid, compile_schema
from lightbus.message import ErrorInfo
from lightbus.schema import usable, validation_enabled

if TYPE_CHECKING:
    from lightbus.apis import ApiDirectory

_MSGSPEC_PATH = re.compile(r"^(?P<problem>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_FIELD_NAMED = re.compile(r"(?:missing required|contains unknown) field `(?P<field>[^`]+)`")


class Checker:
    """Checks one RPC's or event's arguments and result. Built once, used per message."""

    api: str
    name: str
    enforce: bool

    def outgoing(self, kwargs: dict[str, Any], side: str = "caller") -> dict[str, Any]:
        raise NotImplementedError

    def incoming(self, kwargs: dict[str, Any], side: str) -> dict[str, Any]:
        raise NotImplementedError

    def result_out(self, value: Any) -> Any:
        raise NotImplementedError

    def result_in(self, value: Any) -> Any:
        raise NotImplementedError

    def _error(self, field: str, problem: str, part: str, side: str) -> ValidationError:
        return ValidationError(
            api=self.api, name=self.name, field=field, problem=problem, part=part, side=side
        )

    def _json_kwargs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        try:
            data: dict[str, Any] = msgspec.to_builtins(kwargs)
            return data
        except (TypeError, ValueError, OverflowError):
            return {k: self._json(v, k) for k, v in kwargs.items()}  # finds the culprit

    def _json(self, value: Any, field: str) -> Any:
        try:
            return msgspec.to_builtins(value)
        except (TypeError, ValueError, OverflowError) as exc:
            what = f"argument {field!r}" if field else "the result"
            raise NotSerializable(
                f"{self.api}.{self.name}: {what} of type "
                f"{type(value).__name__} cannot be sent as JSON ({exc}). Use a str, number, "
                f"bool, None, list, dict, or a supported type (datetime, UUID, Decimal, "
                f"dataclass...: see docs/reference/schema.md).",
                api=self.api,
                name=self.name,
                field=field,
            ) from None


class TypedChecker(Checker):
    """Checks against the annotations of a locally defined RPC or event (msgspec)."""

    def __init__(
        self,
        api: str,
        name: str,
        params: tuple[Parameter, ...],
        *,
        accepts_any: bool = False,
        returns: Any = Any,
        enforce: bool = True,
    ) -> None:
        self.api, self.name, self.enforce = api, name, enforce
        fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
        self.types: dict[str, Any] = {}
        # Attributes are p0, p1...: an event parameter's name need not be an identifier.
        self.attrs: dict[str, str] = {}
        for index, param in enumerate(params):
            tp, _ = usable(param.type)
            self.types[param.name] = tp
            attr = self.attrs[param.name] = f"p{index}"
            if param.required:
                fields.append((attr, tp))
            else:
                # UNSET, not the user's default: the handler's own default then applies,
                # and mutable defaults need no copying here.
                fields.append((attr, Union[tp, msgspec.UnsetType], msgspec.UNSET))  # noqa: UP007
        self.names = frozenset(self.types)
        self.accepts_any = accepts_any
        self.struct = msgspec.defstruct(
            f"{name}_parameters",
            fields,
            kw_only=True,
            forbid_unknown_fields=not accepts_any,
            rename={attr: pname for pname, attr in self.attrs.items()},
        )
        self.trivial = all(tp is Any for tp in self.types.values())
        self.returns, _ = usable(returns)

    def _convert(self, data: Any, tp: Any, part: str, side: str) -> Any:
        try:
            return msgspec.convert(data, tp)
        except msgspec.ValidationError as exc:
            field, problem = _split_msgspec(str(exc))
            raise self._error(field, problem, part, side) from None

    def _extras(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in kwargs.items() if k not in self.names}

    def outgoing(self, kwargs: dict[str, Any], side: str = "caller") -> dict[str, Any]:
        if self.trivial:
            return kwargs  # names were checked by the ArgSpec; values may be anything
        if not self.enforce:
            return self._json_kwargs(kwargs)
        # The Python values are checked as given (a date is not a str), then sent in the
        # canonical JSON form of their annotated types.
        checked = self._convert(kwargs, self.struct, "parameters", side)
        try:
            out: dict[str, Any] = msgspec.to_builtins(checked)
        except (TypeError, ValueError, OverflowError):
            self._json_kwargs(kwargs)  # raises NotSerializable naming the argument
            raise
        if self.accepts_any:
            out.update(self._json_kwargs(self._extras(kwargs)))
        return out

    def _check_names(self, kwargs: dict[str, Any], side: str) -> dict[str, Any]:
        self._convert(kwargs, self.struct, "parameters", side)
        return kwargs

    def incoming(self, kwargs: dict[str, Any], side: str) -> dict[str, Any]:
        if self.trivial:
            return kwargs if not self.enforce else self._check_names(kwargs, side)
        if not self.enforce:
            return self._cast_leniently(kwargs)
        checked = self._convert(kwargs, self.struct, "parameters", side)
        values = {
            pname: v
            for pname, attr in self.attrs.items()
            if (v := getattr(checked, attr)) is not msgspec.UNSET
        }
        if self.accepts_any:
            values.update(self._extras(kwargs))
        return values

    def _cast_leniently(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        values = dict(kwargs)
        for key, value in kwargs.items():
            tp = self.types.get(key, Any)
            if tp is not Any:
                # Validation is off: a value that does not cast reaches the handler as it came.
                with contextlib.suppress(msgspec.ValidationError):
                    values[key] = msgspec.convert(value, tp)
        return values

    def result_out(self, value: Any) -> Any:
        if self.returns is Any or not self.enforce:
            return self._json(value, "")
        checked = self._convert(value, self.returns, "result", "worker")  # as returned
        try:
            return msgspec.to_builtins(checked)
        except (TypeError, ValueError, OverflowError):
            return self._json(value, "")  # raises NotSerializable

    def result_in(self, value: Any) -> Any:
        if self.returns is Any:
            return value
        if not self.enforce:
            try:
                return msgspec.convert(value, self.returns)
            except msgspec.ValidationError:
                return value
        return self._convert(value, self.returns, "result", "caller")


class SchemaChecker(Checker):
    """Checks against a published JSON Schema; values keep their JSON form."""

    def __init__(self, api: str, name: str, entry: Mapping[str, Any], *, enforce: bool) -> None:
        self.api, self.name, self.enforce = api, name, enforce
        self.params: Check = compile_schema(entry.get("parameters", {}))
        self.response: Check = compile_schema(entry.get("response", {}))

    def _check(self, check: Check, value: Any, part: str, side: str) -> None:
        try:
            check(value)
        except Invalid as exc:
            field, problem = exc.path, exc.problem
            named = _FIELD_NAMED.search(problem)
            if named and part == "parameters":
                field = f"{field}.{named['field']}" if field else named["field"]
            raise self._error(field, problem, part, side) from None

    def outgoing(self, kwargs: dict[str, Any], side: str = "caller") -> dict[str, Any]:
        data = self._json_kwargs(kwargs)
        if self.enforce:
            self._check(self.params, data, "parameters", side)
        return data

    def incoming(self, kwargs: dict[str, Any], side: str) -> dict[str, Any]:
        if self.enforce:
            self._check(self.params, kwargs, "parameters", side)
        return kwargs

    def result_out(self, value: Any) -> Any:
        data = self._json(value, "")
        if self.enforce:
            self._check(self.response, data, "result", "worker")
        return data

    def result_in(self, value: Any) -> Any:
        if self.enforce:
            self._check(self.response, value, "result", "caller")
        return value


def _split_msgspec(message: str) -> tuple[str, str]:
    """``("order.lines[0]", "Expected `int`, got `str`")`` from a msgspec error."""
    match = _MSGSPEC_PATH.match(message)
    assert match is not None  # the pattern matches any text
    problem, path = match["problem"], (match["path"] or "")
    path = path.lstrip(".")
    named = _FIELD_NAMED.search(problem)
    if named:
        path = f"{path}.{named['field']}" if path else named["field"]
    return path, problem


VALIDATION_ERROR_TYPE = f"{ValidationError.__module__}.{ValidationError.__qualname__}"


def remote_validation_error(api: str, name: str, error: ErrorInfo) -> ValidationError | None:
    """The :class:`ValidationError` a worker raised, rebuilt on the caller's side."""
    if error.type != VALIDATION_ERROR_TYPE or not error.detail:
        return None
    return ValidationError.from_detail(api, name, error.detail)


class Checkers:
    """The checkers of one client, compiled on first use of each RPC or event.

    Local APIs get a :class:`TypedChecker`, kept for the life of the client. Others get a
    :class:`SchemaChecker` from a loaded or live schema, recompiled when the client
    fetches a different schema from the registry.
    """

    def __init__(self, client: ApiDirectory) -> None:
        self.client = client
        self._cache: dict[tuple[str, str, str], tuple[object, Checker]] = {}

    def local(self, api: str, name: str, kind: str) -> Checker | None:
        """The checker of ``api.name`` if this client defines the API and has compiled it."""
        definition = self.client.apis.get(api)
        cached = self._cache.get((api, name, kind)) if definition is not None else None
        return cached[1] if cached is not None and cached[0] is definition else None

    async def get(self, api: str, name: str, kind: str) -> Checker:
        """The checker of ``api.name``; raises UnknownApi/UnknownName like the spec lookup."""
        client = self.client
        definition = client.apis.get(api)
        source: object = definition
        if definition is None:
            source = client.schemas.get(api) or await client.remote_schema(api)
        key = (api, name, kind)
        cached = self._cache.get(key)
        if cached is not None and cached[0] is source:
            return cached[1]
        checker = self._build(api, name, kind, source)
        self._cache[key] = (source, checker)
        return checker

    def _build(self, api: str, name: str, kind: str, source: object) -> Checker:
        client = self.client
        enforce = client.settings.validate
        definition = client.apis.get(api)
        if definition is not None and source is definition:
            enforce = enforce and validation_enabled(definition)
            if kind == "rpc" and name in definition.rpcs:
                rpc = definition.rpcs[name]
                return TypedChecker(
                    api,
                    name,
                    rpc.parameters,
                    accepts_any=rpc.accepts_any,
                    returns=rpc.return_type,
                    enforce=enforce,
                )
            if kind == "event" and name in definition.events:
                return TypedChecker(api, name, definition.events[name].parameters, enforce=enforce)
            known = definition.rpcs if kind == "rpc" else definition.events
            raise UnknownName(api, name, kind=kind, known=known)
        if not isinstance(source, dict):
            raise UnknownApi(api, set(client.apis) | set(client.schemas))
        section = source.get("rpcs" if kind == "rpc" else "events", {})
        if name not in section:
            raise UnknownName(api, name, kind=kind, known=section)
        enforce = enforce and source.get("validate", True) is not False
        try:
            return SchemaChecker(api, name, section[name], enforce=enforce)
        except (ValueError, RecursionError) as exc:
            raise ValidationError(
                api=api,
                name=name,
                field="",
                problem=f"its published schema cannot be used ({exc})",
            ) from None

    async def for_listener(self, api: str, name: str) -> Checker | None:
        """The checker for a listener, or None when nothing here or live describes the event."""
        try:
            return await self.get(api, name, "event")
        except (UnknownApi, UnknownName):
            return None
