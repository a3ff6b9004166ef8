"""Making the envelope of every message this process sends (DESIGN.md section 4).

:class:`Envelopes` fills in what the sender knows: a new time-ordered id, the trace
(inherited from the message being handled, or from the caller's trace context), who
sends it, when, and the hash of the sender's schema of the API.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from lightbus import context, ids
from lightbus.message import HOST, ErrorInfo, Kind, Message, now_ms
from lightbus.settings import Settings


class Envelopes:
    """Makes messages sent by one client. ``schema_hash``: the local schema's hash of an api."""

    def __init__(
        self, settings: Settings, schema_hash: Callable[[str], str], spans: Any = None
    ) -> None:
        self.settings = settings
        self.schema_hash = schema_hash
        self.spans = spans  # lightbus.otel.Spans when OpenTelemetry is on: it makes the ids

    def make(
        self,
        kind: Kind,
        api: str,
        name: str,
        *,
        kwargs: dict[str, Any] | None = None,
        parent: Message | None = None,
        deadline: int = 0,
        reply_to: str = "",
        result: Any = None,
        error: ErrorInfo | None = None,
        replay_of: str = "",
        to: str = "",
        message_id: str = "",
    ) -> Message:
        """A new message of this client's. ``replay_of``, ``to`` and ``message_id`` (a
        new id made by the caller) are for a replay (:mod:`lightbus.replay`)."""
        if parent is not None:
            trace_id, span_id = parent.trace_id, ids.span_id()
            parent_span, causation = parent.span_id, parent.id
        elif self.spans is not None:
            trace_id, span_id, parent_span, causation = self.spans.new_span(kind, api, name)
        else:
            trace_id, span_id, parent_span, causation = context.new_span()
        return Message(
            id=message_id or ids.message_id(),
            kind=kind,
            api=api,
            name=name,
            trace_id=trace_id,
            span_id=span_id,
            parent_span_id=parent_span,
            causation_id=causation,
            service=self.settings.service_name,
            process=self.settings.process_name,
            host=HOST,
            pid=os.getpid(),
            sent_at=now_ms(),
            deadline=deadline,
            reply_to=reply_to,
            replay_of=replay_of,
            to=to,
            schema=self.schema_hash(api),
            kwargs=kwargs or {},
            result=result,
            error=error,
        )
