"""OpenTelemetry spans for the steps of every message (the ``lightbus[otel]`` extra).

Turned on by the ``otel_enabled`` setting (``LIGHTBUS_OTEL_ENABLED=true``); the bus
client then builds one :class:`Spans`, and nothing else of the runtime imports
OpenTelemetry. The spans go to whatever tracer provider the application configured
(``opentelemetry.trace.set_tracer_provider``); with none, OpenTelemetry's no-op one, and
the messages keep the bus's own ids.

How the bus's ids and OpenTelemetry's meet (W3C trace context, 32 and 16 hex digits on
both sides, so the envelope's ``trace_id``, ``span_id`` and ``parent_span_id`` *are* the
``traceparent``):

- **sending** (``fire``, ``call``): a PRODUCER span (an event) or CLIENT span (an RPC)
  whose parent is the message being handled, else the active OpenTelemetry span (an
  HTTP request's); the message carries that span's ids. An event's span ends with its
  ``event.fired`` record, a call's with ``rpc.returned`` (it covers the round trip);
- **handling**: a CONSUMER span (a listener) or SERVER span (an RPC method), child of
  the message's span, starts when the message is taken and ends with the step that
  settles it (``event.handled``, ``event.failed``, ``event.dead_lettered``,
  ``rpc.handled``, ``rpc.failed``, ``rpc.expired``). Messages sent by the handler are
  its children;
- any other step of a message (a retry's second ``event.failed``, ``replay.performed``)
  becomes a span of its own under the message's span, timed from its record.
"""

from __future__ import annotations

import time
from typing import Any

from lightbus import context, ids, trace
from lightbus.errors import ConfigError
from lightbus.message import Message
from lightbus.tracesink import Step

SYSTEM = "lightbus"  # messaging.system: the bus is the messaging system, Redis its store
MAX_OPEN = 10_000  # spans waiting for the step that ends them; the oldest end beyond this
_SEND = "<send>"  # the key of a sending span (a handling span's: its listener, "" for RPC)
_SETTLING = trace.HANDLING_STEPS


def load() -> Any:
    """The ``opentelemetry.trace`` module, or a ConfigError saying how to install it."""
    try:
        from opentelemetry import trace as otel_trace
    except ImportError:
        raise ConfigError(
            "otel_enabled is set but OpenTelemetry is not installed: "
            "pip install 'lightbus[otel]' (or set otel_enabled = false)",
            key="otel_enabled",
        ) from None
    return otel_trace


class Spans:
    """Makes the OpenTelemetry spans of one bus client."""

    def __init__(self) -> None:
        from lightbus import __version__

        self.otel = load()
        from opentelemetry import context as otel_context

        self.context = otel_context

        self.tracer = self.otel.get_tracer("lightbus", __version__)
        self._open: dict[tuple[str, str], Any] = {}

    # ------------------------------------------------------------------ sending

    def new_span(self, kind: str, api: str, name: str) -> tuple[str, str, str, str]:
        """(trace_id, span_id, parent_span_id, causation_id) of a message sent now, with
        its sending span started (the bus's own ids where no span could be made)."""
        otel = self.otel
        current = context.current_trace()
        parent = otel.get_current_span().get_span_context()
        causation = current.message_id if current is not None else ""
        # In a handler, the innermost span is the parent: the handler's own span (made
        # with OpenTelemetry, in this trace), else the span of handling the message.
        if current is not None and not (
            parent.is_valid and f"{parent.trace_id:032x}" == current.trace_id
        ):
            if not current.span_id:  # a start_trace() with no parent span: keep its ids
                return context.new_span()
            parent = self._remote(current.trace_id, current.span_id)
        operation = "call" if kind == "rpc" else "send"
        span = self.tracer.start_span(
            f"{operation} {api}.{name}",
            context=otel.set_span_in_context(otel.NonRecordingSpan(parent)),
            kind=otel.SpanKind.CLIENT if kind == "rpc" else otel.SpanKind.PRODUCER,
            attributes=_attributes(api, name, operation, "send"),
        )
        made = span.get_span_context()
        if not made.is_valid or made.span_id == parent.span_id:  # no SDK: a no-op span
            return current_or_new(current, parent)
        span_id = f"{made.span_id:016x}"
        self._keep((span_id, _SEND), span)
        parent_span = f"{parent.span_id:016x}" if parent.is_valid else ""
        return f"{made.trace_id:032x}", span_id, parent_span, causation

    # ------------------------------------------------------------------ handling

    def begin(self, message: Message, listener: str = "") -> str:
        """Start the span of handling ``message``; the span id its handler's messages
        name as their parent (the message's own where no span could be made)."""
        otel = self.otel
        parent = self._remote(message.trace_id, message.span_id)
        rpc = message.kind == "rpc"
        span = self.tracer.start_span(
            f"process {message.api}.{message.name}",
            context=otel.set_span_in_context(otel.NonRecordingSpan(parent)),
            kind=otel.SpanKind.SERVER if rpc else otel.SpanKind.CONSUMER,
            attributes=self._message_attributes(message, "process", listener),
        )
        made = span.get_span_context()
        if not made.is_valid or made.span_id == parent.span_id:
            return message.span_id
        self._keep((message.span_id, listener), span)
        # The handler's own spans (a database call, an HTTP request out) are children of
        # this one. Not detached: the context is the task's that handles this message
        # (an RPC's own task, a listener slot's), and the next message's replaces it.
        self.context.attach(otel.set_span_in_context(span))
        return f"{made.span_id:016x}"

    # ------------------------------------------------------------------ steps

    def observe(self, seen: Step) -> None:
        """The trace sink built the record of a step: end the span it settles, or make one."""
        step, message, listener, status, error = (
            seen.step,
            seen.message,
            seen.listener,
            seen.status,
            seen.error,
        )
        if step == trace.RPC_CALLED:
            return  # the call's span ends with rpc.returned
        key = (message.span_id, _SEND if step in _SENDING else listener)
        span = self._open.pop(key, None)
        if span is None:
            if step in _SENDING:
                return  # sent with the bus's own ids (no SDK, or a start_trace() root)
            span = self._late_span(step, message, listener, seen.duration_ms)
        if step == trace.RPC_RETURNED or step in _SETTLING:
            span.set_attribute("lightbus.step", step)
        if status != "ok":
            span.set_status(self.otel.Status(self.otel.StatusCode.ERROR, status))
            span.set_attribute("error.type", type(error).__qualname__ if error else status)
            if error is not None:
                span.record_exception(error)
        span.end()

    def _late_span(self, step: str, message: Message, listener: str, duration_ms: float) -> Any:
        otel = self.otel
        start = time.time_ns() - int(duration_ms * 1_000_000)
        return self.tracer.start_span(
            f"{step.partition('.')[2] or step} {message.api}.{message.name}",
            context=otel.set_span_in_context(
                otel.NonRecordingSpan(self._remote(message.trace_id, message.span_id))
            ),
            kind=otel.SpanKind.CONSUMER if step in _SETTLING else otel.SpanKind.INTERNAL,
            attributes=self._message_attributes(message, "process", listener),
            start_time=start,
        )

    # ------------------------------------------------------------------ helpers

    def _keep(self, key: tuple[str, str], span: Any) -> None:
        while len(self._open) >= MAX_OPEN:  # a message that never got its settling step
            oldest = next(iter(self._open))
            self._open.pop(oldest).end()
        self._open[key] = span

    def _remote(self, trace_id: str, span_id: str) -> Any:
        otel = self.otel
        try:
            return otel.SpanContext(
                int(trace_id, 16),
                int(span_id, 16),
                is_remote=True,
                trace_flags=otel.TraceFlags(otel.TraceFlags.SAMPLED),
            )
        except ValueError:  # not hex (a message from something else): no parent
            return otel.INVALID_SPAN_CONTEXT

    def _message_attributes(
        self, message: Message, operation: str, listener: str
    ) -> dict[str, Any]:
        attributes = _attributes(message.api, message.name, operation, operation)
        attributes["messaging.message.id"] = message.id
        if message.causation_id:
            attributes["messaging.message.conversation_id"] = message.causation_id
        if listener:
            attributes["messaging.consumer.group.name"] = listener
        if message.attempt > 1:
            attributes["lightbus.attempt"] = message.attempt
        return attributes


_SENDING = frozenset((trace.EVENT_FIRED, trace.RPC_CALLED, trace.RPC_RETURNED))


def _attributes(api: str, name: str, operation: str, kind: str) -> dict[str, Any]:
    return {
        "messaging.system": SYSTEM,
        "messaging.destination.name": f"{api}.{name}",
        "messaging.operation.name": operation,
        "messaging.operation.type": kind,
        "lightbus.api": api,
        "lightbus.name": name,
    }


def current_or_new(current: context.TraceContext | None, parent: Any) -> tuple[str, str, str, str]:
    """The bus's own ids of a message sent now (no span was made), continuing ``parent``,
    an OpenTelemetry span context, when the bus has no trace of its own here."""
    if current is None and parent.is_valid:
        return f"{parent.trace_id:032x}", ids.span_id(), f"{parent.span_id:016x}", ""
    return context.new_span()
