"""Reading the trace stream: history, live records, one message, one trace.

Finding one message or one trace (by a full or a shortened id) is in
:mod:`lightbus.tracelookup`, the base class of :class:`TraceReader`.

The tools (``lightbus inspect``, ``lightbus trace``, the monitor, replay) read the
trace only through this module, and get typed :class:`~lightbus.trace.TraceRecord`
values back::

    async for record in lightbus.read_trace(bus, api="shop", status="error", limit=20):
        print(record.record, record.api, record.name, record.error)

    reader = lightbus.TraceReader(bus)
    first = await reader.find(message.id)        # starts near the id's timestamp
    records = await reader.trace(first.trace_id, near_ms=first.stream_ms)

Message ids are UUIDv7, so :meth:`TraceReader.find` starts its ``XRANGE`` at the id's
own time (less ``skew_ms`` for clocks that disagree) instead of scanning the stream.
Entries that are not trace records (written by something else) are skipped; records of
a newer format version are skipped too, with one warning per reader.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from lightbus.connection import connect, guarded
from lightbus.trace import NewerRecordVersion, TraceRecord
from lightbus.traceentries import TraceFilter, entry_of, records_from_fields
from lightbus.tracelookup import BATCH, MAX_SEQ, IdMatch, TraceLookup

if TYPE_CHECKING:
    from lightbus.client import BusClient
    from lightbus.facade import Bus

logger = logging.getLogger("lightbus.trace")

FIRST_PAGE = 200  # a limited read starts small, then doubles: `inspect` answers at once
FOLLOW_BLOCK_MS = 1000

Time = datetime | int | float | None


class TraceReader(TraceLookup):
    """Reads the trace stream of one bus.

    Args:
        bus: a :class:`~lightbus.Bus` or its :class:`~lightbus.BusClient`.
        skew_ms: how far clocks of different hosts may disagree; :meth:`find` looks this
            far either side of a message id's timestamp.
        gap_ms: when collecting one message or one trace, stop after this much stream
            time without a matching record.
    """

    def __init__(self, bus: Bus | BusClient, *, skew_ms: int = 5_000, gap_ms: int = 60_000):
        self.client = cast("BusClient", getattr(bus, "client", bus))
        self.key = self.client.keys.trace
        self.skew_ms = skew_ms
        self.gap_ms = gap_ms
        self.skipped_foreign = 0
        self.skipped_newer = 0

    # ------------------------------------------------------------ decoding

    def _decode(
        self, entry_id: Any, fields: Mapping[bytes, bytes], *, newest_first: bool = False
    ) -> list[TraceRecord]:
        """The records of one entry, in the order written (reversed with ``newest_first``,
        for a reverse range)."""
        stream_id = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
        try:
            records = records_from_fields(stream_id, fields)
            if newest_first:
                records.reverse()
            return records
        except NewerRecordVersion as exc:
            if not self.skipped_newer:
                logger.warning("Skipping trace records of a newer format: %s", exc)
            self.skipped_newer += 1
        except ValueError as exc:
            logger.debug("Skipping a trace entry that is not a record: %s", exc)
            self.skipped_foreign += 1
        return []

    def _decode_matching(
        self, entries: list[Any], where: TraceFilter, *, newest_first: bool = False
    ) -> list[TraceRecord]:
        """The matching records of ``entries``, in the order of the entries.

        ``newest_first``: the entries come newest first (a reverse range), so the records
        of one entry are given newest first too.
        """
        needle = where.needle()
        found: list[TraceRecord] = []
        for entry_id, fields in entries:
            if needle is not None and not any(needle in value for value in fields.values()):
                continue
            records = self._decode(entry_id, fields, newest_first=newest_first)
            found.extend(record for record in records if where.matches(record))
        return found

    async def _range(self, low: str, high: str, count: int = BATCH) -> list[Any]:
        redis = self.client.redis
        entries: list[Any] = await guarded(
            self.client.settings, redis.xrange(self.key, low, high, count=count)
        )
        return entries

    async def _revrange(self, high: str, low: str, count: int = BATCH) -> list[Any]:
        redis = self.client.redis
        entries: list[Any] = await guarded(
            self.client.settings, redis.xrevrange(self.key, high, low, count=count)
        )
        return entries

    async def last_id(self) -> str:
        """The stream id of the newest record, or ``0-0`` for an empty stream."""
        newest = await self._revrange("+", "-", count=1)
        return _text(newest[0][0]) if newest else "0-0"

    # ------------------------------------------------------------ history

    async def read(
        self,
        where: TraceFilter | None = None,
        *,
        since: Time = None,
        until: Time = None,
        limit: int | None = None,
    ) -> list[TraceRecord]:
        """The matching records stored between ``since`` and ``until``, oldest first.

        With ``limit``, the newest ``limit`` matching records of that range.
        """
        records, _ = await self._history(where or TraceFilter(), since, until, limit, "+")
        return records

    async def _history(
        self, where: TraceFilter, since: Time, until: Time, limit: int | None, top: str
    ) -> tuple[list[TraceRecord], str]:
        low = f"{_ms(since)}-0" if since is not None else "-"
        high = f"{_ms(until)}-{MAX_SEQ}" if until is not None else top
        if limit is not None and limit <= 0:
            return [], high
        found: list[TraceRecord] = []
        if limit is not None:
            # The newest `limit` matches: walk backwards from the top of the range.
            cursor, page = high, min(BATCH, max(FIRST_PAGE, limit))
            while len(found) < limit:
                entries = await self._revrange(cursor, low, count=page)
                found.extend(self._decode_matching(entries, where, newest_first=True))
                if len(entries) < page:
                    break
                cursor, page = f"({_text(entries[-1][0])}", min(BATCH, page * 2)
            found = found[:limit]
            found.reverse()
            return found, high
        cursor = low
        while True:
            entries = await self._range(cursor, high)
            found.extend(self._decode_matching(entries, where))
            if len(entries) < BATCH:
                return found, high
            cursor = f"({_text(entries[-1][0])}"

    # ------------------------------------------------------------ live

    async def follow(
        self,
        where: TraceFilter | None = None,
        *,
        after: str = "$",
        stop: Callable[[], bool] | None = None,
    ) -> AsyncIterator[TraceRecord]:
        """Yield matching records as they are written (``XREAD BLOCK``), forever.

        Args:
            after: a stream id to continue after (a record's ``stream_id``: the records
                after that record's entry); ``"$"`` for records written from now.
            stop: checked about once a second; the iteration ends when it returns True.
        """
        where = where or TraceFilter()
        if after == "$":
            after = await self.last_id()
        after = entry_of(after)
        redis = connect(self.client.settings, blocking=True, max_connections=1)
        try:
            while stop is None or not stop():
                reply = await guarded(
                    self.client.settings,
                    redis.xread({self.key: after}, count=BATCH, block=FOLLOW_BLOCK_MS),
                )
                for _stream, entries in reply or ():
                    if entries:
                        after = _text(entries[-1][0])
                    for record in self._decode_matching(entries, where):
                        yield record
        finally:
            await redis.aclose()


async def read_trace(
    bus: Bus | BusClient,
    *,
    since: Time = None,
    until: Time = None,
    follow: bool = False,
    api: str | None = None,
    name: str | None = None,
    kind: str | None = None,
    step: str | None = None,
    status: str | None = None,
    trace_id: str | None = None,
    service: str | None = None,
    limit: int | None = None,
    reader: TraceReader | None = None,
) -> AsyncIterator[TraceRecord]:
    """Yield trace records, oldest first: history, then (``follow=True``) live ones.

    Args:
        bus: the :class:`~lightbus.Bus` (or its client) whose trace stream to read.
        since: the earliest record: a ``datetime`` or epoch milliseconds.
        until: the latest record (history only); ignored when following.
        follow: after the history, wait for new records until the iteration is closed.
        api, name, kind, step, status, trace_id, service: keep only matching records
            (see :class:`TraceFilter`).
        limit: of the history, only the newest ``limit`` matching records. With
            ``follow``, live records are not limited.
        reader: a :class:`TraceReader` to use (to read its skip counters afterwards).

    Raises:
        BusConnectionError: Redis cannot be reached.
    """
    reader = reader or TraceReader(bus)
    where = TraceFilter(
        api=api,
        name=name,
        kind=kind,
        step=step,
        status=status,
        trace_id=trace_id.lower() if trace_id else None,
        service=service,
    )
    top = await reader.last_id() if follow else "+"
    if follow:
        until = None
    if follow and limit is None and since is None:
        records: list[TraceRecord] = []
    else:
        records, _ = await reader._history(where, since, until, limit, top)
    for record in records:
        yield record
    if follow:
        async for record in reader.follow(where, after=top):
            yield record


async def find(bus: Bus | BusClient, message_id: str) -> TraceRecord | None:
    """The first trace record of one message (see :meth:`TraceReader.find`)."""
    return await TraceReader(bus).find(message_id)


def _ms(value: datetime | int | float) -> int:
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"a time must be a datetime or epoch milliseconds, got {value!r}")
    return int(value)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


__all__ = ["IdMatch", "TraceFilter", "TraceReader", "find", "read_trace"]
