"""What the public reading modules take from a bus: its Redis connection, key names and
settings, and the guard that turns a lost connection into :class:`BusConnectionError`.

:mod:`lightbus.tracing`, :mod:`lightbus.workers`, :mod:`lightbus.groups`,
:mod:`lightbus.deadletters`, :mod:`lightbus.messages` and :mod:`lightbus.schema` accept a
:class:`~lightbus.Bus` or its :class:`~lightbus.BusClient`; this module is the one place
they reach into it, so a change to the client's insides changes only this module.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias, TypeVar

from lightbus.connection import guarded
from lightbus.keys import Keys
from lightbus.settings import Settings

T = TypeVar("T")


# What is used of a BusClient and of a Bus, described here rather than imported: the client
# imports the schema module, which reads through this one (no import loop, even for types).
class ClientLike(Protocol):
    """A :class:`~lightbus.BusClient`, as far as reading the bus goes."""

    @property
    def settings(self) -> Settings: ...

    @property
    def keys(self) -> Keys: ...

    @property
    def redis(self) -> Any: ...


class BusLike(Protocol):
    """A :class:`~lightbus.Bus`, as far as reading the bus goes."""

    @property
    def client(self) -> Any: ...


BusOrClient: TypeAlias = "BusLike | ClientLike"
"""A :class:`~lightbus.Bus` or its :class:`~lightbus.BusClient`."""


@dataclass(frozen=True)
class BusAccess:
    """A bus's connection, key names and settings."""

    redis: Any
    keys: Keys
    settings: Settings

    async def guard(self, operation: Awaitable[T]) -> T:
        """``operation``'s result; a lost connection raises :class:`BusConnectionError`."""
        return await guarded(self.settings, operation)


def access(bus: BusOrClient) -> BusAccess:
    """What the reading modules use of ``bus`` (a :class:`~lightbus.Bus` or its client)."""
    client: Any = getattr(bus, "client", bus)
    if not hasattr(client, "keys") or not hasattr(client, "settings"):
        raise TypeError(
            f"expected a lightbus.Bus or lightbus.BusClient, got {type(bus).__name__}: "
            f"pass the bus that lightbus.create() returned"
        )
    return BusAccess(redis=client.redis, keys=client.keys, settings=client.settings)


def text(value: bytes | str) -> str:
    """A Redis reply value as text."""
    return value.decode() if isinstance(value, bytes) else value


def entry_ms(entry_id: bytes | str) -> int:
    """The time (epoch ms) in a Redis stream entry id."""
    return int(text(entry_id).partition("-")[0])
