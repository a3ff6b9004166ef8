"""Consumer groups and their backlog: the public module for tools.

Every listener of an event is a consumer group on the event's stream, named
``<service>.<listener>``; each worker process reading for it is a consumer of the group.
:func:`backlog` answers, per event stream and group, how far behind the listener is:

- ``length``: entries the stream holds;
- ``lag``: entries added to the stream that the group has not read yet (``None`` where
  Redis cannot tell: before Redis 7, or after entries were deleted from the middle);
- ``pending``: entries read but not acknowledged (being handled, or waiting to be
  retried);
- ``oldest_pending_age``: seconds since the oldest pending entry was added to the stream;
- ``highest_attempt``: the highest delivery count among the oldest pending entries (an
  entry is dead-lettered when it reaches the listener's ``max_attempts``);
- ``dead_letters``: events of this stream the group gave up on, kept in the dead letters
  (``None`` when not counted: counting reads the event's whole dead-letter stream).

``lightbus inspect --backlog`` and the monitor's backlog screen show these figures.

Example::

    from lightbus import groups

    for row in await groups.backlog(bus):
        print(row.api, row.name, row.group, row.lag, row.pending, row.highest_attempt)
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from lightbus.busaccess import BusAccess, BusOrClient, access, entry_ms, text
from lightbus.deadletters import count_by_group

__all__ = ["PENDING_SAMPLE", "Backlog", "backlog", "consumers", "event_streams", "group_names"]

PENDING_SAMPLE = 1000
"""Pending entries read per group, oldest first, for their delivery counts."""


@dataclass(frozen=True)
class Backlog:
    """One consumer group of one event stream, as read at ``read_at_ms``."""

    api: str
    name: str
    group: str
    length: int
    lag: int | None
    pending: int
    consumers: int
    oldest_pending_ms: int | None
    """Epoch ms in the stream id of the oldest pending entry (``None``: nothing pending)."""
    attempts: tuple[int, ...]
    """Delivery counts of the oldest pending entries, oldest first (at most the sample)."""
    dead_letters: int | None
    """The group's dead letters of this event (``None``: not counted)."""
    read_at_ms: int

    @property
    def highest_attempt(self) -> int:
        """The highest delivery count among the pending entries read (0: none pending)."""
        return max(self.attempts, default=0)

    @property
    def oldest_pending_age(self) -> float | None:
        """Seconds between the oldest pending entry's addition and the read."""
        if self.oldest_pending_ms is None:
            return None
        return max(0.0, (self.read_at_ms - self.oldest_pending_ms) / 1000)

    def to_dict(self) -> dict[str, Any]:
        """The figures as JSON-ready values (what ``inspect --backlog --output json`` prints)."""
        row = asdict(self)
        row["attempts"] = list(self.attempts)
        row["highest_attempt"] = self.highest_attempt
        age = self.oldest_pending_age
        row["oldest_pending_age"] = None if age is None else round(age, 3)
        return row


async def backlog(
    bus: BusOrClient,
    api: str | None = None,
    name: str | None = None,
    *,
    sample: int = PENDING_SAMPLE,
    count_dead_letters: bool = True,
) -> list[Backlog]:
    """The backlog of every consumer group of every event stream (or of those of ``api``,
    or of the one event ``api.name``), sorted by api, name and group.

    Args:
        sample: how many pending entries per group to read, oldest first, for
            ``attempts`` and ``highest_attempt``.
        count_dead_letters: count each group's dead letters (reads every dead-letter
            stream whole); ``False`` leaves ``dead_letters`` ``None``, for a caller that
            polls often and reads the dead letters its own way.

    Raises:
        BusConnectionError: Redis cannot be reached.
    """
    conn = access(bus)
    return await conn.guard(_backlog(conn, api, name, sample, count_dead_letters))


async def _backlog(
    conn: BusAccess, api: str | None, name: str | None, sample: int, count_dead_letters: bool
) -> list[Backlog]:
    from redis.exceptions import ResponseError

    redis = conn.redis
    rows: list[Backlog] = []
    for event_api, event_name in await _event_streams(conn, api, name):
        key = conn.keys.event_stream(event_api, event_name)
        try:
            length = int(await redis.xlen(key))
            infos = await redis.xinfo_groups(key)
        except ResponseError:  # not a stream (any more)
            continue
        if not infos:
            continue
        dead = await count_by_group(conn, event_api, event_name) if count_dead_letters else None
        read_at = int(time.time() * 1000)
        for info in infos:
            group = text(info["name"])
            pending = int(info.get("pending") or 0)
            oldest: int | None = None
            attempts: tuple[int, ...] = ()
            if pending and sample > 0:
                entries = await redis.xpending_range(key, group, "-", "+", sample)
                attempts = tuple(int(entry["times_delivered"]) for entry in entries)
                if entries:
                    oldest = entry_ms(entries[0]["message_id"])
            lag = info.get("lag")
            rows.append(
                Backlog(
                    api=event_api,
                    name=event_name,
                    group=group,
                    length=length,
                    lag=None if lag is None else int(lag),
                    pending=pending,
                    consumers=int(info.get("consumers") or 0),
                    oldest_pending_ms=oldest,
                    attempts=attempts,
                    dead_letters=None if dead is None else dead.get(group, 0),
                    read_at_ms=read_at,
                )
            )
    return rows


async def event_streams(bus: BusOrClient, api: str | None = None) -> list[tuple[str, str]]:
    """``(api, name)`` of every event with a stream (fired or listened to), sorted."""
    conn = access(bus)
    return await conn.guard(_event_streams(conn, api, None))


async def _event_streams(
    conn: BusAccess, api: str | None, name: str | None
) -> list[tuple[str, str]]:
    if api is not None and name is not None:
        return [(api, name)] if await conn.redis.exists(conn.keys.event_stream(api, name)) else []
    head = conn.keys.event_stream("", "")[:-1]  # "<prefix>:event:"
    pattern = conn.keys.event_stream(api or "*", "*")
    found = set()
    async for raw in conn.redis.scan_iter(match=pattern, count=500):
        event_api, _, event_name = text(raw)[len(head) :].rpartition(".")
        if api is None or event_api == api:
            found.add((event_api, event_name))
    return sorted(found)


async def group_names(bus: BusOrClient, api: str, name: str) -> list[str]:
    """The consumer groups (one per listener) of the event ``api.name``, sorted; none for
    an event never fired nor listened to."""
    return sorted(text(info["name"]) for info in await _xinfo(access(bus), api, name))


async def consumers(bus: BusOrClient, api: str, name: str, group: str) -> list[str]:
    """The consumers (worker process names) that have read ``api.name`` in ``group``; none
    when the group does not exist."""
    return [text(info["name"]) for info in await _xinfo(access(bus), api, name, group)]


async def _xinfo(conn: BusAccess, api: str, name: str, group: str = "") -> list[Any]:
    from redis.exceptions import ResponseError

    stream = conn.keys.event_stream(api, name)
    redis = conn.redis
    command = redis.xinfo_consumers(stream, group) if group else redis.xinfo_groups(stream)
    try:
        found: list[Any] = await conn.guard(command)
    except ResponseError as exc:
        # An event never fired nor listened to has no stream; a removed group, no group.
        if "no such key" in str(exc).lower() or "nogroup" in str(exc).lower():
            return []
        raise
    return found
