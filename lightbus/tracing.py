"""Reading the trace stream: the public module for tools.

Every step of every message is one :class:`TraceRecord` in the bus's trace stream
(``docs/reference/trace-stream.md`` documents the format). Read them with
:func:`read_trace` (history, then live records with ``follow=True``) or a
:class:`TraceReader` (one message, one trace, a shortened id, following from a point);
:func:`build_tree` turns the records of one trace into its causal tree.

The step names are the constants below (``EVENT_FIRED``, ...), all of them in
:data:`STEPS`, in the order a message passes them. :data:`KINDS` and :data:`STATUSES` are
the values of :attr:`TraceRecord.kind` and :attr:`TraceRecord.status`.

Example::

    from lightbus import tracing

    async for record in tracing.read_trace(bus, step=tracing.EVENT_FAILED, limit=10):
        print(record.api, record.name, record.error)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lightbus.lazy import lazy_names
from lightbus.trace import (
    EVENT_DEAD_LETTERED,
    EVENT_FAILED,
    EVENT_FIRED,
    EVENT_HANDLED,
    EVENT_RELEASED,
    HANDLING_STEPS,
    REPLAY_PERFORMED,
    RPC_CALLED,
    RPC_EXPIRED,
    RPC_FAILED,
    RPC_HANDLED,
    RPC_RETURNED,
    SCHEDULE_FAILED,
    SCHEDULE_RAN,
    STEPS,
    WORKER_RELOADED,
    WORKER_STARTED,
    WORKER_STOPPED,
    TraceRecord,
)
from lightbus.traceentries import stream_position
from lightbus.tracetree import Handling, TraceNode, build_tree

if TYPE_CHECKING:
    from lightbus.tracereader import TraceFilter, TraceReader, read_trace

__all__ = [
    "EVENT_DEAD_LETTERED",
    "EVENT_FAILED",
    "EVENT_FIRED",
    "EVENT_HANDLED",
    "EVENT_RELEASED",
    "HANDLING_STEPS",
    "KINDS",
    "REPLAY_PERFORMED",
    "RPC_CALLED",
    "RPC_EXPIRED",
    "RPC_FAILED",
    "RPC_HANDLED",
    "RPC_RETURNED",
    "SCHEDULE_FAILED",
    "SCHEDULE_RAN",
    "STATUSES",
    "STEPS",
    "WORKER_RELOADED",
    "WORKER_STARTED",
    "WORKER_STOPPED",
    "Handling",
    "TraceFilter",
    "TraceNode",
    "TraceReader",
    "TraceRecord",
    "build_tree",
    "is_after",
    "position",
    "read_trace",
]

KINDS = ("event", "rpc", "worker", "replay", "schedule")
"""The values of :attr:`TraceRecord.kind`."""

STATUSES = ("ok", "error", "dead", "expired", "timeout", "delayed")
"""The values of :attr:`TraceRecord.status` (empty for a record of a message sent)."""


def position(stream_id: str) -> tuple[int, int, int]:
    """Where a record lies in the trace stream, as a tuple that sorts in stream order.

    ``stream_id`` is a :attr:`TraceRecord.stream_id` (``"<ms>-<seq>#<index>"``) or a plain
    stream entry id; the tuple is ``(epoch ms, sequence, index in its entry)``.
    """
    return stream_position(stream_id)


def is_after(stream_id: str, other: str) -> bool:
    """Whether the record (or entry) ``stream_id`` comes after ``other`` in the stream."""
    return stream_position(stream_id) > stream_position(other)


# The reader brings in redis-py: loaded on first use, as in ``lightbus`` itself.
__getattr__, __dir__ = lazy_names(
    __name__,
    globals(),
    {name: "lightbus.tracereader" for name in ("TraceFilter", "TraceReader", "read_trace")},
)
