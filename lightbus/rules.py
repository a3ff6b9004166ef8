"""The validation rule of one RPC or event: what :class:`~lightbus.validation.Validator`
hands out, compiled once, called once per message on each side.

- :meth:`Rule.send` (caller, firer): the argument names (positional arguments, missing
  and unexpected names, with a suggestion for a misspelt one) and values, the event's
  declared defaults, and the JSON form that goes on the wire;
- :meth:`Rule.incoming` (RPC server, listener): the arguments that arrived, cast to the
  annotated types (a ``datetime`` parameter gets a ``datetime``);
- :meth:`Rule.result_out` (RPC server): the handler's result, in its JSON form;
- :meth:`Rule.result_in` (caller): the result that arrived, cast.

:class:`TypedRule` holds msgspec types built from the annotations of an API defined in
this process; :class:`SchemaRule` holds compiled JSON Schema of an API known only from
its schema, and values stay in their JSON form. The field path and the problem of a
:class:`~lightbus.errors.ValidationError` always come from :mod:`lightbus.jsonvalidate`:
no dependency's error text is parsed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, Union

import msgspec

from lightbus.api import Parameter
from lightbus.arguments import ArgSpec
from lightbus.errors import (
    InvalidArgumentValue,
    NotSerializable,
    PayloadTooDeep,
    ValidationError,
)
from lightbus.jsonvalidate import Check, Invalid, compile_schema
from lightbus.schema import parameters_schema, response_schema, usable

_JSON_ERRORS = (TypeError, ValueError, OverflowError)
DEFAULT_MAX_DEPTH = 100  # the default of the max_payload_depth setting


class Outgoing(NamedTuple):
    """What :meth:`Rule.send` returns: the sender's values, and their wire form."""

    values: dict[str, Any]  # the arguments as given, with an event's defaults filled in
    wire: dict[str, Any]  # their JSON form, checked


class Rule:
    """Checks one RPC's or event's arguments and result. Built once, used per message."""

    def __init__(
        self, api: str, name: str, kind: str, spec: ArgSpec, *, enforce: bool, max_depth: int
    ) -> None:
        self.api, self.name, self.kind, self.spec = api, name, kind, spec
        self.enforce, self.max_depth = enforce, max_depth
        self._checks: dict[str, Check] = {}

    def schema(self, part: str) -> Any:
        """The JSON Schema of the ``"parameters"`` or of the ``"result"``."""
        raise NotImplementedError

    # ---------------------------------------------------------------- the four sides

    def send(self, kwargs: Mapping[str, Any], *, side: str, args: tuple[Any, ...] = ()) -> Outgoing:
        """Check a call's or fire's arguments once: names, then values; return both forms."""
        self.spec.check(args, kwargs)
        values = dict(kwargs)
        if self.kind == "event":
            values = self.spec.with_defaults(values)
        try:
            return Outgoing(values, self.outgoing(values, side))
        except RecursionError:  # nested deeper than any decoder reads
            raise self._too_deep() from None

    def outgoing(self, kwargs: dict[str, Any], side: str = "caller") -> dict[str, Any]:
        """The checked JSON form of argument values whose names were checked."""
        raise NotImplementedError

    def incoming(self, kwargs: dict[str, Any], side: str) -> dict[str, Any]:
        raise NotImplementedError

    def result_out(self, value: Any) -> Any:
        raise NotImplementedError

    def result_in(self, value: Any) -> Any:
        raise NotImplementedError

    def check_handler(self, handler: Callable[..., Any], listener: str) -> None:
        """Raise :class:`InvalidArguments` if ``handler`` cannot take this event."""
        self.spec.check_handler(handler, listener)

    # ---------------------------------------------------------------- errors

    def _schema_check(self, part: str) -> Check:
        """The compiled JSON Schema of the arguments or of the result (on first use)."""
        check = self._checks.get(part)
        if check is None:
            check = self._checks[part] = compile_schema(self.schema(part))
        return check

    def _too_deep(self) -> PayloadTooDeep:
        """The error for a payload that made an encoder or a check raise RecursionError."""
        return PayloadTooDeep(
            api=self.api, name=self.name, limit=self.max_depth, detail="or holds itself"
        )

    def _invalid(self, found: Invalid, part: str, side: str) -> ValidationError:
        field = found.path
        if found.named:
            field = f"{field}.{found.named}" if field else found.named
        return self._error(field, found.problem, part, side)

    def _error(self, field: str, problem: str, part: str, side: str) -> ValidationError:
        cls = InvalidArgumentValue if part == "parameters" and side in SENDERS else ValidationError
        return cls(api=self.api, name=self.name, field=field, problem=problem, part=part, side=side)

    def _json_kwargs(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        try:
            data: dict[str, Any] = msgspec.to_builtins(kwargs)
            return data
        except _JSON_ERRORS:
            return {k: self._json(v, k) for k, v in kwargs.items()}  # finds the culprit

    def _json(self, value: Any, field: str) -> Any:
        try:
            return msgspec.to_builtins(value)
        except _JSON_ERRORS as exc:
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


SENDERS = ("caller", "firer")


class TypedRule(Rule):
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
        kind: str = "rpc",
        max_depth: int = DEFAULT_MAX_DEPTH,
    ) -> None:
        spec = ArgSpec.from_parameters(api, name, kind, params, accepts_any)
        super().__init__(api, name, kind, spec, enforce=enforce, max_depth=max_depth)
        self.params, self.accepts_any, self.annotation = params, accepts_any, returns
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
        self.struct = msgspec.defstruct(
            f"{name}_parameters",
            fields,
            kw_only=True,
            forbid_unknown_fields=not self.accepts_any,
            rename={attr: pname for pname, attr in self.attrs.items()},
        )
        self.trivial = all(tp is Any for tp in self.types.values())
        self.returns, _ = usable(returns)

    def schema(self, part: str) -> Any:
        if part == "parameters":
            return parameters_schema(self.api, self.name, self.params, self.accepts_any)
        return response_schema(self.api, self.name, self.annotation)

    def _convert(self, data: Any, tp: Any, part: str, side: str) -> Any:
        try:
            return msgspec.convert(data, tp)
        except msgspec.ValidationError as exc:
            raise self._located(data, part, side, exc) from None

    def _located(self, data: Any, part: str, side: str, exc: Exception) -> ValidationError:
        """The error for ``data`` that msgspec refused, located by the JSON Schema check."""
        try:
            self._schema_check(part)(msgspec.to_builtins(data))
        except Invalid as found:
            return self._invalid(found, part, side)
        except _JSON_ERRORS:
            pass
        # The JSON form fits the schema, so the Python value is not of its annotated type
        # (JSON Schema cannot tell a str from a UUID): name the parameter, say what it is.
        if part == "parameters" and isinstance(data, Mapping):
            for key, value in data.items():
                try:
                    msgspec.convert(value, self.types.get(key, Any))
                except msgspec.ValidationError as own:
                    return self._error(key, str(own), part, side)
        return self._error("", str(exc), part, side)

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
        except _JSON_ERRORS:
            self._json_kwargs(kwargs)  # raises NotSerializable naming the argument
            raise
        if self.accepts_any:
            out.update(self._json_kwargs(self._extras(kwargs)))
        return out

    def incoming(self, kwargs: dict[str, Any], side: str) -> dict[str, Any]:
        if self.trivial:
            if self.enforce:
                self._convert(kwargs, self.struct, "parameters", side)  # the names
            return kwargs
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
        try:
            if self.returns is Any or not self.enforce:
                return self._json(value, "")
            checked = self._convert(value, self.returns, "result", "worker")  # as returned
            try:
                return msgspec.to_builtins(checked)
            except _JSON_ERRORS:
                return self._json(value, "")  # raises NotSerializable
        except RecursionError:  # the result nests deeper than any decoder reads
            raise self._too_deep() from None

    def result_in(self, value: Any) -> Any:
        if self.returns is Any:
            return value
        if not self.enforce:
            try:
                return msgspec.convert(value, self.returns)
            except msgspec.ValidationError:
                return value
        return self._convert(value, self.returns, "result", "caller")


class SchemaRule(Rule):
    """Checks against a published JSON Schema; values keep their JSON form."""

    def __init__(
        self,
        api: str,
        name: str,
        entry: Mapping[str, Any],
        *,
        enforce: bool,
        kind: str = "rpc",
        max_depth: int = DEFAULT_MAX_DEPTH,
    ) -> None:
        spec = ArgSpec.from_schema(api, name, kind, entry.get("parameters", {}))
        super().__init__(api, name, kind, spec, enforce=enforce, max_depth=max_depth)
        self._entry = entry
        self._schema_check("parameters")  # compiled now: a bad schema fails the lookup
        self._schema_check("result")

    def schema(self, part: str) -> Any:
        return self._entry.get("parameters" if part == "parameters" else "response", {})

    def _check(self, value: Any, part: str, side: str) -> None:
        try:
            self._schema_check(part)(value)
        except Invalid as found:
            raise self._invalid(found, part, side) from None

    def outgoing(self, kwargs: dict[str, Any], side: str = "caller") -> dict[str, Any]:
        data = self._json_kwargs(kwargs)
        if self.enforce:
            self._check(data, "parameters", side)
        return data

    def incoming(self, kwargs: dict[str, Any], side: str) -> dict[str, Any]:
        if self.enforce:
            self._check(kwargs, "parameters", side)
        return kwargs

    def result_out(self, value: Any) -> Any:
        data = self._json(value, "")
        if self.enforce:
            self._check(data, "result", "worker")
        return data

    def result_in(self, value: Any) -> Any:
        if self.enforce:
            self._check(value, "result", "caller")
        return value
