"""The monitor's reading loop (asyncio, no textual): what the app's one reader worker runs.

:class:`Feeder` reads the bus through a :class:`~lightbus_tools.monitor.source.Source`
and hands what it read to ``deliver`` as plain updates:

- :class:`RecordsRead`: the history (``since_ms``), then live records in batches, at most
  one batch per ``flush_s``, so a firehose costs the screen a few redraws a second,
  not one per record;
- :class:`BusLook`: workers, consumer groups and dead letters, every ``poll_s``;
- :class:`LinkChanged`: connected, or disconnected with the error and when it retries.

When Redis goes away each loop retries with a doubling wait (``retry_first`` up to
``retry_cap``); the trace resumes after the last record read, so nothing the stream
still holds is missed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from lightbus_tools.monitor.health import DeadLetterEntry, GroupState, WorkerBeat
from lightbus_tools.monitor.source import Source, SourceUnavailable, TraceRecord


@dataclass(frozen=True)
class RecordsRead:
    records: list[TraceRecord]
    history: bool = False


@dataclass(frozen=True)
class BusLook:
    workers: list[WorkerBeat]
    groups: list[GroupState]
    dead_letters: list[DeadLetterEntry]


@dataclass(frozen=True)
class LinkChanged:
    state: str  # "connected" or "disconnected"
    detail: str = ""
    retry_in: float = 0.0


Update = RecordsRead | BusLook | LinkChanged
STOP_WAIT_S = 2.5  # longer than one blocking read of the trace (1 s)


@dataclass
class Feeder:
    source: Source
    deliver: Callable[[Update], object]
    since_ms: int | None = None
    history_limit: int = 10_000
    flush_s: float = 0.1
    poll_s: float = 2.0
    retry_first: float = 0.5
    retry_cap: float = 5.0
    _pending: list[TraceRecord] = field(default_factory=list)
    _state: str = "connecting"
    _stopping: bool = False

    async def run(self) -> None:
        """Read until cancelled."""
        tasks = [
            asyncio.create_task(self._trace(), name="monitor-trace"),
            asyncio.create_task(self._flush(), name="monitor-flush"),
            asyncio.create_task(self._look(), name="monitor-look"),
        ]
        try:
            await asyncio.gather(*tasks)
        finally:
            # A cancellation can be lost inside redis-py's blocking read (seen on Python
            # 3.11: the task goes on reading); the stop flag ends the follow within a
            # block of XREAD regardless, and the wait is bounded either way.
            self._stopping = True
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks, timeout=STOP_WAIT_S)

    def _stopped(self) -> bool:
        return self._stopping

    async def _trace(self) -> None:
        after: str | None = None
        wait = self.retry_first
        while not self._stopping:
            try:
                if after is None:
                    after = await self._start()
                else:
                    await self.source.last_id()  # is it back?
                self._connected()
                wait = self.retry_first
                async for record in self.source.follow(after, stop=self._stopped):
                    self._pending.append(record)
                    after = record.stream_id
            except SourceUnavailable as exc:
                self._lost(str(exc), wait)
                await asyncio.sleep(wait)
                wait = min(wait * 2, self.retry_cap)

    async def _start(self) -> str:
        """Deliver the history; the stream id to follow from."""
        top = await self.source.last_id()
        if self.since_ms is None:
            self.deliver(RecordsRead([], history=True))
            return top
        history = await self.source.history(self.since_ms, self.history_limit)
        self.deliver(RecordsRead(history, history=True))
        return history[-1].stream_id if history else top

    async def _flush(self) -> None:
        while True:
            await asyncio.sleep(self.flush_s)
            if self._pending:
                batch, self._pending = self._pending, []
                self.deliver(RecordsRead(batch))

    async def _look(self) -> None:
        wait = self.retry_first
        while True:
            try:
                workers = await self.source.workers()
                groups = await self.source.groups()
                dead = await self.source.dead_letters()
            except SourceUnavailable as exc:
                self._lost(str(exc), wait)
                await asyncio.sleep(wait)
                wait = min(wait * 2, self.retry_cap)
                continue
            wait = self.retry_first
            self._connected()
            self.deliver(BusLook(workers, groups, dead))
            await asyncio.sleep(self.poll_s)

    def _connected(self) -> None:
        if self._state != "connected":
            self._state = "connected"
            self.deliver(LinkChanged("connected"))

    def _lost(self, detail: str, retry_in: float) -> None:
        self._state = "disconnected"
        self.deliver(LinkChanged("disconnected", detail, retry_in))
