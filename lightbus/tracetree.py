"""The causal tree of one trace, built from its records (plain Python, no Redis).

One :class:`TraceNode` per message (event or RPC call). A node's parent is the message
whose handler sent it: the node whose id is its ``causation_id`` (or, failing that,
whose span is its ``parent_span_id``). Each node gathers the records about its message
into :class:`Handling` rows: one per listener for an event, one for the worker that ran
an RPC, and the caller's ``rpc.returned``.

Used by ``lightbus trace`` and the monitor's trace screen::

    records = await reader.trace(trace_id)
    for root in build_tree(records):
        print(root.label, [child.label for child in root.children])
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from lightbus import trace
from lightbus.trace import TraceRecord
from lightbus.traceentries import stream_position

# A node or handling shows its worst status.
_SEVERITY = {"dead": 5, "error": 4, "expired": 3, "timeout": 2, "ok": 1, "": 0}
_SENT = (trace.EVENT_FIRED, trace.RPC_CALLED, trace.REPLAY_PERFORMED)


@dataclass
class Handling:
    """What one listener (or the RPC's worker, or its caller) did with a message.

    ``records`` are all its attempts, oldest first. The other fields describe the last
    attempt, all from that one attempt (its queued and handler times together), with the
    outcome (``status``, and the error of a handling that did not end ``ok``).
    """

    listener: str
    step: str
    status: str
    attempt: int
    queued_ms: float
    duration_ms: float
    service: str
    process: str  # the process that handled it (``handled_by``)
    error_type: str = ""
    error: str = ""
    traceback: str = ""
    records: list[TraceRecord] = field(default_factory=list)

    @classmethod
    def of(cls, records: list[TraceRecord]) -> Handling:
        last = records[-1]
        # A dead-letter record only notes the outcome; the last attempt's record has timings.
        timed = [r for r in records if r.record != trace.EVENT_DEAD_LETTERED] or records
        failed = next((r for r in reversed(records) if r.error_type), None)
        final_error = failed if failed is not None and last.status != "ok" else None
        return cls(
            listener=last.listener,
            step=last.record,
            status=last.status,
            attempt=max(r.attempt for r in records),
            queued_ms=timed[-1].queued_ms,
            duration_ms=timed[-1].duration_ms,
            service=last.service,
            process=last.handled_by,
            error_type=final_error.error_type if final_error else "",
            error=final_error.error if final_error else "",
            traceback=final_error.traceback if final_error else "",
            records=records,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "listener": self.listener,
            "step": self.step,
            "status": self.status,
            "attempt": self.attempt,
            "queued_ms": self.queued_ms,
            "duration_ms": self.duration_ms,
            "handled_by": self.process,
            "error_type": self.error_type,
            "error": self.error,
            "traceback": self.traceback,
            "attempts": [_attempt_dict(r) for r in self.records],
        }


@dataclass
class TraceNode:
    """One message of a trace, with what happened to it and what it caused."""

    sent: TraceRecord
    records: list[TraceRecord]
    handlings: list[Handling] = field(default_factory=list)
    returned: TraceRecord | None = None
    children: list[TraceNode] = field(default_factory=list)
    parent: TraceNode | None = field(default=None, repr=False)

    @property
    def id(self) -> str:
        return self.sent.id

    @property
    def kind(self) -> str:
        return self.sent.message_kind

    @property
    def label(self) -> str:
        """``kind api.name``, e.g. ``event shop.order_placed``."""
        return f"{self.kind} {self.sent.api}.{self.sent.name}"

    @property
    def status(self) -> str:
        statuses = [h.status for h in self.handlings]
        if self.returned is not None:
            statuses.append(self.returned.status)
        if not statuses:
            return "ok" if self.sent.record in _SENT else self.sent.status
        return max(statuses, key=lambda s: _SEVERITY.get(s, 4))

    def walk(self) -> Iterable[TraceNode]:
        """This node and its descendants, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()

    def to_dict(self) -> dict[str, Any]:
        """The node and its subtree as nested JSON-safe dicts."""
        sent = self.sent
        return {
            "id": sent.id,
            "kind": self.kind,
            "api": sent.api,
            "name": sent.name,
            "status": self.status,
            "trace_id": sent.trace_id,
            "span_id": sent.span_id,
            "parent_span_id": sent.parent_span_id,
            "causation_id": sent.causation_id,
            "replay_of": sent.replay_of,
            "service": sent.service,
            "process": sent.process,
            "sent_at": sent.sent_at,
            "sent_recorded": sent.record in _SENT,
            "payload": sent.payload,
            "handlings": [h.to_dict() for h in self.handlings],
            "returned": _returned_dict(self.returned),
            "children": [child.to_dict() for child in self.children],
        }


def build_tree(records: Iterable[TraceRecord]) -> list[TraceNode]:
    """Group records by message and link messages to their causes.

    Records without a message id (worker life) are ignored. A message whose parent is
    not among the records (trimmed from the stream, or sent from outside any handler)
    is a root. Roots and children are ordered by send time.
    """
    by_message: dict[str, list[TraceRecord]] = {}
    for record in records:
        if record.id:
            by_message.setdefault(record.id, []).append(record)
    nodes = {mid: _node(recs) for mid, recs in by_message.items()}
    by_span = {node.sent.span_id: node for node in nodes.values() if node.sent.span_id}
    roots: list[TraceNode] = []
    for node in nodes.values():
        parent = nodes.get(node.sent.causation_id) or by_span.get(node.sent.parent_span_id)
        if parent is None or parent is node or _is_ancestor(node, parent):
            roots.append(node)
        else:
            node.parent = parent
            parent.children.append(node)
    for node in nodes.values():
        node.children.sort(key=_order)
    roots.sort(key=_order)
    return roots


def _node(records: list[TraceRecord]) -> TraceNode:
    records = sorted(records, key=lambda r: (stream_position(r.stream_id), r.ts))
    sent = next((r for r in records if r.record in _SENT), records[0])
    node = TraceNode(sent=sent, records=records)
    per_listener: dict[str, list[TraceRecord]] = {}
    for record in records:
        if record.record in _SENT or record.record == trace.EVENT_RELEASED:
            continue  # a delayed event's release is in node.records, not a handling
        if record.record == trace.RPC_RETURNED:
            node.returned = record
            continue
        per_listener.setdefault(record.listener, []).append(record)
    node.handlings = [Handling.of(recs) for recs in per_listener.values()]
    return node


def _is_ancestor(node: TraceNode, candidate: TraceNode) -> bool:
    current: TraceNode | None = candidate
    while current is not None:
        if current is node:
            return True
        current = current.parent
    return False


def _order(node: TraceNode) -> tuple[int, tuple[int, int, int]]:
    return (node.sent.sent_at or node.sent.ts, stream_position(node.sent.stream_id))


def _attempt_dict(record: TraceRecord) -> dict[str, Any]:
    """One record of a handling: one attempt (or the dead-lettering that ended them)."""
    return {
        "step": record.record,
        "attempt": record.attempt,
        "status": record.status,
        "ts": record.ts,
        "queued_ms": record.queued_ms,
        "duration_ms": record.duration_ms,
        "handled_by": record.handled_by,
        "error_type": record.error_type,
        "error": record.error,
        "traceback": record.traceback,
    }


def _returned_dict(record: TraceRecord | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {
        "status": record.status,
        "duration_ms": record.duration_ms,
        "error_type": record.error_type,
        "error": record.error,
        "payload": record.payload,
    }
