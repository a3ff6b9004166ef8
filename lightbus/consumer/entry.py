"""An event stream entry in a listener's hands, and what the consumer's steps see of it.

An :class:`Entry` is held by its listener from the moment it is read (or claimed) until
it is forgotten: acknowledged, dead-lettered, or handed back. :class:`Holder` is the
listener as the steps of handling an entry see it (:mod:`~lightbus.consumer.delivery`,
:mod:`~lightbus.consumer.acks`, :mod:`~lightbus.consumer.claims`); the listener
(:class:`~lightbus.consumer.listener.ListenerRunner`) is the one implementation.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from lightbus.consumer.pool import HandlerPool
    from lightbus.parts import Parts
    from lightbus.trace import MessageStep, TraceRecord

# The error type of the trace record of a lost attempt: a documented value, kept as it
# was when the class lived in lightbus.delivery (docs/explanation/delivery.md).
UNACKNOWLEDGED = "lightbus.delivery.Unacknowledged"


@dataclass
class Entry:
    """A stream entry in the hands of this process."""

    stream: str
    entry_id: str
    fields: dict[bytes, bytes]
    attempt: int
    acking: bool = False  # handled; its XACK is queued or being written (consumer.acks)


class Unacknowledged(Exception):
    """An earlier delivery was never acknowledged (its process died or froze).

    Never raised: it is the ``error_type`` (:data:`UNACKNOWLEDGED`) of the trace record
    of a lost attempt.
    """


class Undeliverable(ValueError):
    """An entry that no retry can make handleable (its error goes to the dead letter)."""


class Acks(Protocol):
    def add(self, entry: Entry, record: TraceRecord | MessageStep | None) -> None: ...


class Holder(Protocol):
    """What the steps of handling an entry use of the listener that holds it."""

    parts: Parts
    listener: Any  # lightbus.consumer.listener.Listener
    group: str
    consumer: str
    streams: list[str]
    event_of: dict[str, tuple[str, str]]
    max_attempts: int
    held: dict[tuple[str, str], Entry]
    unchecked: dict[tuple[str, str], float]
    handler_is_async: bool
    fatal: BaseException | None
    pool: HandlerPool[Entry]
    redis: Any
    stopping: asyncio.Event

    @property
    def acks(self) -> Acks: ...

    @property
    def free(self) -> int: ...

    def spawn(self, entry: Entry) -> None: ...

    def forget(self, entry: Entry) -> None: ...


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
