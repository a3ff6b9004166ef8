"""The bus's write path: small command groups sent together, on one connection.

Every message the bus sends is a small group of writes that belong together (an
``XADD`` of the event and the ``XADD`` of its trace record; ``XACK`` and its record;
the ``RPUSH`` of a result, its ``PEXPIRE`` and its record). Sending each group through a
redis-py ``Pipeline`` costs far more Python than the round trip itself (profiled: about
half of an RPC's client-side time). :class:`AutoPipeline` instead:

- packs the commands itself (RESP2; arguments are ``str``, ``bytes`` or ``int``);
- writes a group at once when the connection is idle, and every group that arrives
  while a write is in flight together in the next write, on one dedicated connection,
  so a lone RPC pays no extra hop and many concurrent fires or acks share round trips;
- reads the replies in order and hands each group its own, raising the first error
  reply of a group to that group's sender only.

The connection is made from the client's pool settings (URL, TLS, ACL, retry policy),
so it behaves like any other connection of the bus; a connection error is retried
under the same policy as redis-py's pipelines, then raised to every sender of the
failed write. Blocking reads never go through here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from redis.exceptions import ResponseError

Command = tuple[Any, ...]

# Whole exchanges are bounded by one timeout rather than one per reply (cheaper, and a
# dead peer is still noticed).
EXCHANGE_TIMEOUT = 10.0


def pack(commands: Sequence[Command]) -> bytes:
    """RESP2 encoding of ``commands`` (each a tuple of str, bytes, int or float)."""
    out: list[bytes] = []
    append = out.append
    for command in commands:
        append(b"*%d\r\n" % len(command))
        for arg in command:
            if isinstance(arg, str):
                arg = arg.encode()
            elif isinstance(arg, int):
                arg = b"%d" % arg
            elif isinstance(arg, float):
                arg = repr(arg).encode()
            elif not isinstance(arg, bytes | bytearray | memoryview):
                raise TypeError(f"cannot send {type(arg).__name__} {arg!r} to Redis")
            append(b"$%d\r\n" % len(arg))
            append(arg)
            append(b"\r\n")
    return b"".join(out)


class Batch:
    """A group of commands sent together: the subset of redis-py's pipeline the bus uses.

    ``async with client.pipeline() as pipe: pipe.xadd(...); await pipe.execute()``.
    """

    __slots__ = ("_sender", "commands")

    def __init__(self, sender: AutoPipeline) -> None:
        self._sender = sender
        self.commands: list[Command] = []

    async def __aenter__(self) -> Batch:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.commands = []

    def xadd(
        self,
        name: str,
        fields: Mapping[Any, Any],
        id: str = "*",
        maxlen: int | None = None,
        approximate: bool = True,
    ) -> Batch:
        command: list[Any] = ["XADD", name]
        if maxlen is not None:
            command += ["MAXLEN", "~", maxlen] if approximate else ["MAXLEN", maxlen]
        command.append(id)
        for key, value in fields.items():
            command += (key, value)
        self.commands.append(tuple(command))
        return self

    def rpush(self, name: str, *values: Any) -> Batch:
        self.commands.append(("RPUSH", name, *values))
        return self

    def pexpire(self, name: str, milliseconds: int) -> Batch:
        self.commands.append(("PEXPIRE", name, milliseconds))
        return self

    def xack(self, name: str, group: str, *ids: Any) -> Batch:
        self.commands.append(("XACK", name, group, *ids))
        return self

    async def execute(self) -> list[Any]:
        commands, self.commands = self.commands, []
        if not commands:
            return []
        return await self._sender.send(commands)


class AutoPipeline:
    """Sends command groups for one event loop over one dedicated connection."""

    def __init__(self, pool: Any) -> None:
        kwargs = dict(pool.connection_kwargs)
        # One exchange timeout replaces redis-py's per-read timeout (see module doc).
        kwargs["socket_timeout"] = None
        self._connection = pool.connection_class(**kwargs)
        self._queue: list[tuple[list[Command], asyncio.Future[list[Any]]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._busy = False
        self.timeout = EXCHANGE_TIMEOUT

    def batch(self) -> Batch:
        return Batch(self)

    async def send(self, commands: list[Command]) -> list[Any]:
        """Send ``commands`` with whatever else is queued; return their replies in order.

        When nothing is in flight the commands are written at once, by this coroutine
        (no task, no extra turn of the loop: the latency path). Groups sent while a
        write is in flight are queued and go together in the next write (the
        throughput path).
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Any]] = loop.create_future()
        if self._busy:
            self._queue.append((commands, future))
            return await future
        self._busy = True
        try:
            await self._send_groups([(commands, future)])
        except BaseException:
            if future.done() and not future.cancelled():
                future.exception()  # this sender was cancelled: nobody else will look
            raise
        finally:
            if self._queue:
                self._flusher = loop.create_task(self._flush(), name="lightbus-autopipeline")
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

    async def _send_groups(self, groups: list[tuple[list[Command], Any]]) -> None:
        commands = [command for group, _ in groups for command in group]
        try:
            data = pack(commands)
        except TypeError as exc:
            for _, future in groups:
                if not future.done():
                    future.set_exception(exc)
            return
        connection = self._connection
        try:
            async with asyncio.timeout(self.timeout):
                replies = await connection.retry.call_with_retry(
                    lambda: self._exchange(data, len(commands)),
                    lambda _error: connection.disconnect(),
                )
        except BaseException as exc:
            await connection.disconnect(nowait=True)
            error = exc if isinstance(exc, Exception) else ConnectionError("send cancelled")
            for _, future in groups:
                if not future.done():
                    future.set_exception(error)
            if not isinstance(exc, Exception):
                raise
            return
        start = 0
        for group, future in groups:
            mine = replies[start : start + len(group)]
            start += len(group)
            if future.done():
                continue
            failed = next((r for r in mine if isinstance(r, ResponseError)), None)
            if failed is not None:
                future.set_exception(failed)
            else:
                future.set_result(mine)

    async def _exchange(self, data: bytes, count: int) -> list[Any]:
        connection = self._connection
        await connection.send_packed_command(data, check_health=False)
        replies: list[Any] = []
        for _ in range(count):
            try:
                replies.append(await connection.read_response())
            except ResponseError as exc:
                replies.append(exc)
        return replies

    async def close(self) -> None:
        """Finish what is queued, then close the connection."""
        flusher = self._flusher
        if flusher is not None:
            await asyncio.gather(flusher, return_exceptions=True)
        await self._connection.disconnect()
