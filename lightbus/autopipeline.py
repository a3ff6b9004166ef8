"""The bus's write path: small command groups sent together, on one connection.

Every message the bus sends is a small group of writes that belong together (an
``XADD`` of the event and the ``XADD`` of its trace record; ``XACK`` and its record;
the ``RPUSH`` of a result, its ``PEXPIRE`` and its record). Sending each group through a
redis-py ``Pipeline`` costs far more Python than the round trip itself (profiled: about
half of an RPC's client-side time). :class:`AutoPipeline` instead:

- packs the commands itself (:mod:`lightbus.resp`, which holds all of the bus's
  hand-written Redis protocol);
- writes a group at once when the connection is idle, and every group that arrives
  while a write is in flight together in the next write, on one dedicated connection,
  so a lone RPC pays no extra hop and many concurrent fires or acks share round trips;
- reads the replies in order and hands each group its own, raising the first error
  reply of a group to that group's sender only.

The connection is made from the client's pool settings (URL, TLS, ACL, retry policy),
so it behaves like any other connection of the bus; a connection error is retried
under the same policy as redis-py's pipelines, then raised to every sender of the
failed write as :class:`~lightbus.errors.BusConnectionError`, within
``connect_timeout`` plus a second, like :func:`~lightbus.connection.guarded`.
Blocking reads never go through here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from redis.exceptions import ResponseError

from lightbus.connection import CONNECTION_ERRORS, connection_error
from lightbus.context import detached
from lightbus.resp import Commands, RawConnection
from lightbus.settings import Settings

logger = logging.getLogger("lightbus.trace")


class Batch(Commands):
    """A group of commands sent together: the subset of redis-py's pipeline the bus uses.

    ``async with client.pipeline() as pipe: pipe.xadd(...); await pipe.execute()``.
    Each command is packed as it is added (:class:`~lightbus.resp.Commands`); the
    constant part of it only once per process.
    """

    __slots__ = ("_sender", "records")

    def __init__(self, sender: AutoPipeline) -> None:
        super().__init__()
        self._sender = sender
        self.records: list[Any] = []

    async def __aenter__(self) -> Batch:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.parts = []
        self.count = 0
        self.records = []

    def add_trace_record(self, record: Any) -> None:
        """Write ``record`` with this group: the records of a whole write share one entry.

        The record is opaque here: the trace sink turns the records of a write into
        commands (see ``trace_commands``)."""
        self.records.append(record)

    async def execute(self) -> list[Any]:
        parts, count, records = self.parts, self.count, self.records
        self.parts, self.count, self.records = [], 0, []
        if not count and not records:
            return []
        return await self._sender.send(b"".join(parts), count, records)


_Group = tuple[bytes, int, list[Any], "asyncio.Future[list[Any]]"]


class AutoPipeline:
    """Sends command groups for one event loop over one dedicated connection."""

    def __init__(
        self,
        pool: Any,
        settings: Settings,
        trace_commands: Callable[[list[Any]], tuple[bytes, int]] | None = None,
    ) -> None:
        # One exchange timeout replaces redis-py's per-read timeout (see module doc).
        self._connection = RawConnection(pool, socket_timeout=None)
        self._queue: list[_Group] = []
        self._flusher: asyncio.Task[None] | None = None
        self._busy = False
        self.settings = settings
        # Each exchange is bounded by one timeout rather than one per reply (cheaper, and
        # a dead peer is still noticed), as long as a caller's guarded() would wait.
        self.timeout = settings.connect_timeout + 1.0
        # The packed commands storing the collected trace records (TraceSink.commands):
        # this write path carries their bytes and never looks inside a record.
        self._trace_commands = trace_commands

    def batch(self) -> Batch:
        return Batch(self)

    async def send(self, data: bytes, count: int, records: list[Any] | None = None) -> list[Any]:
        """Send ``count`` packed commands with whatever else is queued; return their replies.

        When nothing is in flight the commands are written at once, by this coroutine
        (no task, no extra turn of the loop: the latency path). Groups sent while a
        write is in flight are queued and go together in the next write (the
        throughput path).
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Any]] = loop.create_future()
        group = (data, count, records or [], future)
        if self._busy:
            self._queue.append(group)
            return await future
        self._busy = True
        try:
            await self._send_groups([group])
        except BaseException:
            if future.done() and not future.cancelled():
                future.exception()  # this sender was cancelled: nobody else will look
            raise
        finally:
            if self._queue:
                self._flusher = loop.create_task(
                    self._flush(), name="lightbus-autopipeline", context=detached()
                )
            else:
                self._busy = False
        return future.result()

    async def _flush(self) -> None:
        try:
            while self._queue:
                groups, self._queue = self._queue, []
                await self._send_groups(groups)
        finally:
            self._busy = False
            self._flusher = None

    async def _send_groups(self, groups: list[_Group]) -> None:
        data = b"".join(group[0] for group in groups)
        count = sum(group[1] for group in groups)
        # The trace records of every group go last, sharing entries: Redis handles the
        # commands they describe first, and a write of 500 fires appends a few entries.
        records = [record for group in groups for record in group[2]]
        traced = 0
        if records and self._trace_commands is not None:
            try:
                trace_data, traced = self._trace_commands(records)
            except Exception:  # a record that cannot be encoded must not fail the write
                logger.exception("%d trace records could not be encoded", len(records))
            else:
                data += trace_data
                count += traced
        connection = self._connection
        try:
            async with asyncio.timeout(self.timeout):
                replies = await connection.exchange(data, count)
        except BaseException as exc:
            await connection.disconnect(nowait=True)
            if isinstance(exc, CONNECTION_ERRORS):
                error: BaseException = connection_error(self.settings, exc)
            else:
                error = exc if isinstance(exc, Exception) else ConnectionError("send cancelled")
            for *_, future in groups:
                if not future.done():
                    future.set_exception(error)
            if not isinstance(exc, Exception):
                raise
            return
        if traced:
            refused = [r for r in replies[-traced:] if isinstance(r, ResponseError)]
            del replies[-traced:]
            if refused:
                # The commands themselves succeeded: their senders are not failed for it.
                logger.warning("%d trace records were not written: %s", len(records), refused[0])
        start = 0
        for _, size, _, future in groups:
            mine = replies[start : start + size]
            start += size
            if future.done():
                continue
            failed = next((r for r in mine if isinstance(r, ResponseError)), None)
            if failed is not None:
                future.set_exception(failed)
            else:
                future.set_result(mine)

    async def close(self) -> None:
        """Finish what is queued, then close the connection."""
        flusher = self._flusher
        if flusher is not None:
            await asyncio.gather(flusher, return_exceptions=True)
        await self._connection.disconnect()
