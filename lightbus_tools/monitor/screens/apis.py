"""APIs: per api.name, the rate (with a sparkline of the last minutes), handler times and
errors. ``enter`` shows that api.name's records on the Live feed."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType

from lightbus_tools.monitor import cells
from lightbus_tools.monitor.screens.base import START_A_WORKER, Row, ShowFeed, TableScreen
from lightbus_tools.monitor.stats import ApiRow
from lightbus_tools.monitor.widgets.columns import Column

REFRESH_S = 1.0


class ApisScreen(TableScreen):
    VIEW = "apis"
    COLUMNS = (
        Column("api.name", 16),
        Column("rate/s", 6),
        Column("last 5 min", 15, drop=2),
        Column("p50", 6),
        Column("p99", 6, drop=1),
        Column("errors", 9),
        Column("dead", 4),
        Column("last error", 20, drop=3, most=40),
    )
    REDRAW_ON = frozenset({"filter", "all"})  # and once a second: rates move with time
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open_row", "Show records", priority=True)
    ]

    def on_mount(self) -> None:
        super().on_mount()
        self.set_interval(REFRESH_S, self.redraw)

    def rows(self) -> list[Row]:
        found: list[Row] = []
        for row in self.model.api_rows():
            errors = Text("0", "dim")
            if row.errors:
                errors = Text(f"{row.errors} {cells.percent(row.error_rate)}", "bold red")
            dead = Text(str(row.dead), "bold magenta") if row.dead else Text("")
            found.append(
                (
                    f"{row.api}.{row.name}",
                    [
                        Text(f"{row.api}.{row.name}", "bold"),
                        cells.rate(row.rate),
                        Text(cells.sparkline(row.series), "cyan"),
                        cells.duration(row.p50_ms),
                        cells.duration(row.p99_ms),
                        errors,
                        dead,
                        Text(row.last_error, "red"),
                    ],
                    row,
                )
            )
        return found

    def empty_hint(self) -> str:
        return (
            "No api.name has been seen since the monitor started (records of the last "
            f"--since window count too).\n\n{START_A_WORKER}"
        )

    def open(self, value: ApiRow) -> None:
        self.post_message(ShowFeed(f"api:{value.api} name:{value.name}"))
