"""The live registry: API schemas and worker heartbeats published in Redis.

Each worker publishes the schema of every API it serves (``<prefix>:schema:<api>``,
with a TTL it refreshes) and a heartbeat (a field of the ``<prefix>:workers`` hash).
Callers read schemas to check arguments and to learn which APIs exist; the tools list
workers with :func:`list_workers`. Each heartbeat carries the hash of every schema the
worker serves, so two live workers serving one API with different schemas (a clash:
callers would be checked against whichever wrote last) are found by :func:`clashes`.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from lightbus.connection import guarded
from lightbus.keys import Keys


class Heartbeat(msgspec.Struct, kw_only=True):
    """What a worker says about itself, every ``heartbeat_interval`` seconds."""

    service: str
    process: str
    host: str
    pid: int
    apis: list[str] = []
    listeners: list[str] = []
    version: str = ""
    in_flight: int = 0
    schemas: dict[str, str] = {}  # api -> schema_hash of the schema this worker serves
    started_at: float = 0.0
    ts: float = 0.0
    interval: float = 5.0

    @property
    def age(self) -> float:
        """Seconds since this heartbeat was written."""
        return max(0.0, time.time() - self.ts)

    @property
    def alive(self) -> bool:
        """Written recently enough (three intervals) that the worker is taken as running."""
        return self.age <= self.interval * 3


_encode = msgspec.json.Encoder().encode
_decode_heartbeat = msgspec.json.Decoder(Heartbeat).decode
_decode_any = msgspec.json.Decoder().decode


def publish_schema(pipe: Any, keys: Keys, api: str, schema: dict[str, Any], ttl: float) -> None:
    pipe.set(keys.schema(api), _encode(schema), px=int(ttl * 1000))


def publish_heartbeat(pipe: Any, keys: Keys, heartbeat: Heartbeat) -> None:
    pipe.hset(keys.workers, heartbeat.process, _encode(heartbeat))


def remove_heartbeat(pipe: Any, keys: Keys, process: str) -> None:
    pipe.hdel(keys.workers, process)


async def fetch_schema(redis: Any, keys: Keys, api: str) -> dict[str, Any] | None:
    raw = await redis.get(keys.schema(api))
    if raw is None:
        return None
    try:
        value = _decode_any(raw)
    except msgspec.DecodeError:
        return None
    return value if isinstance(value, dict) else None


async def fetch_all_schemas(redis: Any, keys: Keys) -> dict[str, dict[str, Any]]:
    """Every API schema live on the bus, by API name."""
    names = [k async for k in redis.scan_iter(match=keys.schema_pattern(), count=500)]
    if not names:
        return {}
    values = await redis.mget(names)
    schemas: dict[str, dict[str, Any]] = {}
    for key, raw in zip(names, values, strict=True):
        if raw is None:
            continue
        api = keys.api_from_schema_key(key.decode() if isinstance(key, bytes) else key)
        try:
            schema = _decode_any(raw)
        except msgspec.DecodeError:
            continue
        if isinstance(schema, dict):
            schemas[api] = schema
    return dict(sorted(schemas.items()))


async def list_workers(redis: Any, keys: Keys, *, include_dead: bool = False) -> list[Heartbeat]:
    """The workers that have written a heartbeat, newest first."""
    entries = await redis.hgetall(keys.workers)
    workers: list[Heartbeat] = []
    for raw in entries.values():
        try:
            heartbeat = _decode_heartbeat(raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            continue
        if include_dead or heartbeat.alive:
            workers.append(heartbeat)
    workers.sort(key=lambda h: h.ts, reverse=True)
    return workers


async def workers(bus: Any, *, include_dead: bool = False) -> list[Heartbeat]:
    """The workers of ``bus`` (a :class:`~lightbus.Bus` or its client), newest first.

    Only workers that wrote a heartbeat within three intervals, unless ``include_dead``.

    Raises:
        BusConnectionError: Redis cannot be reached.
    """
    client = getattr(bus, "client", bus)
    return await guarded(
        client.settings, list_workers(client.redis, client.keys, include_dead=include_dead)
    )


def decode_heartbeats(entries: dict[Any, bytes]) -> list[Heartbeat]:
    """Heartbeats from a raw ``HGETALL`` of the workers hash, skipping bad entries."""
    found = []
    for raw in entries.values():
        try:
            found.append(_decode_heartbeat(raw))
        except (msgspec.DecodeError, msgspec.ValidationError):
            continue
    return found


def clashes(workers: list[Heartbeat]) -> dict[str, dict[str, list[str]]]:
    """APIs served by live workers with different schemas: ``{api: {hash: [process...]}}``."""
    seen: dict[str, dict[str, list[str]]] = {}
    for worker in workers:
        if not worker.alive:
            continue
        for api, digest in worker.schemas.items():
            seen.setdefault(api, {}).setdefault(digest, []).append(worker.process)
    return {
        api: {digest: sorted(procs) for digest, procs in sorted(by_hash.items())}
        for api, by_hash in sorted(seen.items())
        if len(by_hash) > 1
    }
