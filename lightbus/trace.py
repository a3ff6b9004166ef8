"""Trace records: one per step of every message, appended to the ``<prefix>:trace`` stream.

:class:`TraceRecord` is the only code that knows the record's field names; the format is
documented in ``docs/reference/trace-stream.md`` and versioned by :data:`RECORD_VERSION`.
:class:`TraceWriter` turns a message and a step into a record and adds the ``XADD`` to
the pipeline that carries the Redis command the record describes, so tracing costs no
extra round trip.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import msgspec

from lightbus.message import HOST, Message, now_ms
from lightbus.settings import Settings

RECORD_VERSION = 1
FIELD = "r"  # an entry holding one record
BATCH_FIELD = "rs"  # an entry holding the records of one write, as a JSON array
# The most records one entry holds, and about the most bytes (past its first record).
ENTRY_RECORDS = 16
ENTRY_BYTES = 16_384

# The steps a record can describe.
EVENT_FIRED = "event.fired"
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

# Steps written by the process that handled the message (it names itself in handled_by).
HANDLING_STEPS = frozenset(
    (EVENT_HANDLED, EVENT_FAILED, EVENT_DEAD_LETTERED, RPC_HANDLED, RPC_FAILED, RPC_EXPIRED)
)

STEPS = (
    EVENT_FIRED,
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
        # stream_id is where Redis stored a record, never part of the record itself.
        record = msgspec.structs.replace(self, stream_id="") if self.stream_id else self
        return {FIELD: _encoder.encode(record)}

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
        record: TraceRecord = _decode(_decoder, raw, stream_id)
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


_batch_decoder = msgspec.json.Decoder(list[TraceRecord])


def _version_of(raw: bytes) -> int:
    try:
        value = _any_decoder.decode(raw)
    except msgspec.DecodeError:
        return 0
    items = value if isinstance(value, list) else [value]
    versions = [item.get("v") for item in items if isinstance(item, dict)]
    return max((v for v in versions if isinstance(v, int) and not isinstance(v, bool)), default=0)


def _decode(decoder: msgspec.json.Decoder[Any], raw: bytes, entry_id: str) -> Any:
    try:
        return decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        # A newer format may change a field's type; tell that apart from junk.
        version = _version_of(raw)
        if version > RECORD_VERSION:
            raise NewerRecordVersion(entry_id, version) from None
        raise ValueError(f"trace entry {entry_id} does not decode: {exc}") from None


def records_from_fields(entry_id: str, fields: Mapping[bytes, bytes]) -> list[TraceRecord]:
    """Decode one trace stream entry: one record, or the records of one write.

    The records of an entry written together are told apart by their ``stream_id``: the
    first is the entry id itself, the k-th after it ``<entry id>#<k>``.

    Raises:
        NewerRecordVersion: the entry holds records of a newer format version.
        ValueError: the entry is not a trace entry (something else wrote it).
    """
    raw = fields.get(_BATCH_KEY)
    if raw is None:
        return [TraceRecord.from_fields(entry_id, fields)]
    records: list[TraceRecord] = _decode(_batch_decoder, raw, entry_id)
    for k, record in enumerate(records):
        if record.v > RECORD_VERSION:
            raise NewerRecordVersion(entry_id, record.v)
        record.stream_id = f"{entry_id}#{k}" if k else entry_id
    return records


def stream_position(stream_id: str) -> tuple[int, int, int]:
    """Where a record lies in the stream, comparable: (ms, sequence, index in its entry)."""
    entry, _, index = stream_id.partition("#")
    ms, _, seq = entry.partition("-")
    return int(ms or 0), int(seq or 0), int(index or 0)


def entry_of(stream_id: str) -> str:
    """The id of the stream entry that holds the record with ``stream_id``."""
    return stream_id.partition("#")[0]


_BATCH_KEY = BATCH_FIELD.encode()


class _Pipeline(Protocol):
    def xadd(self, name: Any, fields: Any, *args: Any, **kwargs: Any) -> Any: ...


class TraceWriter:
    """Builds records and adds them to a pipeline, as the settings say."""

    def __init__(self, settings: Settings, key: str) -> None:
        self.enabled = settings.trace_enabled
        self.key = key
        self.process = settings.process_name
        self.maxlen = settings.trace_maxlen
        self.max_age_ms = int(settings.trace_max_age * 1000)
        self.payload_cap = settings.trace_payload_bytes
        self.traceback_cap = settings.trace_traceback_bytes
        self.redact = frozenset(name.lower() for name in settings.trace_redact)

    def add(self, pipe: _Pipeline, record: TraceRecord | None) -> None:
        """Add ``record`` to ``pipe`` (nothing when tracing is off or no record).

        The bus's own write path (:class:`lightbus.autopipeline.Batch`) collects the
        records of a whole write into one entry; any other pipeline gets one ``XADD``.
        """
        if record is None or not self.enabled:
            return
        collect = getattr(pipe, "add_trace_record", None)
        if collect is not None:
            collect(record)
        else:
            pipe.xadd(**self.entries([record])[0])

    def entries(self, records: Sequence[TraceRecord]) -> list[dict[str, Any]]:
        """``XADD`` keyword arguments storing ``records`` in as few entries as the caps allow.

        An entry holds at most :data:`ENTRY_RECORDS` records and, past the first record,
        about :data:`ENTRY_BYTES` of them, so ``trace_maxlen`` (a cap on entries) keeps
        bounding the stream's memory.
        """
        if len(records) == 1:
            return [self._xadd(records[0].to_fields())]
        out: list[dict[str, Any]] = []
        chunk: list[bytes] = []
        size = 0
        for record in records:
            data = record.to_fields()[FIELD]
            if chunk and (len(chunk) >= ENTRY_RECORDS or size + len(data) > ENTRY_BYTES):
                out.append(self._entry(chunk))
                chunk, size = [], 0
            chunk.append(data)
            size += len(data) + 1
        out.append(self._entry(chunk))
        return out

    def _entry(self, encoded: list[bytes]) -> dict[str, Any]:
        if len(encoded) == 1:
            return self._xadd({FIELD: encoded[0]})
        return self._xadd({BATCH_FIELD: b"[" + b",".join(encoded) + b"]"})

    def _xadd(self, fields: dict[str, bytes]) -> dict[str, Any]:
        if self.max_age_ms:
            # Retention by age: trim (approximately) what is older than trace_max_age.
            minid = f"{now_ms() - self.max_age_ms}-0"
            return {"name": self.key, "fields": fields, "minid": minid, "approximate": True}
        return {"name": self.key, "fields": fields, "maxlen": self.maxlen, "approximate": True}

    def for_message(
        self,
        step: str,
        message: Message,
        *,
        listener: str = "",
        status: str = "ok",
        queued_ms: float = 0.0,
        duration_ms: float = 0.0,
        error: BaseException | None = None,
        traceback: str = "",
        payload: Any = None,
        with_payload: bool = True,
    ) -> TraceRecord | None:
        """The record of ``step`` for ``message``; None when tracing is off (nothing built)."""
        if not self.enabled:
            return None
        # Only the fields every message has go through the constructor: msgspec's keyword
        # matching is the bulk of a record's cost, and the rest are usually empty.
        record = TraceRecord(
            record=step,
            ts=now_ms(),
            id=message.id,
            kind=message.kind,
            api=message.api,
            name=message.name,
            trace_id=message.trace_id,
            span_id=message.span_id,
            service=message.service,
            process=message.process,
            host=message.host,
            pid=message.pid,
            sent_at=message.sent_at,
            schema=message.schema,
            attempt=message.attempt,
            status=status,
        )
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
        if listener:
            record.listener = listener
        if step in HANDLING_STEPS:
            record.handled_by = self.process
        if queued_ms:
            record.queued_ms = round(queued_ms, 3)
        if duration_ms:
            record.duration_ms = round(duration_ms, 3)
        if error is not None:
            record.error_type = qualified_name(type(error))
            record.error = str(error)[: self.traceback_cap]
        if traceback:
            record.traceback = self.cap_traceback(traceback)
        if with_payload:
            if payload is None:
                payload = message.kwargs if message.kind != "result" else message.result
            self.set_payload(record, payload)
        return record

    def cap_traceback(self, text: str) -> str:
        if len(text) <= self.traceback_cap:
            return text
        # Keep the end: the frame that raised and the exception line are what matter.
        return "...\n" + text[-self.traceback_cap :]

    def set_payload(self, record: TraceRecord, payload: Any) -> None:
        redacted = False
        if self.redact and isinstance(payload, dict | list) and _names_any(payload, self.redact):
            payload, redacted = _redact(payload, self.redact)
        try:
            text = _encoder.encode(payload).decode()
        except (TypeError, ValueError, OverflowError):
            text = repr(payload)
        if len(text) > self.payload_cap:
            text = text[: self.payload_cap]
            record.truncated = True
        record.payload = text
        record.redacted = redacted


def worker_record(step: str, settings: Settings, pid: int, **detail: Any) -> TraceRecord:
    """A record about a worker's life rather than a message."""
    return TraceRecord(
        record=step,
        ts=now_ms(),
        kind="worker",
        service=settings.service_name,
        process=settings.process_name,
        host=HOST,
        pid=pid,
        status="ok",
        detail=detail,
    )


def qualified_name(cls: type) -> str:
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


REDACTED = "***"


def _names_any(value: Any, names: frozenset[str]) -> bool:
    """Whether ``value`` holds a key in ``names`` anywhere (cheaper than copying it to see)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and key.lower() in names:
                return True
            if isinstance(item, dict | list) and _names_any(item, names):
                return True
        return False
    if isinstance(value, list):
        return any(isinstance(item, dict | list) and _names_any(item, names) for item in value)
    return False


def _redact(value: Any, names: frozenset[str]) -> tuple[Any, bool]:
    if isinstance(value, dict):
        changed = False
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if isinstance(key, str) and key.lower() in names:
                out[key] = REDACTED
                changed = True
            else:
                out[key], sub = _redact(item, names)
                changed = changed or sub
        return out, changed
    if isinstance(value, list):
        items = [_redact(item, names) for item in value]
        return [item for item, _ in items], any(sub for _, sub in items)
    return value, False
