"""One message, as the Message screen shows it (pure Python).

:func:`message_view` gathers the records of one message (sent, then handled or failed
per listener, attempt by attempt) and the records of its trace (for its cause, what it
caused, and its replays) into a :class:`MessageView`: plain values, ready to draw.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from lightbus_tools.monitor.health import DeadLetterEntry
from lightbus_tools.monitor.source import (
    HANDLER_STEPS,
    RPC_RETURNED,
    SENT_STEPS,
    Handling,
    TraceNode,
    TraceRecord,
    build_tree,
)

ENVELOPE = (
    "id",
    "kind",
    "api",
    "name",
    "trace_id",
    "span_id",
    "parent_span_id",
    "causation_id",
    "replay_of",
    "service",
    "process",
    "host",
    "pid",
    "schema",
    "reply_to",
)


@dataclass(frozen=True)
class Attempt:
    step: str
    attempt: int
    status: str
    ts: int
    queued_ms: float
    duration_ms: float
    error: str


@dataclass(frozen=True)
class HandlingRow:
    """What one listener (or the RPC's worker) did with the message.

    ``queued_ms`` and ``duration_ms`` are those of the last attempt: the time from the
    send until it started (retries included), and how long it ran.
    """

    listener: str
    status: str
    attempts: int
    queued_ms: float
    duration_ms: float
    handled_by: str
    error_type: str
    error: str
    traceback: str
    history: tuple[Attempt, ...]

    @property
    def elapsed_ms(self) -> float:
        """From the send to the end of the last attempt."""
        return self.queued_ms + self.duration_ms

    @property
    def error_text(self) -> str:
        return f"{self.error_type}: {self.error}" if self.error_type else ""


@dataclass(frozen=True)
class Link:
    """Another message: the cause, one the message caused, or a replay of it."""

    message_id: str
    label: str  # e.g. "event sales.order_placed"
    status: str


@dataclass(frozen=True)
class MessageView:
    message_id: str
    found: bool  # the trace stream still holds records of it
    label: str
    status: str
    envelope: tuple[tuple[str, str], ...]
    payload: str  # pretty JSON when it parses, else as stored
    truncated: bool
    redacted: bool
    sent_at: int
    handlings: tuple[HandlingRow, ...]
    result: str | None  # an RPC's result (pretty JSON) as its caller got it
    returned_status: str
    returned_ms: float | None
    records: tuple[TraceRecord, ...]
    cause: Link | None
    cause_id: str  # the causation id, also when the cause is not in the stream any more
    caused: tuple[Link, ...]
    replays: tuple[Link, ...]
    dead_letter: DeadLetterEntry | None = None
    replay_of: str = ""  # the original, when this message is a replay (it is also the cause)


def message_view(
    message_id: str,
    records: Iterable[TraceRecord],
    trace_records: Iterable[TraceRecord] = (),
    *,
    dead_letter: DeadLetterEntry | None = None,
) -> MessageView:
    """The view of one message from its records and those of its trace."""
    # A record read twice (with the message and with its trace) counts once.
    merged = {r.stream_id or id(r): r for r in (*trace_records, *records)}
    nodes = {n.id: n for root in build_tree(merged.values()) for n in root.walk()}
    node = nodes.get(message_id)
    if node is None:
        return _missing(message_id, dead_letter)
    sent = node.sent
    returned = node.returned
    payload_record = sent if sent.record in SENT_STEPS else _with_payload(node.records)
    return MessageView(
        message_id=message_id,
        found=True,
        label=node.label,
        status=node.status,
        envelope=tuple((f, _text(getattr(sent, f))) for f in ENVELOPE if getattr(sent, f)),
        payload=pretty_json(payload_record.payload if payload_record else ""),
        truncated=bool(payload_record and payload_record.truncated),
        redacted=bool(payload_record and payload_record.redacted),
        sent_at=sent.sent_at or sent.ts,
        handlings=tuple(handling_row(h) for h in node.handlings),
        result=pretty_json(returned.payload) if returned is not None else None,
        returned_status=returned.status if returned is not None else "",
        returned_ms=returned.duration_ms if returned is not None else None,
        records=tuple(node.records),
        cause=_link(node.parent) if node.parent is not None else None,
        cause_id=sent.causation_id,
        # A replay is a child of its original: listed as a replay, not as caused.
        caused=tuple(_link(c) for c in node.children if c.sent.replay_of != message_id),
        replays=tuple(_link(n) for n in nodes.values() if n.sent.replay_of == message_id),
        dead_letter=dead_letter,
        replay_of=sent.replay_of,
    )


def _missing(message_id: str, dead_letter: DeadLetterEntry | None) -> MessageView:
    label = f"event {dead_letter.api}.{dead_letter.name}" if dead_letter else "message"
    return MessageView(
        message_id=message_id,
        found=False,
        label=label,
        status="dead" if dead_letter else "",
        envelope=(("id", message_id),),
        payload=pretty_json(dead_letter.payload) if dead_letter else "",
        truncated=False,
        redacted=False,
        sent_at=0,
        handlings=(),
        result=None,
        returned_status="",
        returned_ms=None,
        records=(),
        cause=None,
        cause_id="",
        caused=(),
        replays=(),
        dead_letter=dead_letter,
    )


def _with_payload(records: list[TraceRecord]) -> TraceRecord | None:
    """When the sent record is gone, the first other record that kept the arguments."""
    return next((r for r in records if r.payload and r.record != RPC_RETURNED), None)


def handling_row(handling: Handling) -> HandlingRow:
    """The row of one listener's (or worker's) handling of a message."""
    runs = [r for r in handling.records if r.record in HANDLER_STEPS]
    last = runs[-1] if runs else handling.records[-1]
    return HandlingRow(
        listener=handling.listener or "(worker)",
        status=handling.status,
        attempts=handling.attempt,
        queued_ms=last.queued_ms,
        duration_ms=last.duration_ms,
        handled_by=handling.process,
        error_type=handling.error_type,
        error=handling.error,
        # The dead-letter record of an entry given up on after crashes has no traceback:
        # the last failure's is the one to show.
        traceback=handling.traceback
        or next((r.traceback for r in reversed(handling.records) if r.traceback), ""),
        history=tuple(
            Attempt(
                step=r.record,
                attempt=r.attempt,
                status=r.status,
                ts=r.ts,
                queued_ms=r.queued_ms,
                duration_ms=r.duration_ms,
                error=f"{r.error_type}: {r.error}" if r.error_type else "",
            )
            for r in handling.records
        ),
    )


def _link(node: TraceNode) -> Link:
    return Link(message_id=node.id, label=node.label, status=node.status)


def pretty_json(text: str) -> str:
    """``text`` indented when it is JSON; as it is otherwise (a truncated payload)."""
    if not text:
        return ""
    try:
        return json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False)
    except ValueError:
        return text


def _text(value: object) -> str:
    return str(value)


@dataclass(frozen=True)
class ReplayPlan:
    """What a replay would send, and to whom, as the confirmation screen states it.

    Built from the runtime's replay plan (issue 14's ``lightbus.replay``) by the source;
    ``blockers`` are the reasons it cannot be sent as it is (a truncated or redacted
    payload, a listener that does not exist...): with any, the screen offers no send.
    """

    original_id: str
    label: str  # "event sales.order_placed"
    targets: tuple[str, ...]  # "listener reserve_parts (group parts.reserve_parts)", ...
    payload: str  # the arguments as they will be sent (JSON)
    notes: tuple[str, ...] = ()  # e.g. "a new message id, with replay_of set to ..."
    blockers: tuple[str, ...] = ()
