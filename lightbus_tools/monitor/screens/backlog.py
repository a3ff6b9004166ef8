"""Backlog: per event stream and consumer group, how much is waiting and for how long.

The state column says when a group falls behind (``lag rising`` since the last look, or
``stuck``: its oldest pending entry waited longer than the acknowledgement timeout) and
how many pending entries are one failed delivery away from the dead letters (``near
dead``). ``enter`` shows the event's records.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType

from lightbus_tools.monitor import cells
from lightbus_tools.monitor.health import BacklogRow
from lightbus_tools.monitor.screens.base import Row, ShowFeed, TableScreen
from lightbus_tools.monitor.widgets.columns import Column


class BacklogScreen(TableScreen):
    VIEW = "backlog"
    COLUMNS = (
        Column("api.name", 14),
        Column("group", 14),
        Column("length", 6, drop=3),
        Column("lag", 3),
        Column("pending", 7),
        Column("oldest", 6, drop=1),
        Column("attempts", 8, drop=2),
        Column("state", 10),
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open_row", "Show records", priority=True)
    ]

    def rows(self) -> list[Row]:
        found: list[Row] = []
        for row in self.model.backlog_rows():
            state = row.state
            flags = []
            if row.lag_rising:
                flags.append("lag rising")
            if row.stuck:
                flags.append("stuck")
            if row.near_dead:
                flags.append(f"{row.near_dead} near dead")
            found.append(
                (
                    "|".join(row.key),
                    [
                        Text(f"{state.api}.{state.name}", "bold"),
                        state.group,
                        str(state.length),
                        "?" if state.lag is None else str(state.lag),
                        Text(str(state.pending), "yellow" if state.pending else ""),
                        cells.age(row.oldest_age_s),
                        str(row.highest_attempt or ""),
                        Text(", ".join(flags) or "ok", "bold red" if flags else "green"),
                    ],
                    row,
                )
            )
        return found

    def empty_hint(self) -> str:
        if not self.model.bus_state_read:
            return "Reading consumer groups ..."
        return (
            "No event stream has a consumer group yet.\n\nA listener makes one when its "
            "worker starts (`lightbus run`); its backlog shows here."
        )

    def open(self, value: BacklogRow) -> None:
        self.post_message(ShowFeed(f"api:{value.state.api} name:{value.state.name}"))
