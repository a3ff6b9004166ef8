"""The live feed's records: a bounded buffer, the filtered view of it, and pause (pure Python).

The buffer keeps the newest ``cap`` records; the view keeps the newest ``cap`` of those
that pass the filter (changing the filter rebuilds it from the buffer). Both are rings,
so the screen reads any row by its position from the newest in constant time and draws
only the rows it shows.

While paused, new records are held aside, up to ``cap`` of them, and counted; resuming
adds them. So memory holds at most ``cap`` records shown and ``cap`` held.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

from lightbus_tools.monitor.filters import Filter
from lightbus_tools.monitor.source import TraceRecord

T = TypeVar("T")


class Ring(Generic[T]):
    """A fixed-size ring: append evicts the oldest once full; index 0 is the newest."""

    __slots__ = ("_cap", "_items", "_next", "_size")

    def __init__(self, cap: int) -> None:
        if cap < 1:
            raise ValueError(f"a ring holds at least 1 item, not {cap}")
        self._cap = cap
        self._items: list[T | None] = [None] * cap
        self._next = 0
        self._size = 0

    def append(self, item: T) -> None:
        self._items[self._next] = item
        self._next = (self._next + 1) % self._cap
        if self._size < self._cap:
            self._size += 1

    def newest(self, index: int) -> T:
        """The item ``index`` places from the newest (0 is the newest)."""
        if not 0 <= index < self._size:
            raise IndexError(index)
        item = self._items[(self._next - 1 - index) % self._cap]
        assert item is not None
        return item

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[T]:
        """Oldest first."""
        for index in range(self._size - 1, -1, -1):
            yield self.newest(index)

    def clear(self) -> None:
        self._items = [None] * self._cap
        self._next = self._size = 0


class RecordBuffer:
    """The records of the live feed, newest first through :meth:`newest`."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.records: Ring[TraceRecord] = Ring(cap)
        self.filter = Filter()
        self._view: Ring[TraceRecord] | None = None  # None: no filter, the view is `records`
        self.paused = False
        self._held: deque[TraceRecord] = deque(maxlen=cap)
        self.held_count = 0  # records that arrived while paused (also those beyond `cap`)
        self.seen = 0  # every record ever added
        self.shown = 0  # every record ever added to the view (the screen keeps its place by it)

    @property
    def view(self) -> Ring[TraceRecord]:
        return self.records if self._view is None else self._view

    def __len__(self) -> int:
        return len(self.view)

    def newest(self, index: int) -> TraceRecord:
        return self.view.newest(index)

    def add(self, records: Iterable[TraceRecord]) -> None:
        if self.paused:
            for record in records:
                self._held.append(record)
                self.held_count += 1
                self.seen += 1
            return
        self._take(records)

    def _take(self, records: Iterable[TraceRecord]) -> None:
        append = self.records.append
        view = self._view
        matches = self.filter.matches
        for record in records:
            self.seen += 1
            append(record)
            if view is None:
                self.shown += 1
            elif matches(record):
                view.append(record)
                self.shown += 1

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> int:
        """Show what was held; returns how many records arrived while paused."""
        held, count = list(self._held), self.held_count
        self._held.clear()
        self.held_count = 0
        self.paused = False
        self.seen -= len(held)  # counted when held
        self._take(held)
        return count

    def set_filter(self, new: Filter) -> None:
        self.filter = new
        if new.empty:
            self._view = None
        else:
            self._view = Ring(self.cap)
            for record in self.records:
                if new.matches(record):
                    self._view.append(record)
        self.shown += len(self.view)  # a new view: the screen starts from its top
