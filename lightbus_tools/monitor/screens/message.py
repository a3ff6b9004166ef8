"""Message: one message whole: what was sent, who handled it, how it failed, what it led to.

Opened with ``enter`` from the Live feed, a trace node or a dead letter. The records are
read on demand (the message by its id, then its trace, for the links); the links list at
the top reaches the cause, what the message caused, and its replays (``enter``).
"""

from __future__ import annotations

import time
from typing import ClassVar

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from lightbus_tools.monitor import cells
from lightbus_tools.monitor.health import DeadLetterEntry
from lightbus_tools.monitor.messages import MessageView, message_view
from lightbus_tools.monitor.screens.base import Context, MonitorScreen, OpenMessage, OpenTrace
from lightbus_tools.monitor.source import SourceUnavailable, TraceRecord

STATUS_STYLE = {"ok": "green", "error": "bold red", "dead": "bold magenta", "expired": "yellow"}


class MessageScreen(MonitorScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("t", "trace", "Trace"),
        Binding("l", "links", "Links"),
        Binding("r", "replay", "Replay"),
        Binding("pageup", "scroll(-1)", "Page up", show=False),
        Binding("pagedown", "scroll(1)", "Page down", show=False),
    ]

    def __init__(
        self, context: Context, message_id: str, *, dead_letter: DeadLetterEntry | None = None
    ) -> None:
        super().__init__(context)
        self.message_id = message_id
        self.dead_letter = dead_letter
        self.view: MessageView | None = None
        self.trace_id = ""
        self.near_ms: int | None = None
        self.follow_until = 0.0  # after a replay from here: re-read until then

    def compose_body(self) -> ComposeResult:
        yield Static(f"message {self.message_id}: reading ...", id="title")
        yield OptionList(id="links")
        with VerticalScroll(id="detail"):
            yield Static("", id="body")

    def on_mount(self) -> None:
        self.query_one("#links").display = False
        self.query_one("#detail").focus()
        self.load()
        self.set_interval(1.0, self._follow)

    def _follow(self) -> None:
        if time.monotonic() < self.follow_until:
            self.load()

    @work(exclusive=True, group="message")
    async def load(self) -> None:
        source = self.context.source
        try:
            records = await source.records_of(self.message_id)
            trace: list[TraceRecord] = []
            if records:
                self.trace_id, self.near_ms = records[0].trace_id, records[0].stream_ms
                trace = await source.trace(self.trace_id, self.near_ms)
                # A replay sent long after its original: the trace read near the replay's
                # time may not reach back to it; its records are read by its id.
                original = records[0].replay_of
                if original and not any(r.id == original for r in trace):
                    trace += await source.records_of(original)
        except SourceUnavailable as exc:
            self.query_one("#title", Static).update(
                Text(f"message {self.message_id}: cannot read it now. {exc}", "bold red")
            )
            return
        buffer = self.model.buffer.records
        related = [r for r in buffer if r.replay_of == self.message_id]
        view = message_view(
            self.message_id, records, [*trace, *related], dead_letter=self.dead_letter
        )
        self.show(view)

    def show(self, view: MessageView) -> None:
        self.view = view
        title = Text.assemble(
            (view.label, "bold"),
            "  ",
            (view.status.upper() or "?", STATUS_STYLE.get(view.status, "")),
            "  ",
            (view.message_id, "cyan"),
        )
        self.query_one("#title", Static).update(title)
        links = self.query_one("#links", OptionList)
        # Re-read after a replay: the highlighted link stays highlighted.
        at = links.highlighted
        kept = links.get_option_at_index(at).id if at is not None else None
        links.clear_options()
        options = _links(view)
        links.add_options(options)
        ids = [option.id for option in options]
        if kept in ids:
            links.highlighted = ids.index(kept)
        links.display = links.option_count > 0
        self.query_one("#body", Static).update(Group(*self._sections(view)))
        self.refresh_bindings()

    def _sections(self, view: MessageView) -> list[RenderableType]:
        tz = self.model.tz
        parts: list[RenderableType] = []
        if not view.found:
            parts.append(
                Text(
                    "The trace stream holds no record of this message (trimmed, or traced "
                    "with tracing off).",
                    "yellow",
                )
            )
        if view.dead_letter is not None:
            letter = view.dead_letter
            parts.append(_heading("Dead letter"))
            parts.append(
                Text(
                    f"listener {letter.listener} (group {letter.group}) gave up after "
                    f"{letter.attempts} attempt(s) at {cells.stamp(letter.ts, tz)}\n"
                    f"{letter.error_type}: {letter.error}",
                    "magenta",
                )
            )
            if letter.traceback:
                parts.append(Text(letter.traceback, "dim"))
        if view.found:
            parts.append(_heading("Handling"))
            parts.append(Text(f"sent {cells.stamp(view.sent_at, tz)}", "dim"))
            parts.append(_handlings(view))
            for handling in view.handlings:
                if handling.error_type:
                    parts.append(
                        Text(
                            f"{handling.listener}: {handling.error_type}: {handling.error}",
                            "bold red",
                        )
                    )
                    if handling.traceback:
                        parts.append(Text(handling.traceback, "dim"))
        if view.result is not None:
            parts.append(
                _heading(f"Result ({view.returned_status}, {cells.duration(view.returned_ms)})")
            )
            parts.append(_json(view.result))
        flags = [f for f, on in (("truncated", view.truncated), ("redacted", view.redacted)) if on]
        parts.append(_heading("Payload" + (f" ({', '.join(flags)})" if flags else "")))
        parts.append(_json(view.payload) if view.payload else Text("(none recorded)", "dim"))
        if view.found:
            parts.append(_heading("Envelope"))
            envelope = Table.grid(padding=(0, 2))
            for name, value in view.envelope:
                envelope.add_row(Text(name, "dim"), value)
            parts.append(envelope)
            parts.append(_heading("Records"))
            parts.append(_records(view, tz))
        return parts

    # ------------------------------------------------------------ keys

    def action_trace(self) -> None:
        if self.trace_id:
            self.post_message(OpenTrace(self.trace_id, self.near_ms, self.message_id))

    def action_links(self) -> None:
        links = self.query_one("#links", OptionList)
        if links.display:
            links.focus()
            if links.highlighted is None:
                links.highlighted = 0

    def action_replay(self) -> None:
        """Replay to the listener that failed it when only one did (redrive its dead letter
        when there is one), else to every listener, as ``lightbus replay <id>``."""
        source = self.context.source
        failed = [
            h.listener for h in (self.view.handlings if self.view else ()) if h.status != "ok"
        ]
        only = failed[0] if len(failed) == 1 and len(self.view.handlings) > 1 else None
        letter = self.dead_letter or next(
            (
                d
                for d in self.model.dead_letters
                if d.message_id == self.message_id and d.listener == only
            ),
            None,
        )
        if letter is not None:
            self.run_replay(source.plan_redrive([letter]))
        else:
            self.run_replay(source.plan_replay(self.message_id, listener=only))

    def replayed(self) -> None:
        self.follow_until = time.monotonic() + 30  # until its outcome is in, most likely
        self.load()

    def action_scroll(self, direction: int) -> None:
        detail = self.query_one("#detail", VerticalScroll)
        detail.scroll_page_down() if direction > 0 else detail.scroll_page_up()

    def can(self, action: str) -> bool | None:
        if action == "trace":
            return bool(self.trace_id)
        if action == "links":
            return self.view is not None and bool(_links(self.view))
        return True

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            self.post_message(OpenMessage(event.option.id))


def _links(view: MessageView) -> list[Option]:
    options = []
    if view.cause is not None:
        how = "← replay of" if view.cause.message_id == view.replay_of else "← caused by"
        options.append(_option(how, view.cause.label, view.cause.status, view.cause.message_id))
    elif view.cause_id:
        how = "← replay of" if view.cause_id == view.replay_of else "← caused by"
        options.append(
            Option(Text(f"{how} {view.cause_id} (not in the stream)", "dim"), disabled=True)
        )
    for link in view.caused:
        options.append(_option("→ caused", link.label, link.status, link.message_id))
    for link in view.replays:
        options.append(_option("↻ replayed as", link.label, link.status, link.message_id))
    return options


def _option(how: str, label: str, status: str, message_id: str) -> Option:
    text = Text.assemble(
        (f"{how:<14}", "dim"),
        (label, "bold"),
        "  ",
        (status, STATUS_STYLE.get(status, "")),
        "  ",
        (cells.short_id(message_id), "cyan"),
    )
    return Option(text, id=message_id)


def _heading(text: str) -> Text:
    return Text(f"\n{text}", "bold underline")


def _json(text: str) -> RenderableType:
    return Syntax(text, "json", theme="ansi_dark", word_wrap=True, background_color="default")


def _handlings(view: MessageView) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("listener", "status", "attempts", "queued", "handler", "by"):
        table.add_column(column, no_wrap=True)
    for h in view.handlings:
        table.add_row(
            h.listener,
            Text(h.status, STATUS_STYLE.get(h.status, "")),
            str(h.attempts),
            cells.duration(h.queued_ms),
            cells.duration(h.duration_ms),
            h.handled_by,
        )
    if not view.handlings:
        table.add_row(Text("(not handled yet)", "dim"), "", "", "", "", "")
    return table


def _records(view: MessageView, tz: object) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("time", "step", "listener", "attempt", "status", "queued", "handler"):
        table.add_column(column, no_wrap=True)
    for r in view.records:
        table.add_row(
            cells.clock(r.ts, tz),  # type: ignore[arg-type]
            r.record,
            r.listener,
            str(r.attempt or ""),
            Text(r.status, STATUS_STYLE.get(r.status, "")),
            cells.duration(r.queued_ms) if r.queued_ms else "",
            cells.duration(r.duration_ms) if r.duration_ms else "",
        )
    return table
