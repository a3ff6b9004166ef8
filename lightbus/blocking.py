"""Blocking reads (``BLPOP``, ``XREADGROUP``) on a dedicated connection, for hot paths.

An RPC waits on two ``BLPOP`` loops: the worker's on the API queues and the caller's on
its reply list; a listener loops on ``XREADGROUP``. Through redis-py's client each read
costs connection-pool checkout, retry wrappers and per-command bookkeeping that together
take longer than the round trip (see ``docs/explanation/performance.md``).
:class:`BlockingReader` keeps one
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

from lightbus.connection import connect
from lightbus.resp import RawConnection, StreamEntries, pack, stream_entries
from lightbus.settings import Settings

# How long past the block a reply may take before the connection counts as dead.
GRACE_SECONDS = 5.0


class BlockingReader:
    """``blpop`` and ``xreadgroup`` like redis-py's, on a connection of its own."""

    def __init__(self, settings: Settings) -> None:
        self._client = connect(settings, blocking=True, max_connections=1)
        self._connection = RawConnection(self._client.connection_pool)

    async def blpop(self, keys: list[str], timeout: float) -> tuple[bytes, bytes] | None:
        """The first item of the first non-empty list of ``keys``, waiting ``timeout`` s."""
        reply = await self._request(pack("BLPOP", *keys, timeout), timeout)
        return (reply[0], reply[1]) if reply else None

    async def _request(self, data: bytes, block: float) -> Any:
        connection = self._connection
        limit = block + GRACE_SECONDS
        try:
            async with asyncio.timeout(limit) as timer:
                return await connection.request(data)
        except BaseException as exc:
            await connection.disconnect(nowait=True)
            if isinstance(exc, TimeoutError) and timer.expired():
                raise TimeoutError(f"no answer within {limit:g}s (timed out)") from None
            raise

    async def xreadgroup(
        self,
        groupname: str,
        consumername: str,
        streams: dict[str, str],
        count: int,
        block: int,
    ) -> StreamEntries:
        """``XREADGROUP`` as redis-py returns it: ``[(stream, [(id, fields), ...]), ...]``."""
        command: list[Any] = ["XREADGROUP", "GROUP", groupname, consumername]
        command += ["COUNT", count, "BLOCK", block, "STREAMS", *streams, *streams.values()]
        reply = await self._request(pack(*command), block / 1000)
        return stream_entries(reply)

    async def aclose(self, close_connection_pool: bool = True) -> None:
        """Close the connection (the argument is accepted for redis-py's signature)."""
        await self._connection.disconnect()
        await self._client.aclose(close_connection_pool=True)
