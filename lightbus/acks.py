"""Acknowledging handled stream entries in batches: one ``XACK`` with many ids.

A listener acknowledges an entry only after its handler returned (at-least-once). When
entries are handled in quick succession (a backlog, a burst of fires), their acks are
collected for one turn of the event loop and written together: one ``XACK`` per stream
carrying every id, and the ``event.handled`` trace record of each entry, in one write.
A lone entry pays no extra wait beyond that turn.

Each handler's task waits for the write that carries its ack, so a graceful stop (which
waits for in-flight handler tasks) and the entry's lease still wait for the ack. The
write is retried through a lost connection like every other delivery write
(:func:`lightbus.delivery.persist`); if Redis stays away, the entries stay pending and
are delivered again (at-least-once).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from lightbus.delivery import persist
from lightbus.trace import TraceRecord

if TYPE_CHECKING:
    from lightbus.events import ListenerRunner


class AckWriter:
    """Collects the acks of one listener and writes each turn's acks at once."""

    def __init__(self, runner: ListenerRunner) -> None:
        self.runner = runner
        self._pending: list[tuple[str, str, TraceRecord | None]] = []
        self._write: asyncio.Task[None] | None = None

    async def ack(self, stream: str, entry_id: str, record: TraceRecord | None) -> None:
        """Acknowledge ``entry_id`` of ``stream`` and write ``record``; return once written."""
        self._pending.append((stream, entry_id, record))
        write = self._write
        if write is None:
            # A task of the client's: closing the client cancels it (the entries then
            # stay pending, like those of cancelled handlers) before the connections go.
            write = self._write = self.runner.client.spawn(
                self._write_pending(), name="lightbus-acks"
            )
        # Shielded: a cancelled handler task must not cancel the write of other acks.
        await asyncio.shield(write)

    async def _write_pending(self) -> None:
        await asyncio.sleep(0)  # acks of handlers finishing in this turn join this write
        pending, self._pending = self._pending, []
        self._write = None  # acks from now on start the next write (queued behind this one)
        ids: dict[str, list[str]] = {}
        for stream, entry_id, _ in pending:
            ids.setdefault(stream, []).append(entry_id)
        runner = self.runner
        tracer = runner.client.tracer

        def build(pipe: Any) -> None:
            for stream, entry_ids in ids.items():
                pipe.xack(stream, runner.group, *entry_ids)
            for _, _, record in pending:
                tracer.add(pipe, record)

        # Retried through a lost connection; if Redis stays away the entries stay pending.
        await persist(runner, build, f"acknowledge {len(pending)} entries")
