"""Blocking list reads (``BLPOP``) on a dedicated connection, for the RPC hot path.

An RPC waits on two ``BLPOP`` loops: the worker's on the API queues and the caller's on
its reply list. Through redis-py's client each read costs connection-pool checkout,
retry wrappers and per-command bookkeeping that together take longer than the round
trip (see ``docs/explanation/performance.md``). :class:`BlockingReader` keeps one
connection, made from the same pool settings as the bus's other connections (URL,
TLS, ACL), sends the packed command and reads the reply; nothing else.

Errors: a lost connection raises redis-py's ``ConnectionError`` (or ``TimeoutError``
when the server stops answering), both in :data:`lightbus.connection.CONNECTION_ERRORS`;
the next read reconnects. A cancelled read drops the connection, so the server hands
the next item to the next reader rather than to a reader that is gone.
"""

from __future__ import annotations

import asyncio
from typing import Any

from lightbus.autopipeline import pack
from lightbus.connection import connect
from lightbus.settings import Settings

# How long past the block a reply may take before the connection counts as dead.
GRACE_SECONDS = 5.0


class BlockingReader:
    """``await reader.blpop(keys, timeout)`` like redis-py's, on a connection of its own."""

    def __init__(self, settings: Settings) -> None:
        self._client = connect(settings, blocking=True, max_connections=1)
        pool = self._client.connection_pool
        self._connection = pool.connection_class(**pool.connection_kwargs)

    async def blpop(self, keys: list[str], timeout: float) -> tuple[bytes, bytes] | None:
        """The first item of the first non-empty list of ``keys``, waiting ``timeout`` s."""
        data = pack("BLPOP", *keys, timeout)
        connection = self._connection
        try:
            async with asyncio.timeout(timeout + GRACE_SECONDS):
                await connection.send_packed_command(data, check_health=False)
                reply: Any = await connection.read_response()
        except BaseException:
            await connection.disconnect(nowait=True)
            raise
        return (reply[0], reply[1]) if reply else None

    async def aclose(self, close_connection_pool: bool = True) -> None:
        """Close the connection (the argument is accepted for redis-py's signature)."""
        await self._connection.disconnect()
        await self._client.aclose(close_connection_pool=True)
