"""Redis connections, configured once for every part of the bus.

Two traps of redis-py's asyncio client shape this module (see ``docs/explanation``):
``from_url`` comes without a retry policy, so one is passed explicitly; and a client
that does blocking reads (``BLPOP``, ``XREADGROUP BLOCK``) must not have its reads timed
out and silently re-sent by redis-py. Blocking readers therefore get a connection of
their own (an event listener's without hidden retries: its loop reconnects with
:class:`Backoff` and must see every lost connection), every block is bounded (at most
:data:`MAX_BLOCK_SECONDS`, in a loop), and their socket timeout is longer than any
block, so a peer that vanished without closing the connection is noticed in seconds
rather than after TCP keepalive's hours.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import FullJitterBackoff
from redis.exceptions import AuthenticationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from lightbus.errors import BusConnectionError, ConfigError
from lightbus.sentinel import is_sentinel_url, sentinel_pool
from lightbus.settings import Settings, redact_url

T = TypeVar("T")

CONNECTION_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)
# No blocking read of the bus (XREADGROUP BLOCK, BLPOP) waits longer than this.
MAX_BLOCK_SECONDS = 2.0


def connect(
    settings: Settings, *, blocking: bool = False, max_connections: int = 64, retries: bool = True
) -> Any:
    """A redis-py asyncio client for ``settings.redis_url``.

    Args:
        blocking: the client will do blocking reads (of at most ``MAX_BLOCK_SECONDS``).
        max_connections: the pool's size; callers beyond it wait for a free connection.
        retries: redis-py retries a command through a lost connection. A reader that must
            see every lost connection (an event listener: the lost reply may have
            delivered entries to it) passes False and reconnects in its own loop.
    """
    url = settings.redis_url  # its form was checked with the settings (check_redis_url)
    tries = max(1, int(settings.connect_timeout / 0.5)) if retries else 0
    try:
        pool = _pool(settings, url, max_connections, blocking, tries)
    except ValueError as exc:
        # redis-py quotes the part of the URL it could not read, which may be the
        # password: say what failed, not what it read.
        raise ConfigError(
            f"redis_url {redact_url(url)!r} was refused by redis-py ({type(exc).__name__}): "
            f"check its form, redis://[user:password@]host[:port][/db][?option=value], and "
            f"percent-encode special characters in the password.",
            key="redis_url",
        ) from None
    # from_pool: closing the client closes its pool (Redis(connection_pool=) would leak it).
    return aioredis.Redis.from_pool(pool)


def _pool(settings: Settings, url: str, max_connections: int, blocking: bool, tries: int) -> Any:
    options: dict[str, Any] = dict(
        max_connections=max_connections,
        timeout=None,
        socket_connect_timeout=min(settings.connect_timeout, 2.0),
        socket_timeout=settings.connect_timeout
        + (MAX_BLOCK_SECONDS if blocking else settings.rpc_timeout),
        health_check_interval=0 if blocking else 30,
        retry=_Retry(FullJitterBackoff(cap=0.5, base=0.05), tries),  # in every redis-py >= 5
        retry_on_error=[RedisConnectionError, RedisTimeoutError, OSError],
    )
    if is_sentinel_url(url):
        return sentinel_pool(url, **options)
    return aioredis.BlockingConnectionPool.from_url(url, **options)


_retrying: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "lightbus_redis_retrying", default=False
)


class _Retry(Retry):
    """redis-py's retry, made linear, and never for refused credentials.

    redis-py runs its connect retry inside its command retry, with the same policy, so
    against a dead server the tries multiply (10 x 10, with backoff: half a minute for one
    command). Here only the outermost retry retries; it reconnects each time anyway.
    """

    async def call_with_retry(self, do: Any, fail: Any, *args: Any, **kwargs: Any) -> Any:
        if _retrying.get():
            return await do()

        async def fail_fast(error: Exception, *more: Any) -> None:
            await fail(error, *more)  # redis-py's clean-up (disconnect) first
            if isinstance(error, AuthenticationError):
                raise error  # retrying cannot fix refused credentials

        token = _retrying.set(True)
        try:
            return await super().call_with_retry(do, fail_fast, *args, **kwargs)
        finally:
            _retrying.reset(token)


def describe(exc: BaseException) -> str:
    """What went wrong with Redis, in words, also for an error without a message.

    asyncio's timeouts raise a bare ``TimeoutError`` whose text is empty; a log line
    saying ``lost Redis ()`` would hide the cause.
    """
    reason = str(exc).rstrip(".")
    if reason:
        return reason
    if isinstance(exc, TimeoutError | RedisTimeoutError):
        return "no answer in time (timed out)"
    return type(exc).__name__


def connection_error(settings: Settings, exc: BaseException) -> BusConnectionError:
    """The error a user sees when Redis cannot be reached."""
    url = settings.redacted_url()
    reason = describe(exc)
    if isinstance(exc, AuthenticationError):
        return BusConnectionError(
            f"Redis at {url} refused the credentials: {reason}. Check the user and password "
            f"in redis_url (LIGHTBUS_REDIS_URL) against the server's ACL.",
            url=url,
        )
    return BusConnectionError(
        f"Cannot reach Redis at {url}: {reason}. Check that the server is running and that "
        f"redis_url (LIGHTBUS_REDIS_URL) is right.",
        url=url,
    )


async def guarded(settings: Settings, operation: Awaitable[T]) -> T:
    """Await ``operation``; turn redis-py's connection errors into :class:`BusConnectionError`.

    The whole operation is bounded by ``connect_timeout`` plus a margin, so an unreachable
    server never makes a caller hang.
    """
    limit = settings.connect_timeout + 1.0
    try:
        async with asyncio.timeout(limit):
            return await operation
    except TimeoutError:
        # Before CONNECTION_ERRORS: the builtin TimeoutError is an OSError too.
        reason = TimeoutError(f"no answer within {limit:g}s (timed out)")
        raise connection_error(settings, reason) from None
    except CONNECTION_ERRORS as exc:
        raise connection_error(settings, exc) from None


class Backoff:
    """Exponential backoff for long-running readers that lost their connection.

    ``await backoff.wait()`` after an error sleeps 50 ms, doubling to at most 5 s;
    ``reset()`` after a success starts again from 50 ms.
    """

    def __init__(self, first: float = 0.05, cap: float = 5.0) -> None:
        self.first = first
        self.cap = cap
        self.delay = first

    async def wait(self) -> float:
        delay = self.next()
        await asyncio.sleep(delay)
        return delay

    def next(self) -> float:
        """The delay to wait now; the following one doubles (up to ``cap``)."""
        delay = self.delay
        self.delay = min(delay * 2, self.cap)
        return delay

    def reset(self) -> None:
        self.delay = self.first
