"""Finding one message or one trace in the trace stream, by a full or a shortened id.

These are methods of :class:`lightbus.TraceReader` (this module is its base class,
kept apart from reading history and following the stream):

- :meth:`~TraceLookup.find` finds a message by its full id near the time written in it
  (message ids are UUIDv7), without reading the whole stream;
- :meth:`~TraceLookup.records_of` and :meth:`~TraceLookup.trace` gather a message's
  records, or a whole trace, scanning outwards until ``gap_ms`` passes without a match;
- :meth:`~TraceLookup.resolve` turns what a person typed into a full id: a whole message
  or trace id, or a unique prefix or suffix of one (the tools print shortened ids, and
  every id a tool prints must work in every tool that takes one). A shortened id that
  nothing matches raises :class:`~lightbus.errors.UnknownId`; one that several ids match
  raises :class:`~lightbus.errors.AmbiguousId`, listing them.

Resolving a shortened id reads the whole stream (only entries holding its digits are
decoded), as a prefix or suffix says nothing of when the message was sent.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lightbus import ids
from lightbus.errors import AmbiguousId, UnknownId
from lightbus.trace import TraceRecord
from lightbus.traceentries import TraceFilter

BATCH = 5000  # entries per XRANGE page: fewer round trips on long scans
MAX_SEQ = "18446744073709551615"
ID_DIGITS = 32
SHORTEST_ID = 4  # as git: fewer digits name too many things to be worth a scan
SHOWN_CANDIDATES = 10
KINDS = ("message", "trace")


@dataclass(frozen=True)
class IdMatch:
    """What an id stands for: ``kind`` is ``message`` or ``trace``; ``id`` is the full id;
    ``record`` is the message's first record (``None`` for a trace)."""

    kind: str
    id: str
    record: TraceRecord | None = None


class TraceLookup:
    """The lookups of :class:`~lightbus.TraceReader` (see the module's description)."""

    skew_ms: int
    gap_ms: int

    async def _range(self, low: str, high: str, count: int = BATCH) -> list[Any]:
        raise NotImplementedError

    async def _revrange(self, high: str, low: str, count: int = BATCH) -> list[Any]:
        raise NotImplementedError

    def _decode(
        self, entry_id: Any, fields: Mapping[bytes, bytes], *, newest_first: bool = False
    ) -> list[TraceRecord]:
        raise NotImplementedError

    def _decode_matching(
        self, entries: list[Any], where: TraceFilter, *, newest_first: bool = False
    ) -> list[TraceRecord]:
        raise NotImplementedError

    # ------------------------------------------------------------ by full id

    async def find(self, message_id: str) -> TraceRecord | None:
        """The first record of one message, or ``None`` when the stream holds none.

        Looks only near the time in the id (``skew_ms`` either side), never the whole
        stream.

        Raises:
            ValueError: ``message_id`` is not a Lightbus message id.
        """
        message_id = message_id.replace("-", "").lower()
        stamp = ids.timestamp_ms(message_id)
        where = TraceFilter(message_id=message_id)
        cursor, high = f"{max(0, stamp - self.skew_ms)}-0", f"{stamp + self.skew_ms}-{MAX_SEQ}"
        while True:
            entries = await self._range(cursor, high)
            found = self._decode_matching(entries, where)
            if found:
                return found[0]
            if len(entries) < BATCH:
                return None
            cursor = f"({_text(entries[-1][0])}"

    async def records_of(self, message_id: str) -> list[TraceRecord]:
        """Every record of one message (sent, handled by each listener, returned...)."""
        first = await self.find(message_id)
        if first is None:
            return []
        where = TraceFilter(message_id=first.id)
        return await self._scan(where, first.stream_ms - self.skew_ms, forward=True)

    async def trace(self, trace_id: str, *, near_ms: int | None = None) -> list[TraceRecord]:
        """Every record of one trace, oldest first.

        Args:
            near_ms: a time the trace was active (e.g. ``find(...).stream_ms``); the reader
                scans outwards from it until ``gap_ms`` passes without a match. Without it,
                the stream is read newest first until the trace's oldest record.
        """
        trace_id = trace_id.lower()
        where = TraceFilter(trace_id=trace_id)
        before = await self._scan(where, near_ms, forward=False)
        before.reverse()
        if near_ms is None:
            return before
        after = await self._scan(where, near_ms + 1, forward=True)
        seen = {r.stream_id for r in before}
        return before + [r for r in after if r.stream_id not in seen]

    async def _scan(
        self, where: TraceFilter, start_ms: int | None, *, forward: bool, first_only: bool = False
    ) -> list[TraceRecord]:
        """Matches in stream order (or reverse), until ``gap_ms`` passes without one."""
        found: list[TraceRecord] = []
        needle = where.needle()
        if forward:
            cursor = f"{max(0, start_ms or 0)}-0"
        else:
            cursor = f"{start_ms}-{MAX_SEQ}" if start_ms is not None else "+"
        last_hit = start_ms
        while True:
            if forward:
                entries = await self._range(cursor, "+")
            else:
                entries = await self._revrange(cursor, "-")
            for entry_id, fields in entries:
                if last_hit is not None and abs(_stream_ms(entry_id) - last_hit) > self.gap_ms:
                    return found
                if needle is not None and not any(needle in v for v in fields.values()):
                    continue
                records = self._decode(entry_id, fields, newest_first=not forward)
                matches = [r for r in records if where.matches(r)]
                if matches:
                    found.extend(matches)
                    if first_only:
                        return found
                    last_hit = matches[0].stream_ms
            if len(entries) < BATCH:
                return found
            cursor = f"({_text(entries[-1][0])}"

    # ------------------------------------------------------------ by what a person typed

    async def resolve(self, text: str, kinds: Collection[str] = KINDS) -> IdMatch:
        """The message or trace that ``text`` names: its full id, or a unique prefix or
        suffix of at least four hex digits (dashes of a UUID are ignored).

        Args:
            kinds: what ``text`` may name: ``"message"``, ``"trace"`` or both.

        Raises:
            ValueError: ``text`` is not an id or a part of one.
            UnknownId: no such message or trace in the stream.
            AmbiguousId: several ids start or end with ``text``; lists them.
        """
        kinds = tuple(kind for kind in KINDS if kind in kinds)
        wanted = text.strip().replace("-", "").lower()
        if not SHORTEST_ID <= len(wanted) <= ID_DIGITS or not _is_hex(wanted):
            raise ValueError(
                f"{text!r} is not a {' or '.join(kinds)} id: ids are {ID_DIGITS} hex digits "
                f"(a unique start or end of at least {SHORTEST_ID} will do)"
            )
        if len(wanted) == ID_DIGITS:
            found = await self._whole(wanted, kinds)
            if found is None:
                raise UnknownId(wanted, kinds=kinds, shortened=False)
            return found
        matches = await self._shortened(wanted, kinds)
        if not matches:
            raise UnknownId(wanted, kinds=kinds, shortened=True)
        if len(matches) > 1:
            described = [(m.kind, m.id, _about(m.record)) for m in matches[:SHOWN_CANDIDATES]]
            raise AmbiguousId(wanted, described, more=len(matches) > SHOWN_CANDIDATES)
        [match] = matches
        if match.kind == "message":
            return IdMatch("message", match.id, await self.find(match.id) or match.record)
        return IdMatch("trace", match.id)

    async def _whole(self, wanted: str, kinds: tuple[str, ...]) -> IdMatch | None:
        if "message" in kinds and _is_message_id(wanted):
            first = await self.find(wanted)
            if first is not None:
                return IdMatch("message", wanted, first)
        if "trace" in kinds:
            where = TraceFilter(trace_id=wanted)
            if await self._scan(where, None, forward=False, first_only=True):
                return IdMatch("trace", wanted)
        return None

    async def _shortened(self, wanted: str, kinds: tuple[str, ...]) -> list[IdMatch]:
        """Every id of ``kinds`` in the stream that starts or ends with ``wanted``, newest
        first (a few more than are shown are enough to say "and more")."""
        needle = wanted.encode()
        found: dict[tuple[str, str], IdMatch] = {}
        cursor = "+"
        while len(found) <= SHOWN_CANDIDATES:
            entries = await self._revrange(cursor, "-")
            for entry_id, fields in entries:
                if not any(needle in value for value in fields.values()):
                    continue
                for record in self._decode(entry_id, fields, newest_first=True):
                    for kind, value in (("message", record.id), ("trace", record.trace_id)):
                        if kind in kinds and _fits(value, wanted):
                            found.setdefault((kind, value), IdMatch(kind, value, record))
            if len(entries) < BATCH:
                break
            cursor = f"({_text(entries[-1][0])}"
        return list(found.values())


def _fits(value: str, wanted: str) -> bool:
    return bool(value) and (value.startswith(wanted) or value.endswith(wanted))


def _about(record: TraceRecord | None) -> str:
    if record is None:
        return ""
    when = datetime.fromtimestamp(record.ts / 1000).strftime("%Y-%m-%d %H:%M:%S")
    target = f"{record.api}.{record.name}" if record.api else record.record
    return f"({record.message_kind} {target}, {when})"


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


def _is_message_id(text: str) -> bool:
    try:
        ids.timestamp_ms(text)
    except ValueError:
        return False
    return True


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _stream_ms(entry_id: bytes | str) -> int:
    return int(_text(entry_id).partition("-")[0])
