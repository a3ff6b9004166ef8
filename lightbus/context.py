"""The trace context: which message, if any, the running code is handling.

A handler runs with the context of the message it handles, held in a context
variable, so a message sent from it (directly, from a thread the worker runs it in,
or from a task it spawns) joins the same trace: same ``trace_id``, ``parent_span_id``
set to the handled message's span and ``causation_id`` to its id.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass

from lightbus import ids


@dataclass(frozen=True, slots=True)
class TraceContext:
    """The trace the current code belongs to.

    Attributes:
        trace_id: 32 hex digits shared by every message of one causal tree.
        span_id: the span new messages name as their parent (16 hex digits).
        message_id: the id of the message being handled, empty at a root.
        replay_of: when that message is a replay, the original's id (an RPC method sees
            it here; an event handler also as ``event.replay_of``).
    """

    trace_id: str
    span_id: str = ""
    message_id: str = ""
    replay_of: str = ""

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id or '0' * 16}-01"


_current: contextvars.ContextVar[TraceContext | None] = contextvars.ContextVar(
    "lightbus_trace", default=None
)


def current_trace() -> TraceContext | None:
    """The trace context of the message being handled, or ``None`` outside a handler."""
    return _current.get()


@contextlib.contextmanager
def start_trace(trace_id: str | None = None) -> Iterator[TraceContext]:
    """Make messages sent inside the block share one trace.

    Args:
        trace_id: 32 hex digits to use, or a whole W3C ``traceparent``
            (``00-<trace id>-<span id>-<flags>``, e.g. from an incoming HTTP request), whose
            span then becomes the parent of the messages sent in the block. A new trace id
            is made when omitted.

    Raises:
        ValueError: ``trace_id`` is neither 32 hex digits nor a ``traceparent``.
    """
    span = ""
    if trace_id is None:
        trace_id = ids.trace_id()
    else:
        trace_id, span = _parse(trace_id)
    context = TraceContext(trace_id=trace_id, span_id=span)
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


def _parse(value: str) -> tuple[str, str]:
    text = value.strip().lower()
    parts = text.split("-")
    if len(parts) == 4 and len(parts[0]) == 2:
        trace_id, span = parts[1], parts[2]
        if _hex(trace_id, 32) and _hex(span, 16) and span != "0" * 16:
            return trace_id, span
        raise ValueError(f"{value!r} is not a valid W3C traceparent")
    if not _hex(text, 32):
        raise ValueError(
            f"trace_id must be 32 hex digits (not all zero) or a W3C traceparent, got {value!r}"
        )
    return text, ""


def _hex(text: str, length: int) -> bool:
    return (
        len(text) == length and all(c in "0123456789abcdef" for c in text) and text != "0" * length
    )


def enter_message(
    trace_id: str, span_id: str, message_id: str, replay_of: str = ""
) -> contextvars.Token[TraceContext | None]:
    """Set the context of a message about to be handled; reset with :func:`leave`."""
    return _current.set(TraceContext(trace_id, span_id, message_id, replay_of))


def leave(token: contextvars.Token[TraceContext | None]) -> None:
    _current.reset(token)


def detached() -> contextvars.Context:
    """A copy of the current context outside any trace, for the runtime's own tasks.

    A task copies the context it is created in. The runtime starts some long-lived work
    lazily (the reply reader on the first call, acknowledgement writes, trace flushes),
    often from inside a handler: created in the handler's context, that work would carry
    the handled message's trace for the rest of its life, and so would its log lines.
    """
    copied = contextvars.copy_context()
    copied.run(_current.set, None)
    return copied


def new_span() -> tuple[str, str, str, str]:
    """(trace_id, span_id, parent_span_id, causation_id) for a message sent now."""
    context = _current.get()
    if context is None:
        return ids.trace_id(), ids.span_id(), "", ""
    return context.trace_id, ids.span_id(), context.span_id, context.message_id


# True while a worker imports the bus module (lightbus.busmodule.worker_import):
# listeners registered then start with the worker rather than at once.
importing_for_worker: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "lightbus_importing_for_worker", default=False
)
