"""Log records that carry the trace: join a log line to the message it was about.

:class:`TraceLogFilter` adds the current trace context to every log record it sees:

=====================  ===========================================================
attribute              value
=====================  ===========================================================
``trace_id``           the trace of the message being handled ("" outside a handler)
``span_id``            that message's span
``message_id``         that message's id
``trace_tag``          `` [trace=<trace_id> message=<message_id>]``, or "" outside one
=====================  ===========================================================

The runtime's own loggers (``lightbus`` and ``lightbus.*``) carry the filter already.
To get the fields on your own records too, put the filter on your *handler* (a handler
filter sees every record the handler writes, whichever logger made it)::

    handler = logging.StreamHandler()
    handler.addFilter(lightbus.TraceLogFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s%(trace_tag)s"))
    logging.getLogger().addHandler(handler)

An attribute already set on the record (for example through ``extra=``) is kept.

:class:`JsonFormatter` writes a record as one line of JSON with those fields (``lightbus
run --log-format json``).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import msgspec

from lightbus.context import current_trace

# Every logger the runtime logs through; a test checks this against the source.
RUNTIME_LOGGERS = (
    "lightbus",
    "lightbus.delayed",
    "lightbus.events",
    "lightbus.rpc",
    "lightbus.schedule",
    "lightbus.schema",
    "lightbus.trace",
    "lightbus.worker",
)


class TraceLogFilter(logging.Filter):
    """Adds ``trace_id``, ``span_id``, ``message_id`` and ``trace_tag`` to log records."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = current_trace()
        fields = record.__dict__
        fields.setdefault("trace_id", context.trace_id if context else "")
        fields.setdefault("span_id", context.span_id if context else "")
        fields.setdefault("message_id", context.message_id if context else "")
        if "trace_tag" not in fields:
            trace_id, message_id = fields["trace_id"], fields["message_id"]
            tag = ""
            if trace_id:
                tag = (
                    f" [trace={trace_id} message={message_id}]"
                    if message_id
                    else (f" [trace={trace_id}]")
                )
            fields["trace_tag"] = tag
        return True


def install() -> None:
    """Put one :class:`TraceLogFilter` on each runtime logger (idempotent)."""
    for name in RUNTIME_LOGGERS:
        target = logging.getLogger(name)
        if not any(isinstance(f, TraceLogFilter) for f in target.filters):
            target.addFilter(TraceLogFilter())


# What every LogRecord has; anything else on a record came through ``extra=``.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "trace_tag",
}
_TRACE = ("trace_id", "span_id", "message_id")


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line.

    Keys: ``time`` (UTC, ISO 8601 with milliseconds), ``level``, ``logger``, ``message``,
    ``trace_id``, ``span_id`` and ``message_id`` (empty outside a handled message; put a
    :class:`TraceLogFilter` on the handler), ``exception`` (the formatted traceback,
    only when the record has one), ``stack`` (only with ``stack_info``), then any
    attribute given through ``extra=`` under its own name (values that are not JSON as
    their ``str()``).
    """

    def format(self, record: logging.LogRecord) -> str:
        fields = record.__dict__
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _TRACE:
            line[name] = fields.get(name, "")
        if record.exc_info:
            record.exc_text = record.exc_text or self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        for name, value in fields.items():
            if name not in _STANDARD and name not in line:
                line[name] = value
        return msgspec.json.encode(line, enc_hook=str).decode()
