"""Dead letters: the events a listener gave up on, with why. The public module for tools.

After ``max_attempts`` failed deliveries (or when an entry does not decode), the consumer
moves the event to its dead-letter stream, one per event, and acknowledges it. Each
:class:`DeadLetter` keeps the original message exactly as it arrived (:attr:`DeadLetter.raw`,
decoded by :meth:`DeadLetter.message`), the listener and consumer group that gave up, the
number of attempts, and the last error with its traceback.

Example::

    from lightbus import deadletters

    for letter in await deadletters.read(bus, "shop", "order_placed", limit=20):
        print(letter.message_id, letter.group, letter.attempts, letter.error)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec

from lightbus.busaccess import BusAccess, BusOrClient, access, text
from lightbus.deadletter import DeadLetter

__all__ = ["DeadLetter", "count", "events", "find", "get", "read"]

_PAGE = 1000


async def events(bus: BusOrClient) -> list[tuple[str, str]]:
    """``(api, name)`` of every event that has dead letters, sorted."""
    conn = access(bus)
    return await conn.guard(_events(conn))


async def _events(conn: BusAccess) -> list[tuple[str, str]]:
    head = conn.keys.dead_letters("", "")[:-1]  # "<prefix>:dead:"
    found = set()
    async for raw in conn.redis.scan_iter(match=conn.keys.dead_letter_pattern(), count=500):
        api, _, name = text(raw)[len(head) :].rpartition(".")
        found.add((api, name))
    return sorted(found)


async def read(
    bus: BusOrClient,
    api: str | None = None,
    name: str | None = None,
    *,
    limit: int = 1000,
    newest_first: bool = False,
) -> list[DeadLetter]:
    """Dead letters of the event ``api.name`` (or of every event), ordered by when they
    were dead-lettered: the newest ``limit`` of them.

    Raises:
        ValueError: only one of ``api`` and ``name`` is given.
        BusConnectionError: Redis cannot be reached.
    """
    if (api is None) != (name is None):
        raise ValueError("give both api and name (one event), or neither (every event)")
    conn = access(bus)
    return await conn.guard(_read(conn, api, name, limit, newest_first))


async def _read(
    conn: BusAccess, api: str | None, name: str | None, limit: int, newest_first: bool
) -> list[DeadLetter]:
    targets = [(api, name)] if api is not None and name is not None else await _events(conn)
    letters: list[DeadLetter] = []
    for event_api, event_name in targets:
        stream = conn.keys.dead_letters(event_api, event_name)
        entries = await conn.redis.xrevrange(stream, count=limit)
        letters.extend(_decoded(entries))
    letters.sort(key=lambda letter: (letter.ts, letter.stream_id), reverse=True)
    letters = letters[:limit]
    if not newest_first:
        letters.reverse()
    return letters


async def get(bus: BusOrClient, api: str, name: str, letter_id: str) -> DeadLetter | None:
    """The dead letter with stream id ``letter_id`` of the event ``api.name``, or ``None``."""
    conn = access(bus)
    stream = conn.keys.dead_letters(api, name)
    entries = await conn.guard(conn.redis.xrange(stream, letter_id, letter_id, count=1))
    found = _decoded(entries)
    return found[0] if found else None


async def find(
    bus: BusOrClient, message_id: str, api: str | None = None, name: str | None = None
) -> list[DeadLetter]:
    """Every dead letter of the message ``message_id`` (one per group that gave up on it),
    looked for in the dead letters of ``api.name``, or of every event."""
    conn = access(bus)
    return await conn.guard(_find(conn, message_id, api, name))


async def _find(
    conn: BusAccess, message_id: str, api: str | None, name: str | None
) -> list[DeadLetter]:
    targets = [(api, name)] if api is not None and name is not None else await _events(conn)
    found: list[DeadLetter] = []
    needle = message_id.encode()
    for event_api, event_name in targets:
        async for entries in _pages(conn, conn.keys.dead_letters(event_api, event_name)):
            for letter in _decoded(entries):
                if letter.message_id == message_id or (
                    not letter.message_id and needle in letter.raw
                ):
                    found.append(letter)
    return found


async def count(bus: BusOrClient, api: str | None = None, name: str | None = None) -> int:
    """How many dead letters the event ``api.name`` (or every event) has."""
    conn = access(bus)

    async def total() -> int:
        targets = [(api, name)] if api is not None and name is not None else await _events(conn)
        return sum([int(await conn.redis.xlen(conn.keys.dead_letters(*t))) for t in targets])

    return await conn.guard(total())


async def count_by_group(conn: BusAccess, api: str, name: str) -> dict[str, int]:
    """Dead letters of the event ``api.name`` per consumer group (reads the whole stream)."""
    counts: dict[str, int] = {}
    async for entries in _pages(conn, conn.keys.dead_letters(api, name)):
        for letter in _decoded(entries):
            counts[letter.group] = counts.get(letter.group, 0) + 1
    return counts


async def _pages(conn: BusAccess, stream: str) -> AsyncIterator[list[Any]]:
    low = "-"
    while True:
        entries = await conn.redis.xrange(stream, low, "+", count=_PAGE)
        if not entries:
            return
        yield entries
        if len(entries) < _PAGE:
            return
        low = "(" + text(entries[-1][0])


def _decoded(entries: list[Any]) -> list[DeadLetter]:
    letters = []
    for entry_id, fields in entries:
        try:
            letters.append(DeadLetter.from_fields(text(entry_id), fields))
        except (ValueError, msgspec.DecodeError, msgspec.ValidationError):
            continue  # not a dead letter this version can read
    return letters
