"""Everything the monitor knows, in one object the screens read (pure Python, no textual).

:class:`MonitorModel` holds the live feed's buffer and filter, the per-name figures, the
state of the connection, and the last look at workers, consumer groups and dead letters.
The reader feeds it (:meth:`MonitorModel.ingest`, :meth:`MonitorModel.set_bus_state`,
:meth:`MonitorModel.connection`); the screens ask it for rows. Time comes from ``clock``
and is shown in ``tz``, so tests can fix both.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import tzinfo

from lightbus_tools.monitor import health
from lightbus_tools.monitor.buffer import RecordBuffer
from lightbus_tools.monitor.filters import Filter, parse_filter
from lightbus_tools.monitor.health import (
    BacklogRow,
    DeadLetterEntry,
    DeadLetterGroup,
    GroupState,
    WorkerBeat,
    WorkerRow,
)
from lightbus_tools.monitor.source import TraceRecord
from lightbus_tools.monitor.stats import ApiRow, ApiStats

DEFAULT_MAX_RECORDS = 10_000


@dataclass(frozen=True)
class Options:
    """What the command line (or a test) sets."""

    max_records: int = DEFAULT_MAX_RECORDS
    max_attempts: int = 5  # the bus's default: entries this close to it are flagged
    ack_timeout: float = 60.0  # a pending entry older than this makes its group "behind"
    readonly: bool = False
    where: str = ""  # the Redis URL, password hidden


@dataclass(frozen=True)
class Connection:
    """``connecting``, ``connected`` or ``disconnected`` (with why and when it retries)."""

    state: str = "connecting"
    detail: str = ""
    retry_at: float = 0.0

    def describe(self, now: float) -> str:
        if self.state == "disconnected":
            wait = max(0.0, self.retry_at - now)
            if wait >= 1:
                return f"disconnected, retrying in {wait:.0f}s"
            return "disconnected, retrying"
        return self.state


class MonitorModel:
    def __init__(
        self,
        options: Options | None = None,
        *,
        clock: Callable[[], float] = time.time,
        tz: tzinfo | None = None,
    ) -> None:
        self.options = options or Options()
        self.clock = clock
        self.tz = tz
        self.buffer = RecordBuffer(self.options.max_records)
        self.stats = ApiStats()
        self.link = Connection()
        self.workers: list[WorkerBeat] = []
        self.groups: list[GroupState] = []
        self.dead_letters: list[DeadLetterEntry] = []
        self.backlog: list[BacklogRow] = []
        self.bus_state_read = False  # workers, groups and dead letters read at least once
        self.history_read = False
        self._lags: dict[tuple[str, str, str], int | None] = {}

    # ------------------------------------------------------------ fed by the reader

    def ingest(self, records: Iterable[TraceRecord]) -> None:
        batch = records if isinstance(records, list) else list(records)
        self.stats.add(batch)
        self.buffer.add(batch)

    def connection(self, state: str, detail: str = "", retry_in: float = 0.0) -> None:
        self.link = Connection(state, detail, self.clock() + retry_in if retry_in else 0.0)

    def set_bus_state(
        self,
        workers: list[WorkerBeat],
        groups: list[GroupState],
        dead_letters: list[DeadLetterEntry],
    ) -> None:
        self.workers, self.groups, self.dead_letters = workers, groups, dead_letters
        self.backlog = health.backlog_rows(
            groups,
            self.clock(),
            max_attempts=self.options.max_attempts,
            ack_timeout=self.options.ack_timeout,
            previous=self._lags,
        )
        self._lags = {row.key: row.state.lag for row in self.backlog}
        self.bus_state_read = True

    # ------------------------------------------------------------ the live feed

    @property
    def filter(self) -> Filter:
        return self.buffer.filter

    def set_filter(self, text: str) -> Filter:
        """Parse and apply a filter. Raises ``FilterError`` and keeps the old one."""
        parsed = parse_filter(text)
        self.buffer.set_filter(parsed)
        return parsed

    def clear_filter(self) -> None:
        self.buffer.set_filter(Filter())

    def toggle_pause(self) -> bool:
        """Pause or resume the feed; True when now paused."""
        if self.buffer.paused:
            self.buffer.resume()
        else:
            self.buffer.pause()
        return self.buffer.paused

    @property
    def empty(self) -> bool:
        """Nothing to show yet: no record read and no worker heard of."""
        return self.buffer.seen == 0 and not self.workers

    def feed_state(self) -> str:
        """``live`` or ``paused, 12 new``."""
        if self.buffer.paused:
            return f"paused, {self.buffer.held_count:,} new"
        return "live"

    # ------------------------------------------------------------ table screens

    def api_rows(self) -> list[ApiRow]:
        rows = self.stats.rows(int(self.clock() * 1000))
        return [r for r in rows if self.filter.allows(api=r.api, name=r.name)]

    def worker_rows(self) -> list[WorkerRow]:
        rows = health.worker_rows(self.workers, self.clock())
        return [r for r in rows if self.filter.allows(api="", name="", service=r.beat.service)]

    def backlog_rows(self) -> list[BacklogRow]:
        return [r for r in self.backlog if self._allows_group(r.state)]

    def dead_letter_groups(self) -> list[DeadLetterGroup]:
        entries = (
            e
            for e in self.dead_letters
            if self.filter.allows(api=e.api, name=e.name, listener=e.listener)
        )
        return health.dead_letter_groups(entries)

    def _allows_group(self, state: GroupState) -> bool:
        # A group is named "<service>.<listener>" and either may hold dots: try each split.
        parts = state.group.split(".")
        splits = [(".".join(parts[:i]), ".".join(parts[i:])) for i in range(1, len(parts))]
        return any(
            self.filter.allows(api=state.api, name=state.name, service=svc, listener=lst)
            for svc, lst in splits or [("", state.group)]
        )
