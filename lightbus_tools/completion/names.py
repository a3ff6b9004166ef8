"""The APIs a completion can offer: the bus module's and those live on the bus.

Looked up only when a completion needs a name, and bounded: a Redis that does not
answer within :data:`LIVE_WAIT` seconds, or a bus module that does not import, leaves
its part out rather than hold up the shell.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import lightbus
from lightbus_tools.send import runtime

LIVE_WAIT = 1.0


class Names:
    """API, RPC and event names and parameters, loaded on first use."""

    def __init__(
        self,
        module: str | None = None,
        redis_url: str | None = None,
        *,
        schemas: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.module = module
        self.redis_url = redis_url
        self._schemas = schemas  # given: no lookup

    @property
    def schemas(self) -> dict[str, dict[str, Any]]:
        """``{api: schema}``: live ones, then the bus module's over them."""
        if self._schemas is None:
            live: dict[str, dict[str, Any]] = {}
            with contextlib.suppress(Exception):  # no Redis, a bad setting: no live names
                live = asyncio.run(self._live())
            local: dict[str, dict[str, Any]] = {}
            with contextlib.suppress(Exception):  # no module, or one that does not import
                local = runtime.local_schemas(self.module, quiet=True)
            self._schemas = {**live, **local}
        return self._schemas

    async def _live(self) -> dict[str, dict[str, Any]]:
        bus = lightbus.create(**({"redis_url": self.redis_url} if self.redis_url else {}))
        bus.client.bind(asyncio.get_running_loop())
        try:
            async with asyncio.timeout(LIVE_WAIT):
                return await runtime.live_schemas(bus)
        finally:
            await bus.client.close()

    def apis(self) -> list[str]:
        return sorted(self.schemas)

    def targets(self, section: str) -> list[str]:
        """``api.name`` of every RPC (``section`` "rpcs") or event ("events")."""
        return sorted(
            f"{api}.{name}"
            for api, schema in self.schemas.items()
            for name in schema.get(section, {})
        )

    def names(self, api: str | None) -> list[str]:
        """RPC and event names, of one API or of all."""
        return sorted(
            {
                name
                for each, schema in self.schemas.items()
                if api is None or each == api
                for section in ("rpcs", "events")
                for name in schema.get(section, {})
            }
        )

    def parameters(self, section: str, target: str) -> list[tuple[str, str]]:
        """``(name, JSON type)`` of the parameters of ``api.name`` in ``section``."""
        api, _, name = target.rpartition(".")
        entry = self.schemas.get(api, {}).get(section, {}).get(name)
        if not isinstance(entry, dict):
            return []
        properties = entry.get("parameters", {}).get("properties", {})
        required = set(entry.get("parameters", {}).get("required", []))
        return [(param, _describe(spec, param in required)) for param, spec in properties.items()]


def _describe(spec: Any, required: bool) -> str:
    """``integer, required``, ``Order, optional``: the JSON type (or the named type)."""
    spec = spec if isinstance(spec, dict) else {}
    kind = spec.get("type") or spec.get("$ref", "").rpartition("/")[2] or "any"
    kind = "/".join(kind) if isinstance(kind, list) else kind
    return f"{kind}, {'required' if required else 'optional'}"
