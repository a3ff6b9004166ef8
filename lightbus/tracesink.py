"""The trace sink: every trace record the bus writes goes through one :class:`TraceSink`.

It does the whole job, in this order:

- **build** a record from a message and a step (:meth:`~TraceSink.for_message`, the
  compact :meth:`~TraceSink.message_step`, :meth:`~TraceSink.worker_record`), applying
  the settings: tracing off builds nothing, payloads and tracebacks are capped, names
  in ``trace_redact`` are redacted;
- **add** it to the write that carries the Redis command it describes
  (:meth:`~TraceSink.add`), so tracing costs no extra round trip;
- **buffer** the records that describe no write of their own (a caller's
  ``rpc.returned``): :meth:`~TraceSink.hold` keeps them for the next write, or for a
  short flush timer at the latest;
- **pack** records into stream entries (:func:`lightbus.traceentries.pack`) and those
  into ``XADD`` commands, as bytes: the bus's write path
  (:class:`~lightbus.autopipeline.AutoPipeline`) appends them to its write by calling
  :meth:`~TraceSink.commands`, without knowing what a trace record is;
- **write** records on their own when nothing else is sent (:meth:`~TraceSink.write`).

The bus client builds one sink and hands it to the parts that trace; the worker and
the development worker (``lightbus run --reload``) write their records through it too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol

import msgspec

from lightbus import context, traceentries
from lightbus.connection import CONNECTION_ERRORS, describe, guarded
from lightbus.errors import BusConnectionError
from lightbus.message import HOST, Message, now_ms
from lightbus.resp import Commands
from lightbus.settings import Settings
from lightbus.trace import HANDLING_STEPS, MessageStep, TraceRecord, qualified_name, record_of

logger = logging.getLogger("lightbus.trace")

FLUSH_SECONDS = 0.1  # a held record waits at most this long for a write to join
REDACTED = "***"

Item = TraceRecord | MessageStep

_encoder = msgspec.json.Encoder()
_CONTAINERS = (dict, list)  # a tuple: `dict | list` would build a union on every call


class _Pipeline(Protocol):
    def xadd(self, name: Any, fields: Any, *args: Any, **kwargs: Any) -> Any: ...


class Step(NamedTuple):
    """A step of a message, as the sink's observers are told of it."""

    step: str
    message: Message
    listener: str
    status: str
    error: BaseException | None
    queued_ms: float
    duration_ms: float


class Observer(Protocol):
    """Told of every step of a message the sink builds a record of (even with tracing
    off): the OpenTelemetry spans (:mod:`lightbus.otel`), the Prometheus metrics
    (:mod:`lightbus.prometheus`)."""

    def observe(self, step: Step) -> None: ...


class TraceSink:
    """Builds, buffers, packs and writes the trace records of one bus client.

    ``pipeline``: makes a group of writes on the bus's write path (used to write held
    records); ``spawn``: starts a background task of the client's (the flush).
    Both are only called once records are written, so the sink can be built first.
    """

    def __init__(
        self,
        settings: Settings,
        key: str,
        *,
        pipeline: Callable[[], Any] | None = None,
        spawn: Callable[..., Any] | None = None,
    ) -> None:
        self.settings = settings
        self.enabled = settings.trace_enabled
        self.key = key
        self.process = settings.process_name
        self.maxlen = settings.trace_maxlen
        self.max_age_ms = int(settings.trace_max_age * 1000)
        self.payload_cap = settings.trace_payload_bytes
        self.traceback_cap = settings.trace_traceback_bytes
        self.redact = frozenset(name.lower() for name in settings.trace_redact)
        self._pipeline = pipeline
        self._spawn = spawn
        self._held: list[Item] = []
        self._flusher: asyncio.TimerHandle | None = None
        self.observers: list[Observer] = []

    # ------------------------------------------------------------------ build

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
        for observer in self.observers:
            observer.observe(Step(step, message, listener, status, error, queued_ms, duration_ms))
        if not self.enabled:
            return None
        record = record_of(step, now_ms(), message, status)
        self._set_step(record, step, listener, queued_ms, duration_ms)
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

    def message_step(
        self,
        step: str,
        message: Message,
        raw: bytes,
        *,
        listener: str = "",
        queued_ms: float = 0.0,
        duration_ms: float = 0.0,
        with_payload: bool = True,
    ) -> Item | None:
        """The record of a successful ``step``, by reference to ``raw`` (``message``'s JSON).

        Falls back to the full record when the message is too large to be a payload or
        holds a name to redact, so the stream never holds more than a record would.
        """
        if self.enabled and (
            len(raw) > self.payload_cap or (self.redact and _names_any(message.kwargs, self.redact))
        ):
            return self.for_message(
                step,
                message,
                listener=listener,
                queued_ms=queued_ms,
                duration_ms=duration_ms,
                with_payload=with_payload,
            )
        for observer in self.observers:
            observer.observe(Step(step, message, listener, "ok", None, queued_ms, duration_ms))
        if not self.enabled:
            return None
        item = MessageStep(step, now_ms(), msgspec.Raw(raw))
        item.attempt = message.attempt
        self._set_step(item, step, listener, queued_ms, duration_ms)
        if with_payload:
            item.payload = True
        return item

    def worker_record(self, step: str, pid: int, **detail: Any) -> TraceRecord:
        """A record about a worker's life rather than a message (built even with tracing
        off: :meth:`add` and :meth:`write` decide whether it is written)."""
        return TraceRecord(
            record=step,
            ts=now_ms(),
            kind="worker",
            service=self.settings.service_name,
            process=self.process,
            host=HOST,
            pid=pid,
            status="ok",
            detail=detail,
        )

    def _set_step(
        self, item: Item, step: str, listener: str, queued_ms: float, duration_ms: float
    ) -> None:
        """The fields a record has about its step rather than its message."""
        if listener:
            item.listener = listener
        if step in HANDLING_STEPS:
            item.handled_by = self.process
        if queued_ms:
            item.queued_ms = _to_microseconds(queued_ms)
        if duration_ms:
            item.duration_ms = _to_microseconds(duration_ms)

    def cap_traceback(self, text: str) -> str:
        if len(text) <= self.traceback_cap:
            return text
        # Keep the end: the frame that raised and the exception line are what matter.
        return "...\n" + text[-self.traceback_cap :]

    def set_payload(self, record: TraceRecord, payload: Any) -> None:
        redacted = False
        if self.redact and isinstance(payload, _CONTAINERS) and _names_any(payload, self.redact):
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

    # ------------------------------------------------------------------ add, pack

    def add(self, pipe: _Pipeline, record: Item | None) -> None:
        """Add ``record`` to ``pipe`` (nothing when tracing is off or no record).

        The bus's own write path (:class:`lightbus.autopipeline.Batch`) collects the
        records of a whole write and asks :meth:`commands` for their bytes; any other
        pipeline (redis-py's) gets the ``XADD`` commands themselves.
        """
        if record is None or not self.enabled:
            return
        collect = getattr(pipe, "add_trace_record", None)
        if collect is not None:
            collect(record)
        else:
            for entry in self.entries([record]):
                pipe.xadd(**entry)

    def entries(self, records: Sequence[Item]) -> list[dict[str, Any]]:
        """``XADD`` keyword arguments storing ``records`` in as few entries as the caps allow."""
        return [self._xadd(fields) for fields in traceentries.pack(records)]

    def commands(self, records: Sequence[Any]) -> tuple[bytes, int]:
        """The packed ``XADD`` commands storing ``records``, and how many there are.

        What the write path appends to a write: it hands over the records it collected
        (:meth:`add`) and sends these bytes, never looking inside.
        """
        commands = Commands()
        for entry in self.entries(records):
            commands.xadd(**entry)
        return b"".join(commands.parts), commands.count

    def _xadd(self, fields: dict[str, bytes]) -> dict[str, Any]:
        if self.max_age_ms:
            # Retention by age: trim (approximately) what is older than trace_max_age.
            minid = f"{now_ms() - self.max_age_ms}-0"
            return {"name": self.key, "fields": fields, "minid": minid, "approximate": True}
        return {"name": self.key, "fields": fields, "maxlen": self.maxlen, "approximate": True}

    # ------------------------------------------------------------------ buffer, write

    def hold(self, record: Item | None) -> None:
        """Keep a record that describes no write of its own for the next write (see
        :meth:`drain_into`), or a short timer at the latest."""
        if record is None or not self.enabled:
            return
        self._held.append(record)
        if self._flusher is None:
            loop = asyncio.get_running_loop()
            self._flusher = loop.call_later(
                FLUSH_SECONDS, self._flush_soon, context=context.detached()
            )

    def drain_into(self, pipe: _Pipeline) -> None:
        """Add the held records to ``pipe``: they go with its write."""
        for record in self._held:
            self.add(pipe, record)
        self._held.clear()

    def _flush_soon(self) -> None:
        self._flusher = None
        if self._held and self._spawn is not None:
            self._spawn(self.flush(), name="lightbus-trace-flush")

    async def flush(self) -> None:
        """Write the held records now (a lost connection drops them, with a warning)."""
        if self._flusher is not None:
            self._flusher.cancel()
            self._flusher = None
        records, self._held = self._held, []
        if records:
            try:
                await self.write(records)
            except (BusConnectionError, *CONNECTION_ERRORS) as exc:
                logger.warning("Dropped %d trace records: %s", len(records), describe(exc))

    async def write(self, records: Sequence[Item | None]) -> None:
        """Write ``records`` (None entries, as made with tracing off, are skipped) in one go."""
        present = [record for record in records if record is not None]
        if not self.enabled or not present or self._pipeline is None:
            return
        async with self._pipeline() as pipe:
            for record in present:
                self.add(pipe, record)
            await guarded(self.settings, pipe.execute())


def _to_microseconds(ms: float) -> float:
    """``ms`` rounded to 3 places (a third of the price of ``round(ms, 3)``)."""
    return int(ms * 1000 + 0.5) / 1000 if ms >= 0 else round(ms, 3)


def _names_any(value: Any, names: frozenset[str]) -> bool:
    """Whether ``value`` holds a key in ``names`` anywhere (cheaper than copying it to see)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and key.lower() in names:
                return True
            if isinstance(item, _CONTAINERS) and _names_any(item, names):
                return True
        return False
    if isinstance(value, list):
        return any(isinstance(item, _CONTAINERS) and _names_any(item, names) for item in value)
    return False


_EMPTY: tuple[Any, ...] = (None, "", [], {})


def _redact(value: Any, names: frozenset[str]) -> tuple[Any, bool]:
    if isinstance(value, dict):
        changed = False
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if isinstance(key, str) and key.lower() in names and item not in _EMPTY:
                # An empty or null value shows nothing secret: kept, so it can be replayed.
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
