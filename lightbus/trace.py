"""Trace records: one per step of every message, appended to the ``<prefix>:trace`` stream.

:class:`TraceRecord` is the only code that knows the record's field names; the format is
documented in ``docs/reference/trace-stream.md`` and versioned by :data:`RECORD_VERSION`.
How records are stored in stream entries is :mod:`lightbus.traceentries`; building,
buffering and writing them is :mod:`lightbus.tracesink`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from lightbus.message import Message

RECORD_VERSION = 1
FIELD = "r"  # an entry holding one record (other forms: lightbus.traceentries)

# The steps a record can describe.
EVENT_FIRED = "event.fired"
EVENT_RELEASED = "event.released"  # a delayed event reached its stream (lightbus.delayed)
EVENT_HANDLED = "event.handled"
EVENT_FAILED = "event.failed"
EVENT_DEAD_LETTERED = "event.dead_lettered"
RPC_CALLED = "rpc.called"
RPC_HANDLED = "rpc.handled"
RPC_FAILED = "rpc.failed"
RPC_EXPIRED = "rpc.expired"
RPC_RETURNED = "rpc.returned"
WORKER_STARTED = "worker.started"
WORKER_STOPPED = "worker.stopped"
WORKER_RELOADED = "worker.reloaded"
REPLAY_PERFORMED = "replay.performed"
SCHEDULE_RAN = "schedule.ran"  # a run of a scheduled function (lightbus.scheduled)
SCHEDULE_FAILED = "schedule.failed"

# Steps written by the process that handled the message (it names itself in handled_by).
HANDLING_STEPS = frozenset(
    (EVENT_HANDLED, EVENT_FAILED, EVENT_DEAD_LETTERED, RPC_HANDLED, RPC_FAILED, RPC_EXPIRED)
)

STEPS = (
    EVENT_FIRED,
    EVENT_RELEASED,
    EVENT_HANDLED,
    EVENT_FAILED,
    EVENT_DEAD_LETTERED,
    RPC_CALLED,
    RPC_HANDLED,
    RPC_FAILED,
    RPC_EXPIRED,
    RPC_RETURNED,
    WORKER_STARTED,
    WORKER_STOPPED,
    WORKER_RELOADED,
    REPLAY_PERFORMED,
    SCHEDULE_RAN,
    SCHEDULE_FAILED,
)


class NewerRecordVersion(ValueError):
    """A trace entry written by a newer Lightbus, in a record format this one cannot read."""

    def __init__(self, stream_id: str, version: int) -> None:
        super().__init__(
            f"trace entry {stream_id} has record format version {version}; this Lightbus "
            f"reads version {RECORD_VERSION}. Upgrade Lightbus to read it."
        )
        self.stream_id = stream_id
        self.version = version


class TraceRecord(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One step of one message (or of a worker's life), as stored in the trace stream.

    The envelope fields mirror :class:`~lightbus.message.Message`; the rest describe the
    step. ``stream_id`` is the record's own Redis stream id, filled in by the reader.
    """

    # 0 is "not given": __post_init__ makes it RECORD_VERSION, so `v` differs from the
    # default and is always written (omit_defaults would drop a default of 1).
    v: int = 0
    record: str
    ts: int
    id: str = ""
    kind: str = ""
    api: str = ""
    name: str = ""
    trace_id: str = ""
    span_id: str = ""
    parent_span_id: str = ""
    causation_id: str = ""
    service: str = ""
    process: str = ""
    host: str = ""
    pid: int = 0
    sent_at: int = 0
    deadline: int = 0
    reply_to: str = ""
    replay_of: str = ""
    to: str = ""
    schema: str = ""
    listener: str = ""
    handled_by: str = ""
    attempt: int = 0
    queued_ms: float = 0.0
    duration_ms: float = 0.0
    status: str = ""
    error_type: str = ""
    error: str = ""
    traceback: str = ""
    payload: str = ""
    truncated: bool = False
    redacted: bool = False
    detail: dict[str, Any] = {}
    stream_id: str = ""

    def __post_init__(self) -> None:
        if self.v == 0:
            self.v = RECORD_VERSION

    def to_fields(self) -> dict[str, bytes]:
        return {FIELD: self.encode()}

    def encode(self) -> bytes:
        """The record's JSON as written to the stream."""
        # stream_id is where Redis stored a record, never part of the record itself.
        record = msgspec.structs.replace(self, stream_id="") if self.stream_id else self
        return _encoder.encode(record)

    def to_dict(self) -> dict[str, Any]:
        """Every field (defaults included) as JSON-safe values, for printing or piping."""
        return {f: getattr(self, f) for f in self.__struct_fields__}

    def to_json(self) -> str:
        """:meth:`to_dict` as one line of JSON."""
        return _encoder.encode(self.to_dict()).decode()

    @classmethod
    def from_fields(cls, stream_id: str, fields: Mapping[bytes, bytes]) -> TraceRecord:
        """Decode one stream entry.

        Raises:
            NewerRecordVersion: the entry is a record of a newer format version.
            ValueError: the entry is not a trace record (something else wrote it).
        """
        raw = fields.get(FIELD.encode())
        if raw is None:
            raise ValueError(f"trace entry {stream_id} has no {FIELD!r} field")
        record: TraceRecord = decode_value(_decoder, raw, stream_id)
        if record.v > RECORD_VERSION:
            raise NewerRecordVersion(stream_id, record.v)
        record.stream_id = stream_id
        return record

    @property
    def stream_ms(self) -> int:
        """When Redis stored the record (epoch ms, from its stream id); 0 if unknown."""
        head = self.stream_id.partition("-")[0]
        return int(head) if head.isdigit() else 0

    @property
    def message_kind(self) -> str:
        return self.kind or self.record.partition(".")[0]


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(TraceRecord)
_any_decoder = msgspec.json.Decoder()


def _version_of(raw: bytes) -> int:
    try:
        value = _any_decoder.decode(raw)
    except msgspec.DecodeError:
        return 0
    items = value if isinstance(value, list) else [value]
    versions = [item.get("v") for item in items if isinstance(item, dict)]
    return max((v for v in versions if isinstance(v, int) and not isinstance(v, bool)), default=0)


def decode_value(decoder: msgspec.json.Decoder[Any], raw: bytes, entry_id: str) -> Any:
    """``raw`` decoded; a ``ValueError`` naming the entry, or ``NewerRecordVersion``."""
    try:
        return decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        # A newer format may change a field's type; tell that apart from junk.
        version = _version_of(raw)
        if version > RECORD_VERSION:
            raise NewerRecordVersion(entry_id, version) from None
        raise ValueError(f"trace entry {entry_id} does not decode: {exc}") from None


def record_of(step: str, ts: int, message: Message, status: str) -> TraceRecord:
    """A record of ``step`` holding ``message``'s envelope (the step's own fields unset)."""
    # Fields set one by one: msgspec matching keyword arguments against 33 fields
    # costs three times as much as the attribute stores (measured: 2.1 vs 0.7 µs).
    record = TraceRecord(record=step, ts=ts)
    record.id = message.id
    record.kind = message.kind
    record.api = message.api
    record.name = message.name
    record.trace_id = message.trace_id
    record.span_id = message.span_id
    record.service = message.service
    record.process = message.process
    record.host = message.host
    record.pid = message.pid
    record.sent_at = message.sent_at
    record.schema = message.schema
    record.attempt = message.attempt
    record.status = status
    if message.parent_span_id:
        record.parent_span_id = message.parent_span_id
        record.causation_id = message.causation_id
    elif message.causation_id:
        record.causation_id = message.causation_id
    if message.deadline:
        record.deadline = message.deadline
    if message.reply_to:
        record.reply_to = message.reply_to
    if message.replay_of:
        record.replay_of = message.replay_of
    if message.to:
        record.to = message.to
    return record


class MessageStep(msgspec.Struct, omit_defaults=True):
    """A record stored by reference to its message: the step's own fields and the message.

    The compact form of the records of the bus's busiest steps (``event.fired`` and
    ``event.handled``) when the message's JSON is at hand, small enough to be the
    record's payload, and holds no redacted name: the envelope then need not be copied
    field by field. :func:`lightbus.traceentries.records_from_fields` turns it back
    into the :class:`TraceRecord` that :meth:`TraceSink.for_message` would have made.
    """

    record: str
    ts: int
    m: msgspec.Raw  # the message as sent (JSON)
    v: int = 0  # made RECORD_VERSION, so it is always written
    status: str = "ok"
    listener: str = ""
    handled_by: str = ""
    attempt: int = 0
    queued_ms: float = 0.0
    duration_ms: float = 0.0
    payload: bool = False  # the record's payload is the message's arguments

    def __post_init__(self) -> None:
        if self.v == 0:
            self.v = RECORD_VERSION

    def to_record(self, message: Message) -> TraceRecord:
        record = record_of(self.record, self.ts, message, self.status)
        record.attempt = self.attempt
        record.listener = self.listener
        record.handled_by = self.handled_by
        record.queued_ms = self.queued_ms
        record.duration_ms = self.duration_ms
        if self.payload:
            record.payload = _encoder.encode(message.kwargs).decode()
        return record


def qualified_name(cls: type) -> str:
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"
