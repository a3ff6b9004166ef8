"""Validating and casting what crosses the bus: one :class:`Validator`, one call per side.

The client builds one :class:`Validator` over its :class:`ApiSource` (the APIs it defines,
the schemas it loaded, the live registry). ``await validator.rule(api, name, kind)`` gives
the :class:`~lightbus.rules.Rule` of an RPC or event, compiled once; each message is then
checked by one call on each side (see :mod:`lightbus.rules`).

Where the API is defined in this process the rule holds msgspec types built from its
annotations (:class:`~lightbus.rules.TypedRule`); where it is known only from a schema
(the registry, or ``lightbus run --schema``) it holds compiled JSON Schema
(:class:`~lightbus.rules.SchemaRule`). A mismatch raises
:class:`~lightbus.errors.ValidationError` naming the api, the name and the field path.
Argument values refused on the caller's side raise
:class:`~lightbus.errors.InvalidArgumentValue`, which is also an
:class:`~lightbus.errors.InvalidArguments` (a ``TypeError``); a bad result or bad
incoming data is a plain ``ValidationError`` (a ``ValueError``).

Validation is skipped (values pass as they are, cast where they can be) when the setting
``validate`` is false or the API says ``Meta.validate = False``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from lightbus.api import ApiDefinition
from lightbus.errors import InvalidArgumentValue, UnknownApi, UnknownName, ValidationError
from lightbus.message import ErrorInfo
from lightbus.rules import Outgoing, Rule, SchemaRule, TypedRule
from lightbus.schema import validation_enabled
from lightbus.settings import Settings

__all__ = ["ApiSource", "Outgoing", "Rule", "Validator", "remote_validation_error"]


class ApiSource(Protocol):
    """What the validator reads: the client's API directory."""

    @property
    def settings(self) -> Settings: ...

    @property
    def apis(self) -> Mapping[str, ApiDefinition]:
        """The APIs defined in this process."""

    @property
    def schemas(self) -> Mapping[str, dict[str, Any]]:
        """Their schemas, and those loaded from files (``lightbus run --schema``)."""

    async def remote_schema(self, api: str) -> dict[str, Any] | None: ...

    async def live_schemas(self) -> Mapping[str, Any]: ...


VALIDATION_ERROR_TYPES = {
    f"{cls.__module__}.{cls.__qualname__}" for cls in (ValidationError, InvalidArgumentValue)
}


def remote_validation_error(api: str, name: str, error: ErrorInfo) -> ValidationError | None:
    """The :class:`ValidationError` a worker raised, rebuilt on the caller's side from its
    structured ``detail`` (never from its text)."""
    if error.type not in VALIDATION_ERROR_TYPES or not error.detail:
        return None
    return ValidationError.from_detail(api, name, error.detail)


class Validator:
    """The rules of one client, compiled on first use of each RPC or event.

    Local APIs get a :class:`TypedRule`, kept for the life of the client. Others get a
    :class:`SchemaRule` from a loaded or live schema, recompiled when the source fetches
    a different schema from the registry.
    """

    def __init__(self, source: ApiSource) -> None:
        self.source = source
        self._cache: dict[tuple[str, str, str], tuple[object, Rule]] = {}

    async def rule(self, api: str, name: str, kind: str) -> Rule:
        """The rule of ``api.name`` (``kind``: ``"rpc"`` or ``"event"``).

        Raises :class:`UnknownApi` (naming the APIs known here and live) or
        :class:`UnknownName` (saying so when the name is of the other kind), or a
        :class:`ValidationError` when the published schema cannot be compiled.
        """
        definition = self.source.apis.get(api)
        if definition is not None:
            return self._cached(api, name, kind, definition)
        schema = self.source.schemas.get(api) or await self.source.remote_schema(api)
        if schema is None:
            live = await self.source.live_schemas()
            raise UnknownApi(api, set(self.source.apis) | set(self.source.schemas) | set(live))
        return self._cached(api, name, kind, schema)

    def local(self, api: str, name: str, kind: str) -> Rule | None:
        """The rule of ``api.name`` if this process defines it (no I/O), else None."""
        definition = self.source.apis.get(api)
        if definition is None:
            return None
        try:
            return self._cached(api, name, kind, definition)
        except UnknownName:
            return None

    async def for_listener(self, api: str, name: str) -> Rule | None:
        """The rule for a listener, or None when nothing here or live describes the event."""
        try:
            return await self.rule(api, name, "event")
        except (UnknownApi, UnknownName):
            return None

    def _cached(self, api: str, name: str, kind: str, source: object) -> Rule:
        key = (api, name, kind)
        cached = self._cache.get(key)
        if cached is not None and cached[0] is source:
            return cached[1]
        rule = self._build(api, name, kind, source)
        self._cache[key] = (source, rule)
        return rule

    def _build(self, api: str, name: str, kind: str, source: object) -> Rule:
        if isinstance(source, ApiDefinition):
            _check_name(api, name, kind, source.rpcs, source.events)
        elif isinstance(source, dict):
            section = source.get("rpcs", {}), source.get("events", {})
            _check_name(api, name, kind, *section)
        else:
            raise UnknownApi(api, set(self.source.apis) | set(self.source.schemas))
        settings = self.source.settings
        enforce, depth = settings.validate, settings.max_payload_depth
        if isinstance(source, ApiDefinition):
            enforce = enforce and validation_enabled(source)
            if kind == "rpc":
                rpc = source.rpcs[name]
                return TypedRule(
                    api,
                    name,
                    rpc.parameters,
                    accepts_any=rpc.accepts_any,
                    returns=rpc.return_type,
                    enforce=enforce,
                    max_depth=depth,
                )
            params = source.events[name].parameters
            return TypedRule(api, name, params, enforce=enforce, kind=kind, max_depth=depth)
        assert isinstance(source, dict)
        enforce = enforce and source.get("validate", True) is not False
        entry = source["rpcs" if kind == "rpc" else "events"][name]
        try:
            return SchemaRule(api, name, entry, enforce=enforce, kind=kind, max_depth=depth)
        except (ValueError, RecursionError) as exc:
            raise ValidationError(
                api=api, name=name, field="", problem=f"its published schema cannot be used ({exc})"
            ) from None


def _check_name(
    api: str, name: str, kind: str, rpcs: Mapping[str, Any], events: Mapping[str, Any]
) -> None:
    """Raise :class:`UnknownName` unless the API has an RPC or event (``kind``) ``name``."""
    known, other = (rpcs, events) if kind == "rpc" else (events, rpcs)
    if name not in known:
        actual = ("event" if kind == "rpc" else "rpc") if name in other else ""
        raise UnknownName(api, name, kind=kind, known=known, actual=actual)
