"""How trace records are stored in the trace stream's entries, and read back.

Records written in one write share entries (one ``XADD`` per entry, not per record).
An entry's fields:

- ``r``: one record, a JSON object (:class:`~lightbus.trace.TraceRecord`);
- ``rs``: several records, a JSON array of them;
- ``ms``: several *message steps* (:class:`~lightbus.trace.MessageStep`), a JSON array:
  records stored by reference to the message they are about.

An entry may hold both ``rs`` and ``ms``. It holds at most :data:`ENTRY_RECORDS` records
and, past its first, about :data:`ENTRY_BYTES` of them: Redis trims a stream by entries,
so ``trace_maxlen`` keeps bounding the stream's memory. Each record read back has its
own ``stream_id``: the first of an entry the entry's id, the k-th after it
``<entry id>#<k>``.

:class:`TraceFilter` says which records a reader keeps, and which bytes every raw entry
holding one of them contains (so entries without them are never decoded).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import msgspec

from lightbus.message import Message
from lightbus.trace import (
    FIELD,
    RECORD_VERSION,
    MessageStep,
    NewerRecordVersion,
    TraceRecord,
    decode_value,
)

BATCH_FIELD = "rs"
STEPS_FIELD = "ms"
ENTRY_RECORDS = 16
ENTRY_BYTES = 16_384

_encoder = msgspec.json.Encoder()
_records = msgspec.json.Decoder(list[TraceRecord])
_steps = msgspec.json.Decoder(list[MessageStep])
_BATCH_KEY = BATCH_FIELD.encode()
_STEPS_KEY = STEPS_FIELD.encode()


def pack(items: Sequence[TraceRecord | MessageStep]) -> list[dict[str, bytes]]:
    """The fields of the entries that store ``items``, in order, within the caps."""
    entries: list[dict[str, bytes]] = []
    records: list[bytes] = []
    steps: list[bytes] = []
    size = 0
    for item in items:
        data = item.encode() if isinstance(item, TraceRecord) else _encoder.encode(item)
        if size and (len(records) + len(steps) >= ENTRY_RECORDS or size + len(data) > ENTRY_BYTES):
            entries.append(_fields(records, steps))
            records, steps, size = [], [], 0
        (steps if isinstance(item, MessageStep) else records).append(data)
        size += len(data) + 1
    entries.append(_fields(records, steps))
    return entries


def _fields(records: list[bytes], steps: list[bytes]) -> dict[str, bytes]:
    if len(records) == 1 and not steps:
        return {FIELD: records[0]}
    fields: dict[str, bytes] = {}
    if records:
        fields[BATCH_FIELD] = b"[" + b",".join(records) + b"]"
    if steps:
        fields[STEPS_FIELD] = b"[" + b",".join(steps) + b"]"
    return fields


def records_from_fields(entry_id: str, fields: Mapping[bytes, bytes]) -> list[TraceRecord]:
    """Decode one trace stream entry into its records (each with its own ``stream_id``).

    Raises:
        NewerRecordVersion: the entry holds records of a newer format version.
        ValueError: the entry is not a trace entry (something else wrote it).
    """
    batch, steps = fields.get(_BATCH_KEY), fields.get(_STEPS_KEY)
    if batch is None and steps is None:
        return [TraceRecord.from_fields(entry_id, fields)]
    records: list[TraceRecord] = decode_value(_records, batch, entry_id) if batch else []
    for record in records:
        _check_version(entry_id, record.v)
    for step in decode_value(_steps, steps, entry_id) if steps else ():
        _check_version(entry_id, step.v)
        try:
            message = Message.from_json(step.m)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            problem = f"trace entry {entry_id} holds a message that does not decode: {exc}"
            raise ValueError(problem) from None
        records.append(step.to_record(message))
    for k, record in enumerate(records):
        record.stream_id = f"{entry_id}#{k}" if k else entry_id
    return records


def _check_version(entry_id: str, version: int) -> None:
    if version > RECORD_VERSION:
        raise NewerRecordVersion(entry_id, version)


@dataclass(frozen=True)
class TraceFilter:
    """Which records to keep. Every given criterion must match; ``None`` matches all.

    ``kind`` is ``event``, ``rpc``, ``worker`` or ``replay``; ``step`` is a record step
    such as ``event.failed``; ``status`` is ``ok``, ``error``, ``dead``, ``expired`` or
    ``timeout``.
    """

    api: str | None = None
    name: str | None = None
    kind: str | None = None
    step: str | None = None
    status: str | None = None
    trace_id: str | None = None
    message_id: str | None = None
    service: str | None = None

    def matches(self, record: TraceRecord) -> bool:
        return (
            (self.api is None or record.api == self.api)
            and (self.name is None or record.name == self.name)
            and (self.kind is None or record.message_kind == self.kind)
            and (self.step is None or record.record == self.step)
            and (self.status is None or record.status == self.status)
            and (self.trace_id is None or record.trace_id == self.trace_id)
            and (self.message_id is None or record.id == self.message_id)
            and (self.service is None or record.service == self.service)
        )

    def needle(self) -> bytes | None:
        """A byte string every matching raw entry contains: lets the reader skip decoding."""
        value = self.message_id or self.trace_id
        return value.encode() if value else None


def stream_position(stream_id: str) -> tuple[int, int, int]:
    """Where a record lies in the stream, comparable: (ms, sequence, index in its entry)."""
    entry, _, index = stream_id.partition("#")
    ms, _, seq = entry.partition("-")
    return int(ms or 0), int(seq or 0), int(index or 0)


def entry_of(stream_id: str) -> str:
    """The id of the stream entry that holds the record with ``stream_id``."""
    return stream_id.partition("#")[0]
