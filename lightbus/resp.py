"""The Redis protocol, hand-written for the hot paths: packing commands, reading replies.

redis-py's ``Pipeline`` and command methods cost more Python per message than the round
trip itself, so the write path (:mod:`lightbus.autopipeline`) and the blocking reads
(:mod:`lightbus.blocking`) pack their own RESP2 commands and drive a redis-py connection
directly. This module is the only one that does, and the only one that reads redis-py's
or hiredis's insides. What it relies on, all of it tested on each redis-py major version
the package allows (``nox -s tests_redis``, with and without hiredis):

- ``ConnectionPool.connection_class`` and ``.connection_kwargs``: a connection made like
  the pool's (URL, TLS, ACL, retry policy);
- ``Connection.send_packed_command(data, check_health=False)``, ``.read_response()``,
  ``.disconnect(nowait=...)`` and ``.retry.call_with_retry(do, fail)``;
- with hiredis: ``Connection._parser._reader`` (a ``hiredis.Reader``: ``has_data()``,
  ``gets()``), the parser's ``_hiredis_PushNotificationType`` (redis-py 6 and later) and
  ``redis._parsers.hiredis.NOT_ENOUGH_DATA``, the reader's "incomplete reply" marker
  (``False`` in redis-py versions without it). Without the reader (no hiredis, or a
  redis-py that moved it) every reply is read through ``read_response``: slower, same
  replies.

Arguments are ``str``, ``bytes``, ``int`` or ``float``; anything else (a ``bool``, a
``dict``) is refused with a ``TypeError`` rather than sent as its ``repr``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

# What hiredis returns for an incomplete reply, as redis-py configures its reader: a marker
# object, or (redis-py before 5.0.8) False, which then also stands for a RESP3 false
# reply: those redis-py versions cannot read one with hiredis either.
INCOMPLETE: object
try:
    from redis._parsers.hiredis import NOT_ENOUGH_DATA as INCOMPLETE
except ImportError:
    INCOMPLETE = False

# The constant start of a command (name, key, options), packed once. Bounded: keys are
# per event, queue or reply list, and a process has few of those.
_HEADS: dict[tuple[Any, ...], bytes] = {}
_HEADS_MAX = 4096

StreamEntries = list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]]


def pack_arg(value: Any) -> bytes:
    """One argument as a RESP bulk string."""
    if isinstance(value, bytes):
        return b"$%d\r\n%b\r\n" % (len(value), value)
    if isinstance(value, str):
        data = value.encode()
    elif isinstance(value, bool):
        raise TypeError(f"cannot send bool {value!r} to Redis")
    elif isinstance(value, int):
        data = b"%d" % value
    elif isinstance(value, float):
        data = repr(value).encode()
    elif isinstance(value, bytearray | memoryview):
        data = bytes(value)
    else:
        raise TypeError(f"cannot send {type(value).__name__} {value!r} to Redis")
    return b"$%d\r\n%b\r\n" % (len(data), data)


def pack_head(args: tuple[Any, ...], total: int) -> bytes:
    """The start of a command of ``total`` arguments whose first ones are ``args``."""
    key = (*args, total)
    head = _HEADS.get(key)
    if head is None:
        if len(_HEADS) >= _HEADS_MAX:
            _HEADS.clear()
        head = _HEADS[key] = b"*%d\r\n" % total + b"".join(pack_arg(a) for a in args)
    return head


def pack(*command: Any) -> bytes:
    """The RESP2 encoding of one command (arguments: str, bytes, int or float)."""
    return b"*%d\r\n" % len(command) + b"".join(pack_arg(a) for a in command)


class Commands:
    """Packs the commands the bus writes, redis-py's signatures, into ``parts``.

    ``count`` is the number of replies the packed commands will get.
    """

    __slots__ = ("count", "parts")

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.count = 0

    def xadd(
        self,
        name: str,
        fields: Mapping[Any, Any],
        id: str = "*",
        maxlen: int | None = None,
        approximate: bool = True,
        minid: str | None = None,
    ) -> Commands:
        if maxlen is not None and minid is not None:
            raise ValueError("xadd takes maxlen or minid, not both")
        parts = self.parts
        if minid is not None:
            # The MINID changes every time, so this head is not cached.
            args = ("XADD", name, "MINID", *(("~",) if approximate else ()), minid, id)
            parts.append(b"*%d\r\n" % (len(args) + 2 * len(fields)))
            parts.extend(pack_arg(a) for a in args)
        else:
            trim: tuple[Any, ...] = ()
            if maxlen is not None:
                trim = ("MAXLEN", "~", maxlen) if approximate else ("MAXLEN", maxlen)
            head = ("XADD", name, *trim, id)
            parts.append(pack_head(head, len(head) + 2 * len(fields)))
        for key, value in fields.items():
            parts.append(pack_arg(key))
            parts.append(pack_arg(value))
        self.count += 1
        return self

    def xadd_each(self, name: str, field: str, values: list[bytes], maxlen: int) -> Commands:
        """One ``XADD name MAXLEN ~ maxlen * field value`` per value (a batch of events)."""
        head = pack_head(("XADD", name, "MAXLEN", "~", maxlen, "*"), 8)
        key = pack_arg(field)
        parts = self.parts
        for value in values:
            parts.append(head)
            parts.append(key)
            parts.append(b"$%d\r\n%b\r\n" % (len(value), value))
        self.count += len(values)
        return self

    def rpush(self, name: str, *values: Any) -> Commands:
        self.parts.append(pack_head(("RPUSH", name), 2 + len(values)))
        self.parts.extend(pack_arg(v) for v in values)
        self.count += 1
        return self

    def zadd(self, name: str, score: int, member: bytes) -> Commands:
        self.parts.append(pack("ZADD", name, score, member))
        self.count += 1
        return self

    def pexpire(self, name: str, milliseconds: int) -> Commands:
        self.parts.append(pack("PEXPIRE", name, milliseconds))
        self.count += 1
        return self

    def xack(self, name: str, group: str, *ids: Any) -> Commands:
        self.parts.append(pack_head(("XACK", name, group), 3 + len(ids)))
        self.parts.extend(pack_arg(i) for i in ids)
        self.count += 1
        return self


class RawConnection:
    """One redis-py connection, made like ``pool``'s, that sends packed commands.

    Args:
        pool: a redis-py asyncio connection pool: its settings make the connection.
        overrides: connection arguments that differ from the pool's (``socket_timeout``).
    """

    def __init__(self, pool: Any, **overrides: Any) -> None:
        kwargs = {**pool.connection_kwargs, **overrides}
        self._connection = pool.connection_class(**kwargs)

    async def exchange(self, data: bytes, count: int) -> list[Any]:
        """Write ``data`` (``count`` packed commands); return the ``count`` replies.

        An error reply takes its command's place in the list as a ``ResponseError``. A
        lost connection is retried (reconnecting) under the pool's retry policy, so
        ``data`` must be safe to send again, as redis-py's pipelines assume.
        """
        connection = self._connection
        result: list[Any] = await connection.retry.call_with_retry(
            lambda: self._exchange(data, count),
            lambda _error, *_more: connection.disconnect(),
        )
        return result

    async def _exchange(self, data: bytes, count: int) -> list[Any]:
        connection = self._connection
        await connection.send_packed_command(data, check_health=False)
        replies: list[Any] = []
        while len(replies) < count:
            try:
                replies.append(await connection.read_response())
            except ResponseError as exc:
                replies.append(exc)
            _take_buffered(connection, replies, count)
        return replies

    async def request(self, data: bytes) -> Any:
        """Write one packed command and return its reply, without retrying.

        Raises an error reply as ``ResponseError``, a lost connection as redis-py's
        ``ConnectionError``; the next request reconnects.
        """
        connection = self._connection
        await connection.send_packed_command(data, check_health=False)
        return await connection.read_response()

    async def disconnect(self, *, nowait: bool = False) -> None:
        """Close the connection (``nowait``: without waiting for the peer)."""
        await self._connection.disconnect(nowait=nowait)


def _take_buffered(connection: Any, replies: list[Any], count: int) -> None:
    """Append the replies already received and parsed by hiredis, up to ``count``.

    The replies of a large write usually arrive together; taking them straight from
    hiredis's reader saves a coroutine and redis-py's per-read bookkeeping for each
    (about a tenth of a listener's time went there). Anything unusual (no hiredis, an
    incomplete reply, a connection-level error, a push message) is left to
    ``read_response``.
    """
    reader = hiredis_reader(connection)
    if reader is None:
        return
    push_type = getattr(connection._parser, "_hiredis_PushNotificationType", None)
    while len(replies) < count and reader.has_data():
        reply = reader.gets()
        if reply is INCOMPLETE:
            return  # the rest of the reply is still on its way: read_response waits for it
        if isinstance(reply, RedisConnectionError) or (push_type and isinstance(reply, push_type)):
            # Cannot be put back: drop the connection; the caller sees a connection error.
            raise RedisConnectionError(f"unexpected reply in a pipeline: {reply!r}")
        replies.append(reply)


def hiredis_reader(connection: Any) -> Any:
    """The ``hiredis.Reader`` of a connected redis-py connection, or None (no hiredis)."""
    reader = getattr(getattr(connection, "_parser", None), "_reader", None)
    return reader if hasattr(reader, "gets") and hasattr(reader, "has_data") else None


def stream_entries(reply: Any) -> StreamEntries:
    """An ``XREAD``/``XREADGROUP`` reply as redis-py returns it: ``[(stream, [(id,
    fields), ...]), ...]``, from either protocol: RESP3 (what redis-py negotiates with a
    server that speaks it, ``?protocol=3``) replies with a map of streams, RESP2 with a
    list of pairs."""
    streams: Iterable[Any] = reply.items() if isinstance(reply, dict) else reply or ()
    return [
        (stream, [(entry_id, _pairs(fields)) for entry_id, fields in entries])
        for stream, entries in streams
    ]


def _pairs(fields: list[bytes] | None) -> dict[bytes, bytes]:
    if not fields:
        return {}
    if len(fields) == 2:  # the usual entry: one field, the message
        return {fields[0]: fields[1]}
    return dict(zip(fields[::2], fields[1::2], strict=True))
