"""Acknowledging handled stream entries in batches: one ``XACK`` with many ids.

A listener acknowledges an entry only after its handler returned (at-least-once). When
entries are handled in quick succession (a backlog, a burst of fires), their acks are
collected for one turn of the event loop and written together: one ``XACK`` per stream
carrying every id, and the ``event.handled`` trace record of each entry, in one write.
A lone entry pays no extra wait beyond that turn.

The handler's slot is free as soon as it returns, but the entry stays held by the
listener (its lease renewed, handed back at shutdown if need be) until its ack is written;
a handler task waits for every pending ack before it ends at a graceful stop. The write is
retried through a lost connection like every other delivery write
(:func:`lightbus.consumer.delivery.persist`); if Redis stays away, the entries stay pending and
are delivered again (at-least-once).
"""

from __future__ import annotations

import asyncio
from typing import Any

from lightbus.consumer.delivery import persist
from lightbus.consumer.entry import Entry, Holder
from lightbus.trace import MessageStep, TraceRecord


class AckWriter:
    """Collects the acks of one listener and writes each turn's acks at once."""

    def __init__(self, runner: Holder) -> None:
        self.runner = runner
        self._pending: list[tuple[Entry, TraceRecord | MessageStep | None]] = []
        self._writes: set[asyncio.Task[None]] = set()
        self._scheduled = False

    def add(self, entry: Entry, record: TraceRecord | MessageStep | None) -> None:
        """Acknowledge ``entry`` and write ``record`` in this turn's write."""
        entry.acking = True
        self._pending.append((entry, record))
        if not self._scheduled:
            self._scheduled = True
            # A task of the client's: closing the client cancels it (the entries then
            # stay pending, like those of cancelled handlers) before the connections go.
            write = self.runner.parts.spawn(self._write_pending(), name="lightbus-acks")
            self._writes.add(write)
            write.add_done_callback(self._writes.discard)

    async def flushed(self) -> None:
        """Return once every ack added so far is written (or given up on)."""
        while self._writes:
            # Shielded: a cancelled waiter must not cancel the write of other acks.
            await asyncio.gather(*(asyncio.shield(w) for w in self._writes), return_exceptions=True)

    async def _write_pending(self) -> None:
        await asyncio.sleep(0)  # acks of handlers finishing in this turn join this write
        pending, self._pending = self._pending, []
        self._scheduled = False  # acks from now on start the next write
        ids: dict[str, list[str]] = {}
        for entry, _ in pending:
            ids.setdefault(entry.stream, []).append(entry.entry_id)
        runner = self.runner
        tracer = runner.parts.tracer

        def build(pipe: Any) -> None:
            for stream, entry_ids in ids.items():
                pipe.xack(stream, runner.group, *entry_ids)
            for _, record in pending:
                tracer.add(pipe, record)

        try:
            # Retried through a lost connection; if Redis stays away the entries stay
            # pending and are redelivered.
            await persist(runner, build, f"acknowledge {len(pending)} entries")
        finally:
            for entry, _ in pending:
                runner.forget(entry)
