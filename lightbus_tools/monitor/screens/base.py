"""What every monitor screen shares: the status bar, the footer, ``esc``, the empty hint.

Screens get a :class:`Context` (the model and the source) when they are made, and ask
for another screen by posting :class:`OpenMessage`, :class:`OpenTrace` or
:class:`ShowFeed`, which the app handles: no screen imports the app or another screen.

Top-level views (Live, APIs, Workers, Backlog, Dead letters) are the bases of the app's
modes; detail screens (Message, Trace, a dead-letter group) are pushed on top of them.
``esc`` on a detail screen goes back; on a view other than Live it goes to Live; on
Live it clears the filter.

:class:`TableScreen` is the base of the four table views: one ``DataTable`` redrawn from
the model's rows, keeping the cursor on the same row by its key, and a hint in place of
the table while it has no rows.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from lightbus_tools.monitor.health import DeadLetterEntry
from lightbus_tools.monitor.model import MonitorModel
from lightbus_tools.monitor.screens.replay import replay_flow
from lightbus_tools.monitor.source import Prepared, Source
from lightbus_tools.monitor.widgets.columns import Column, fitting
from lightbus_tools.monitor.widgets.statusbar import StatusBar

# Actions that change the bus. With --readonly they are hidden from the footer, help and
# palette, and refused.
MUTATING_ACTIONS = frozenset({"replay", "redrive", "purge"})

START_A_WORKER = (
    "To get something on the bus, start a worker in the folder of your bus.py:\n\n"
    "    lightbus run        (or: lightbus dev, the reloading development loop)\n\n"
    "then call an RPC or fire an event. Records show here as they are written."
)


Row = tuple[str, list[Text | str], Any]  # a table row: key, cells, what enter opens


@dataclass
class Context:
    """What screens need from the app."""

    model: MonitorModel
    source: Source


class OpenMessage(Message):
    """Show one message (the app pushes the Message screen)."""

    def __init__(self, message_id: str, dead_letter: DeadLetterEntry | None = None) -> None:
        super().__init__()
        self.message_id = message_id
        self.dead_letter = dead_letter


class OpenTrace(Message):
    """Show one trace, with the cursor on ``focus`` (a message id)."""

    def __init__(self, trace_id: str, near_ms: int | None, focus: str = "") -> None:
        super().__init__()
        self.trace_id = trace_id
        self.near_ms = near_ms
        self.focus = focus


class ShowFeed(Message):
    """Go to the Live feed, filtered by ``filter``."""

    def __init__(self, filter: str) -> None:
        super().__init__()
        self.filter = filter


class MonitorScreen(Screen[None]):
    """A screen with the status bar at the top and the footer of its bindings."""

    VIEW: ClassVar[str] = "live"  # the view the status bar highlights
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
    ]

    def __init__(self, context: Context) -> None:
        super().__init__()
        self.context = context
        self.model = context.model
        self.drawn = False  # composed and mounted: model_changed may touch the widgets

    def compose(self) -> ComposeResult:
        yield StatusBar(self.model, self.VIEW)
        yield from self.compose_body()
        yield Footer(compact=True)

    def compose_body(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        self.drawn = True  # (runs after the subclass's own on_mount)

    def model_changed(self, what: str) -> None:
        """The model changed (``records``, ``pause``, ``bus``, ``link``, ``filter``, or
        ``all`` of it): redraw."""
        if what != "records" or self.model.buffer.paused:  # live records do not change it
            self.query_one(StatusBar).refresh()

    def on_screen_resume(self) -> None:
        if self.drawn:
            self.model_changed("all")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in MUTATING_ACTIONS and self.model.options.readonly:
            return False
        return self.can(action)

    def can(self, action: str) -> bool | None:
        """Whether ``action`` works here now (as ``check_action``: None greys it out)."""
        return True

    def run_replay(self, prepare: Awaitable[Prepared]) -> None:
        """Plan, confirm and send a replay or redrive (see ``screens/replay.py``)."""
        self._replay(prepare)

    @work(exclusive=True, group="replay")
    async def _replay(self, prepare: Awaitable[Prepared]) -> None:
        if await replay_flow(self.app, self.context.source, prepare):
            self.replayed()

    def replayed(self) -> None:
        """A replay or redrive started here was sent."""

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()
        elif self.VIEW != "live":
            self.app.switch_mode("live")


class TableScreen(MonitorScreen):
    """A view drawn as one table of the model's rows, with the columns that fit."""

    COLUMNS: ClassVar[Sequence[Column]] = ()
    REDRAW_ON: ClassVar[frozenset[str]] = frozenset({"bus", "filter", "all"})
    # A view whose rows open binds enter to "open_row", with priority: before the table's
    # own (hidden) enter, so that the footer names what it does.
    values: dict[Any, Any]

    def compose_body(self) -> ComposeResult:
        yield DataTable(cursor_type="row", zebra_stripes=True)
        yield Static("", classes="hint")

    def on_mount(self) -> None:
        self.shown: list[int] = []
        self._fitted: list[tuple[int, int]] = []
        self.values = {}
        self.redraw()

    def on_resize(self, event: events.Resize) -> None:
        self.redraw()

    def model_changed(self, what: str) -> None:
        super().model_changed(what)
        if what in self.REDRAW_ON:
            self.redraw()

    def _fit(self, rows: list[Row]) -> None:
        """Show the columns that fit the screen with the widths these rows need."""
        needed = []
        for i, column in enumerate(self.COLUMNS):
            width = max([column.width, *(_width(cells[i]) for _, cells, _ in rows)])
            needed.append(replace(column, width=min(width, column.most or width)))
        # A cell has one cell of padding either side; the scroll bar takes two.
        fitted = fitting(needed, self.app.size.width - 2, gap=2)
        shown = [i for i, _ in fitted]
        if fitted != self._fitted:
            self._fitted = fitted
            self.shown = shown
            table: DataTable[Any] = self.query_one(DataTable)
            table.clear(columns=True)
            for i, width in fitted:
                column = self.COLUMNS[i]
                # A column that may cut its content gets a fixed width; the others fit theirs.
                table.add_column(
                    column.title, key=column.title, width=width if column.most else None
                )

    def rows(self) -> list[Row]:
        """(key, cells, value) per row, in order."""
        raise NotImplementedError

    def empty_hint(self) -> str:
        raise NotImplementedError

    def redraw(self) -> None:
        table: DataTable[Any] = self.query_one(DataTable)
        rows = self.rows()
        self.values = {key: value for key, _, value in rows}
        selected = None
        if table.row_count:
            selected = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        self._fit(rows)
        table.clear()
        for key, cells, _ in rows:
            table.add_row(*(cells[i] for i in self.shown), key=key)
        keys = [key for key, _, _ in rows]
        if selected in keys:
            table.move_cursor(row=keys.index(selected), animate=False, scroll=True)
        hint = self.query_one(".hint", Static)
        if rows:
            hint.display = False
            table.display = True
        else:
            hint.update(self.no_rows_text())
            hint.display = True
            table.display = False
        self.refresh_bindings()

    def no_rows_text(self) -> str:
        if not self.model.filter.empty:
            return f"No rows match the filter  {self.model.filter.text}  (esc on Live clears it)"
        return self.empty_hint()

    def selected_value(self) -> Any:
        table: DataTable[Any] = self.query_one(DataTable)
        if not table.row_count or not table.display:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self.values.get(key)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        value = self.values.get(event.row_key.value)
        if value is not None:
            self.open(value)

    def action_open_row(self) -> None:
        value = self.selected_value()
        if value is not None:
            self.open(value)

    def can(self, action: str) -> bool | None:
        if action == "open_row":
            return self.selected_value() is not None
        return True

    def open(self, value: Any) -> None:
        """Enter on a row."""


def _width(cell: Text | str) -> int:
    return cell.cell_len if isinstance(cell, Text) else cell_len(cell)
