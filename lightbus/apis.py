"""What this process knows about APIs: the ones it defines, and those live on the bus.

:class:`ApiDirectory` holds the locally registered APIs and their schemas (plus schemas
loaded with ``lightbus run --schema``), looks up the schemas other workers publish in
the registry (:mod:`lightbus.registry`, kept for :data:`REMOTE_SCHEMA_TTL` seconds),
for the validator (:mod:`lightbus.validation`), which reads it as its ``ApiSource``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from lightbus import registry
from lightbus.api import Api, ApiDefinition, define
from lightbus.arguments import ArgSpec
from lightbus.connection import guarded
from lightbus.errors import UnknownName
from lightbus.keys import Keys
from lightbus.schema import api_schema, schema_hash
from lightbus.settings import Settings

REMOTE_SCHEMA_TTL = 10.0


class ApiDirectory:
    """Local API definitions and schemas, and the live registry's, for one client.

    ``redis``: returns the client's redis-py connection (made on first use).
    """

    def __init__(self, settings: Settings, keys: Keys, redis: Callable[[], Any]) -> None:
        self.settings = settings
        self.keys = keys
        self._redis = redis
        self.apis: dict[str, ApiDefinition] = {}
        self.schemas: dict[str, dict[str, Any]] = {}
        self._specs: dict[tuple[str, str, str], ArgSpec] = {}
        self._hashes: dict[str, tuple[dict[str, Any], str]] = {}
        self._remote: dict[str, tuple[float, dict[str, Any] | None]] = {}

    def register(self, api: Api) -> ApiDefinition:
        definition = define(api)
        if definition.name in self.apis:
            raise ValueError(f"An API named {definition.name!r} is already registered")
        self.apis[definition.name] = definition
        self.schemas[definition.name] = api_schema(definition)
        return definition

    def schema_hash(self, api: str) -> str:
        """The hash of the local schema of ``api`` (empty if not local), computed once."""
        schema = self.schemas.get(api)
        if not schema:
            return ""
        cached = self._hashes.get(api)
        if cached is None or cached[0] is not schema:
            cached = self._hashes[api] = (schema, schema_hash(schema))
        return cached[1]

    def known_spec(self, api: str, name: str, kind: str) -> ArgSpec | None:
        """The argument names of ``api.name`` if known here without asking Redis (an API
        defined here, a loaded schema, or one looked up lately), else None: what
        ``listen()`` inside a running loop can check before it returns.

        Raises :class:`UnknownName` when the API is known here and has no such name.
        Validation itself (names and values of every message) is
        :class:`lightbus.validation.Validator`'s.
        """
        cached = self._specs.get((api, name, kind))
        if cached is not None and (api in self.apis or self._remote_fresh(api)):
            return cached
        schema = self.schemas.get(api)
        if not schema and self._remote_fresh(api):
            schema = self._remote[api][1]
        return self._spec_from(schema, api, name, kind) if schema else None

    def _spec_from(self, schema: dict[str, Any], api: str, name: str, kind: str) -> ArgSpec:
        section = schema.get("rpcs" if kind == "rpc" else "events", {})
        if name not in section:
            other = schema.get("events" if kind == "rpc" else "rpcs", {})
            actual = ("event" if kind == "rpc" else "rpc") if name in other else ""
            raise UnknownName(api, name, kind=kind, known=section, actual=actual)
        spec = ArgSpec.from_schema(api, name, kind, section[name].get("parameters", {}))
        self._specs[(api, name, kind)] = spec
        return spec

    def _remote_fresh(self, api: str) -> bool:
        entry = self._remote.get(api)
        return entry is not None and time.monotonic() - entry[0] < REMOTE_SCHEMA_TTL

    async def remote_schema(self, api: str) -> dict[str, Any] | None:
        entry = self._remote.get(api)
        if entry is not None and time.monotonic() - entry[0] < REMOTE_SCHEMA_TTL and entry[1]:
            return entry[1]
        schema = await guarded(self.settings, registry.fetch_schema(self._redis(), self.keys, api))
        self._remote[api] = (time.monotonic(), schema)
        return schema

    async def live_schemas(self) -> dict[str, dict[str, Any]]:
        """Every API schema published on the bus right now."""
        return await guarded(self.settings, registry.fetch_all_schemas(self._redis(), self.keys))

    async def serves(self, api: str) -> bool:
        """Whether a live worker currently serves ``api``."""
        workers = await registry.list_workers(self._redis(), self.keys)
        return any(api in w.apis for w in workers)
