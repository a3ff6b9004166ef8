"""The monitor's Textual app: the wiring, the keys that work everywhere, one reader worker.

The views (Live, APIs, Workers, Backlog, Dead letters) are the app's modes, switched
with ``1``-``5`` or the command palette (``:`` or ``ctrl+p``). The one reader worker runs
the :class:`~lightbus_tools.monitor.feeder.Feeder`, which posts what it reads as
:class:`Fed` messages; each goes into the model, and the screen on display redraws.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Iterable
from functools import partial
from typing import ClassVar

from textual import work
from textual.app import App, ScreenStackError, SystemCommand
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import Screen
from textual.worker import WorkerCancelled, WorkerFailed

from lightbus_tools.monitor.feeder import BusLook, Feeder, LinkChanged, RecordsRead, Update
from lightbus_tools.monitor.model import MonitorModel
from lightbus_tools.monitor.screens.apis import ApisScreen
from lightbus_tools.monitor.screens.backlog import BacklogScreen
from lightbus_tools.monitor.screens.base import (
    MUTATING_ACTIONS,
    Context,
    MonitorScreen,
    OpenMessage,
    OpenTrace,
    ShowFeed,
)
from lightbus_tools.monitor.screens.deadletters import DeadLettersScreen
from lightbus_tools.monitor.screens.live import LiveScreen
from lightbus_tools.monitor.screens.message import MessageScreen
from lightbus_tools.monitor.screens.prompts import FilterPrompt, HelpScreen
from lightbus_tools.monitor.screens.trace import TraceScreen
from lightbus_tools.monitor.screens.workers import WorkersScreen
from lightbus_tools.monitor.source import Source
from lightbus_tools.monitor.widgets.statusbar import VIEWS

VIEW_SCREENS: dict[str, type[MonitorScreen]] = {
    "live": LiveScreen,
    "apis": ApisScreen,
    "workers": WorkersScreen,
    "backlog": BacklogScreen,
    "dead": DeadLettersScreen,
}


class Fed(Message):
    """One update from the reader worker."""

    def __init__(self, update: Update) -> None:
        super().__init__()
        self.update = update


class MonitorApp(App[None]):
    CSS_PATH = "monitor.tcss"
    TITLE = "lightbus monitor"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "help", "Help"),
        Binding("slash", "filter", "Filter"),
        Binding("colon", "command_palette", "Command palette: any view or action", show=False),
        *[Binding(key, f"view('{name}')", title, show=False) for name, key, title in VIEWS],
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        source: Source,
        model: MonitorModel,
        *,
        since_ms: int | None = None,
        poll_s: float = 2.0,
        flush_s: float = 0.1,
        freeze_gc: bool = False,
    ) -> None:
        super().__init__()
        self.source = source
        self.model = model
        self.context = Context(model, source)
        self.since_ms = since_ms
        self.poll_s = poll_s
        self.flush_s = flush_s
        self.freeze_gc = freeze_gc
        for name, screen in VIEW_SCREENS.items():
            self.add_mode(name, partial(screen, self.context))

    def on_mount(self) -> None:
        self.switch_mode("live")
        self.read_bus()
        self.set_interval(1.0, self._tick)
        if self.freeze_gc:
            # What exists once the app is up (textual, the screens) lives as long as the
            # process: kept out of the collector, a full collection under a firehose walks
            # only the records, and pauses the screen about half as long (measured).
            self.call_after_refresh(gc.freeze)

    @work(exclusive=True, group="reader")
    async def read_bus(self) -> None:
        feeder = Feeder(
            self.source,
            lambda update: self.post_message(Fed(update)),
            since_ms=self.since_ms,
            history_limit=self.model.options.max_records,
            flush_s=self.flush_s,
            poll_s=self.poll_s,
        )
        await feeder.run()

    async def on_unmount(self) -> None:
        # The reader was cancelled as the app stopped; let it close its connection first.
        with contextlib.suppress(TimeoutError, WorkerCancelled, WorkerFailed):
            await asyncio.wait_for(self.workers.wait_for_complete(), 5)
        await self.source.close()

    def on_fed(self, message: Fed) -> None:
        update = message.update
        if isinstance(update, RecordsRead):
            self.model.ingest(update.records)
            self.model.history_read |= update.history
            self.refresh_model("records")
        elif isinstance(update, BusLook):
            self.model.set_bus_state(update.workers, update.groups, update.dead_letters)
            self.refresh_model("bus")
        elif isinstance(update, LinkChanged):
            self.model.connection(update.state, update.detail, update.retry_in)
            self.refresh_model("link")

    def refresh_model(self, what: str) -> None:
        try:
            screen = self.screen
        except ScreenStackError:  # shutting down: the screens are gone
            return
        if isinstance(screen, MonitorScreen) and screen.drawn and screen.is_attached:
            # (NoMatches: shutting down, the screen's widgets are already gone)
            with contextlib.suppress(NoMatches):
                screen.model_changed(what)

    def _tick(self) -> None:
        if self.model.link.state == "disconnected":
            self.refresh_model("link")  # the "retrying in" countdown

    # ------------------------------------------------------------ navigation

    def on_open_message(self, message: OpenMessage) -> None:
        self.push_screen(
            MessageScreen(self.context, message.message_id, dead_letter=message.dead_letter)
        )

    def on_open_trace(self, message: OpenTrace) -> None:
        self.push_screen(
            TraceScreen(self.context, message.trace_id, message.near_ms, message.focus)
        )

    def on_show_feed(self, message: ShowFeed) -> None:
        self.model.set_filter(message.filter)
        self.switch_mode("live")

    def action_view(self, name: str) -> None:
        self.switch_mode(name)

    def action_filter(self) -> None:
        def apply(text: str | None) -> None:
            if text is None:
                return
            if text.strip():
                self.model.set_filter(text)
            else:
                self.model.clear_filter()
            self.refresh_model("filter")

        self.push_screen(FilterPrompt(self.model.filter.text), apply)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action in MUTATING_ACTIONS and self.model.options.readonly)

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        for name, key, title in VIEWS:
            yield SystemCommand(
                f"Go to {title}", f"the {title} view (key {key})", partial(self.switch_mode, name)
            )
        yield SystemCommand("Filter", "filter records (key /)", self.action_filter)
        yield SystemCommand("Clear filter", "show every record", self._clear_filter)
        yield SystemCommand(
            "Pause or resume", "hold new records on Live (key space)", self._toggle_pause
        )
        yield SystemCommand("Help", "every key, and the filter terms (key ?)", self.action_help)
        yield from super().get_system_commands(screen)

    def _clear_filter(self) -> None:
        self.model.clear_filter()
        self.refresh_model("filter")

    def _toggle_pause(self) -> None:
        self.model.toggle_pause()
        self.refresh_model("pause")
