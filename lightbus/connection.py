"""Redis connections, configured once for every part of the bus.

Two traps of redis-py's asyncio client shape this module (see ``docs/explanation``):
``from_url`` comes without a retry policy, so one is passed explicitly; and a client
that does blocking reads (``BLPOP``, ``XREADGROUP BLOCK``) needs ``socket_timeout=None``
or redis-py times the read out and silently re-sends it. Blocking readers therefore get
a connection of their own, and every block is bounded (a few seconds, in a loop).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from lightbus.errors import BusConnectionError, ConfigError
from lightbus.settings import Settings, redact_url

T = TypeVar("T")

CONNECTION_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)
_SCHEMES = ("redis://", "rediss://", "unix://")


def connect(settings: Settings, *, blocking: bool = False, max_connections: int = 64) -> Any:
    """A redis-py asyncio client for ``settings.redis_url``.

    Args:
        blocking: the client will do blocking reads, so reads never time out by themselves.
        max_connections: the pool's size; callers beyond it wait for a free connection.
    """
    url = settings.redis_url
    if not url.startswith(_SCHEMES):
        raise ConfigError(
            f"redis_url {redact_url(url)!r} must start with redis://, rediss:// or unix://",
            key="redis_url",
        )
    retries = max(1, int(settings.connect_timeout / 0.5))
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=None,
        socket_connect_timeout=min(settings.connect_timeout, 2.0),
        socket_timeout=None if blocking else settings.connect_timeout + settings.rpc_timeout,
        health_check_interval=0 if blocking else 30,
        retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), retries),
        retry_on_error=[RedisConnectionError, RedisTimeoutError, OSError],
    )
    # from_pool: the client owns the pool, so aclose() also closes its connections.
    return aioredis.Redis.from_pool(pool)


def connection_error(settings: Settings, exc: BaseException) -> BusConnectionError:
    """The error a user sees when Redis cannot be reached."""
    url = settings.redacted_url()
    return BusConnectionError(
        f"Cannot reach Redis at {url}: {str(exc).rstrip('.')}. Check that the server is "
        f"running and that redis_url (LIGHTBUS_REDIS_URL) is right.",
        url=url,
    )


async def guarded(settings: Settings, operation: Awaitable[T]) -> T:
    """Await ``operation``; turn redis-py's connection errors into :class:`BusConnectionError`.

    The whole operation is bounded by ``connect_timeout`` plus a margin, so an unreachable
    server never makes a caller hang.
    """
    try:
        async with asyncio.timeout(settings.connect_timeout + 1.0):
            return await operation
    except CONNECTION_ERRORS as exc:
        raise connection_error(settings, exc) from None
    except TimeoutError as exc:
        raise connection_error(settings, TimeoutError("timed out")) from exc


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
        delay = self.delay
        await asyncio.sleep(delay)
        self.delay = min(delay * 2, self.cap)
        return delay

    def reset(self) -> None:
        self.delay = self.first
