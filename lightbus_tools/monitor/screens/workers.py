"""Workers: every worker's last heartbeat; a worker that missed three beats is stale."""

from __future__ import annotations

from rich.text import Text

from lightbus_tools.monitor import cells
from lightbus_tools.monitor.screens.base import START_A_WORKER, Row, TableScreen
from lightbus_tools.monitor.widgets.columns import Column


class WorkersScreen(TableScreen):
    VIEW = "workers"
    COLUMNS = (
        Column("process", 14),
        Column("service", 10),
        Column("host", 8, drop=3),
        Column("pid", 6, drop=3),
        Column("apis", 12),
        Column("listeners", 14, drop=2),
        Column("in flight", 9),
        Column("last seen", 9),
        Column("version", 9, drop=4),
    )

    def rows(self) -> list[Row]:
        found: list[Row] = []
        for row in self.model.worker_rows():
            beat = row.beat
            seen = Text(f"{cells.age(row.age_s)} ago")
            if row.stale:
                seen = Text(f"STALE {cells.age(row.age_s)} ago", "bold red")
            found.append(
                (
                    beat.process,
                    [
                        Text(beat.process, "dim" if row.stale else "bold"),
                        beat.service,
                        beat.host,
                        str(beat.pid),
                        ", ".join(beat.apis),
                        ", ".join(beat.listeners),
                        str(beat.in_flight),
                        seen,
                        beat.version,
                    ],
                    row,
                )
            )
        return found

    def empty_hint(self) -> str:
        if not self.model.bus_state_read:
            return "Reading heartbeats ..."
        return f"No worker has sent a heartbeat.\n\n{START_A_WORKER}"
