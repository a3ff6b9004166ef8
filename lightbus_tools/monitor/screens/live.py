"""Live: every trace record, newest first, following the bus as it writes.

``enter`` opens the record's message, ``t`` its trace, ``space`` pauses (new records are
held and counted in the status bar) and resumes, ``/`` filters, ``esc`` clears the filter.
With nothing to show, the screen says why and what to do instead of drawing an empty
table.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static

from lightbus_tools.monitor.screens.base import (
    START_A_WORKER,
    MonitorScreen,
    OpenMessage,
    OpenTrace,
)
from lightbus_tools.monitor.widgets.recordlist import RecordList


class LiveScreen(MonitorScreen):
    VIEW = "live"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "pause", "Pause/resume"),
        Binding("t", "trace", "Trace"),
        Binding("escape", "back", "Clear filter"),
    ]

    def compose_body(self) -> ComposeResult:
        yield RecordList(self.model, id="records")
        yield Static("", classes="hint")

    def on_mount(self) -> None:
        self.query_one(RecordList).focus()
        self._show_hint()

    def model_changed(self, what: str) -> None:
        super().model_changed(what)
        if what in ("filter", "all"):
            self.refresh_bindings()
        records = self.query_one(RecordList)
        if what in ("filter", "all"):
            records.reset()
        else:
            records.model_changed()
        self._show_hint()

    def _show_hint(self) -> None:
        hint = self.query_one(".hint", Static)
        records = self.query_one(RecordList)
        text = self._hint_text()
        hint.display = bool(text)
        records.display = not text
        if text:
            hint.update(text)

    def _hint_text(self) -> str:
        model = self.model
        if len(model.buffer):
            return ""
        if model.link.state == "disconnected":
            return f"Cannot reach Redis at {model.options.where}.\n\n{model.link.detail}"
        if model.link.state == "connecting" or not model.history_read:
            return f"Connecting to {model.options.where} ..."
        if not model.filter.empty and model.buffer.seen:
            return (
                f"No records match the filter  {model.filter.text}\n\n"
                "esc clears it; / changes it (? lists the terms)."
            )
        if model.buffer.paused:
            return "Paused before any record arrived: space resumes."
        if model.workers:
            names = ", ".join(sorted({w.service for w in model.workers}))
            return (
                f"Workers are up ({names}), but no message has been sent since the monitor "
                "started.\n\nCall an RPC or fire an event and it shows here. For earlier "
                "records, start the monitor with --since 1h."
            )
        return f"Nothing on this bus yet.\n\n{START_A_WORKER}"

    # ------------------------------------------------------------ keys

    def action_pause(self) -> None:
        self.model.toggle_pause()
        self.model_changed("pause")

    def action_back(self) -> None:
        if not self.model.filter.empty:
            self.model.clear_filter()
            self.model_changed("filter")

    def can(self, action: str) -> bool | None:
        if action == "back":
            return not self.model.filter.empty  # esc here only clears a filter
        return True

    def action_trace(self) -> None:
        record = self.query_one(RecordList).selected
        if record is not None and record.trace_id:
            self.post_message(OpenTrace(record.trace_id, record.stream_ms, record.id))

    def on_record_list_opened(self, event: RecordList.Opened) -> None:
        record = event.record
        if record.id:
            self.post_message(OpenMessage(record.id))
