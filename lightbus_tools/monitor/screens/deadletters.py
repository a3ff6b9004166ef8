"""Dead letters: events a listener gave up on, grouped by api.name, listener and error type.

``enter`` on a group lists its dead letters; ``enter`` on one opens its message, with the
error and traceback kept in the dead letter even when the trace has been trimmed.
``R`` redrives a whole group, ``r`` one dead letter: each is replayed to the listener that
gave up on it (``lightbus.redrive``, as ``lightbus deadletters replay``), after the
confirmation, and marked so that it is not redriven twice.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static

from lightbus_tools.monitor import cells
from lightbus_tools.monitor.health import DeadLetterEntry, DeadLetterGroup
from lightbus_tools.monitor.screens.base import Context, OpenMessage, Row, TableScreen
from lightbus_tools.monitor.widgets.columns import Column


class DeadLettersScreen(TableScreen):
    VIEW = "dead"
    COLUMNS = (
        Column("api.name", 16),
        Column("listener", 14),
        Column("error type", 14),
        Column("count", 5),
        Column("first", 14, drop=1),
        Column("last", 14),
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open_row", "Open group", priority=True),
        Binding("R", "redrive", "Redrive group"),
    ]

    def rows(self) -> list[Row]:
        tz = self.model.tz
        return [
            (
                "|".join(group.key),
                [
                    Text(f"{group.api}.{group.name}", "bold"),
                    group.listener,
                    Text(group.error_type, "red"),
                    Text(str(group.count), "bold magenta"),
                    cells.stamp(group.first_ts, tz, year=False),
                    cells.stamp(group.last_ts, tz, year=False),
                ],
                group,
            )
            for group in self.model.dead_letter_groups()
        ]

    def empty_hint(self) -> str:
        if not self.model.bus_state_read:
            return "Reading dead letters ..."
        return (
            "No dead letters.\n\nAn event lands here when a listener fails it max_attempts "
            f"times (here {self.model.options.max_attempts}), or when it cannot be decoded."
        )

    def open(self, value: DeadLetterGroup) -> None:
        self.app.push_screen(DeadLetterGroupScreen(self.context, value))

    def can(self, action: str) -> bool | None:
        if action == "redrive":
            return self.selected_value() is not None
        return super().can(action)

    def action_redrive(self) -> None:
        group = self.selected_value()
        if group is not None:
            self.run_replay(self.context.source.plan_redrive(group.entries))


class DeadLetterGroupScreen(TableScreen):
    """The dead letters of one group, newest first."""

    VIEW = "dead"
    COLUMNS = (
        Column("dead-lettered", 19),
        Column("message", 32),
        Column("attempts", 8, drop=1),
        Column("error", 20, drop=2, most=50),
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open_row", "Open message", priority=True),
        Binding("r", "replay", "Redrive it"),
        Binding("R", "redrive", "Redrive all"),
    ]

    def __init__(self, context: Context, group: DeadLetterGroup) -> None:
        super().__init__(context)
        self.group = group

    def compose_body(self) -> ComposeResult:
        g = self.group
        yield Static(
            Text.assemble(
                (f"{g.api}.{g.name}", "bold"),
                f"  listener {g.listener}  ",
                (g.error_type, "red"),
                f"  {g.count} dead letter{'s' if g.count != 1 else ''}",
            ),
            id="title",
        )
        yield from super().compose_body()

    def rows(self) -> list[Row]:
        tz = self.model.tz
        return [
            (
                entry.stream_id,
                [
                    cells.stamp(entry.ts, tz),
                    Text(entry.message_id or "(did not decode)", "cyan"),
                    str(entry.attempts),
                    Text(entry.error.splitlines()[0] if entry.error else "", "red"),
                ],
                entry,
            )
            for entry in self.group.entries
        ]

    def empty_hint(self) -> str:
        return "This group is empty."

    def open(self, value: DeadLetterEntry) -> None:
        if value.message_id:
            self.post_message(OpenMessage(value.message_id, value))

    def can(self, action: str) -> bool | None:
        if action == "replay":
            return self.selected_value() is not None
        if action == "redrive":
            return bool(self.group.entries)
        return super().can(action)

    def action_replay(self) -> None:
        letter = self.selected_value()
        if letter is not None:
            self.run_replay(self.context.source.plan_redrive([letter]))

    def action_redrive(self) -> None:
        self.run_replay(self.context.source.plan_redrive(self.group.entries))
