"""Redis Sentinel: ``redis+sentinel://`` URLs, and connection pools that follow the master.

The URL names the sentinels and the master's service name, never the master itself::

    redis+sentinel://[[user]:password@]host:port[,host:port...]/service_name[/db][?option=value]

The user and password are the master's (and its replicas'). Options:

- ``sentinel_password``: the sentinels' own password, if they require one (they are
  asked without one otherwise);
- ``wait_replicas`` (default 0): a write of the bus (a fire, a call, an acknowledgement)
  succeeds only once this many replicas hold it (Redis ``WAIT``, in the same pipeline:
  no extra round trip). Replication is asynchronous, so without it a failover may lose
  the last writes the old master acknowledged; with ``1`` an event that ``fire()``
  returned for survives a failover to that replica. A write that too few replicas
  confirmed is sent again through the (new) master, so it may be stored twice: at least
  once, as for any retried write;
- ``wait_timeout`` (milliseconds, default 1000): how long ``WAIT`` waits.

Every connection of the bus (redis-py's client and the hand-written write path and
blocking reads of :mod:`lightbus.resp`, which make their connections from the pool's
``connection_class`` and ``connection_kwargs``) asks the sentinels for the master's
address when it connects. After a failover the old master's connections are closed by
the sentinels (or refused with ``READONLY`` or ``UNBLOCKED``: both count as a lost
connection here), and each part reconnects in the way it does after any lost
connection, to the master the sentinels now name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

from redis.asyncio.connection import BlockingConnectionPool, Connection
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool, SentinelManagedConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from lightbus.errors import ConfigError

SCHEME = "redis+sentinel://"
FORM = "redis+sentinel://[[user]:password@]host:port[,host:port...]/service_name[/db]"
OPTIONS = ("sentinel_password", "wait_replicas", "wait_timeout")


@dataclass(frozen=True)
class SentinelUrl:
    """What a ``redis+sentinel://`` URL says."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_password: str | None = None
    wait_replicas: int = 0
    wait_timeout: int = 1000


def is_sentinel_url(url: str) -> bool:
    return url[: len(SCHEME)].lower() == SCHEME


def parse_sentinel_url(url: str) -> SentinelUrl:
    """Read a ``redis+sentinel://`` URL, or raise :class:`ConfigError` saying what is wrong.

    The message never shows the URL (it may hold a password), only the part at fault.
    """
    rest = url[len(SCHEME) :]
    if "#" in rest:
        _bad("it holds a '#', which would end the URL there")
    rest, _, query = rest.partition("?")
    location, _, path = rest.partition("/")
    credentials, at, hosts = location.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = credentials.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    service, _, db_text = path.partition("/")
    if not service:
        _bad(f"it names no service (the master's name in the sentinels' configuration): {FORM}")
    if "@" in path or "@" in query:
        _bad("an '@' comes after the part that names the sentinels")
    if db_text and not db_text.isdigit():
        _bad("the database after the service name is not a number")
    options = _options(query)
    return SentinelUrl(
        sentinels=_sentinels(hosts),
        service=unquote(service),
        db=int(db_text or 0),
        username=username,
        password=password,
        sentinel_password=options.get("sentinel_password"),
        wait_replicas=_count(options, "wait_replicas", 0),
        wait_timeout=_count(options, "wait_timeout", 1000),
    )


def _sentinels(hosts: str) -> tuple[tuple[str, int], ...]:
    found = []
    for part in hosts.split(","):
        host, colon, port = part.strip().rpartition(":")
        if not colon or not host:
            _bad(f"each sentinel needs a host and a port (host:port, comma-separated): {FORM}")
        if not port.isdigit() or not 0 < int(port) < 65536:
            _bad("what follows the ':' after a sentinel's host is not a port number")
        found.append((host.strip("[]"), int(port)))
    return tuple(found)


def _options(query: str) -> dict[str, str]:
    options = dict(parse_qsl(query, keep_blank_values=True))
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        _bad(f"unknown option {unknown[0]!r} (a sentinel URL takes {', '.join(OPTIONS)})")
    return options


def _count(options: dict[str, str], name: str, default: int) -> int:
    text = options.get(name)
    if text is None:
        return default
    if not text.isdigit():
        _bad(f"{name} must be a whole number >= 0")
    return int(text)


def _bad(problem: str) -> None:
    raise ConfigError(
        f"redis_url is a malformed sentinel URL: {problem}. Percent-encode a password "
        f"holding '/', '?', '#' or '@'. (The URL is not shown: it may hold the password.)",
        key="redis_url",
    )


class MasterConnection(SentinelManagedConnection):
    """A connection to the master that counts a demoted server as a lost connection.

    redis-py already does so for ``READONLY``; a blocking read that the server ended
    because it became a replica gets ``UNBLOCKED``, which means the same.

    Every socket it opens goes to the address the sentinels name at that moment.
    redis-py's own class asks them only in ``connect()``, which its client calls; but
    ``send_packed_command`` (the write path and blocking reads of :mod:`lightbus.resp`)
    connects through ``connect_check_health()``, and would reach redis-py's default
    host, ``localhost:6379``, instead. So the asking happens where the socket is opened.
    """

    async def connect(self) -> None:
        # redis-py's retry policy, around _connect below
        await Connection.connect(self)  # type: ignore[no-untyped-call]

    async def _connect(self) -> None:
        self.host, self.port = await self.connection_pool.get_master_address()
        await super()._connect()  # type: ignore[no-untyped-call]

    async def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().read_response(*args, **kwargs)
        except ResponseError as exc:
            if not str(exc).startswith("UNBLOCKED"):
                raise
            await self.disconnect()
            raise RedisConnectionError(f"the master became a replica ({exc})") from None


class MasterPool(SentinelConnectionPool, BlockingConnectionPool):
    """redis-py's sentinel pool, waiting for a free connection like the bus's other pools.

    ``wait_replicas`` and ``wait_timeout`` are read by the write path
    (:class:`lightbus.resp.RawConnection`).
    """

    wait_replicas = 0
    wait_timeout = 1000

    async def disconnect(self, inuse_connections: bool = True) -> None:
        await super().disconnect(inuse_connections)
        if inuse_connections:  # closing: the sentinels' connections go too
            for sentinel in self.sentinel_manager.sentinels:
                await sentinel.connection_pool.disconnect()


def sentinel_pool(url: str, *, socket_connect_timeout: float, **pool_kwargs: Any) -> MasterPool:
    """A blocking connection pool whose connections connect to the current master.

    ``pool_kwargs`` are those of redis-py's ``BlockingConnectionPool`` (``max_connections``,
    ``timeout``, ``socket_timeout``, ``retry``...), as for a plain URL.
    """
    config = parse_sentinel_url(url)
    sentinel_kwargs: dict[str, Any] = {
        "socket_connect_timeout": socket_connect_timeout,
        "socket_timeout": socket_connect_timeout,
    }
    if config.sentinel_password is not None:
        sentinel_kwargs["password"] = config.sentinel_password
    manager = Sentinel(list(config.sentinels), sentinel_kwargs=sentinel_kwargs)  # type: ignore[no-untyped-call]
    pool = MasterPool(  # type: ignore[no-untyped-call]
        config.service,
        manager,
        connection_class=MasterConnection,
        socket_connect_timeout=socket_connect_timeout,
        db=config.db,
        username=config.username,
        password=config.password,
        **pool_kwargs,
    )
    pool.wait_replicas = config.wait_replicas
    pool.wait_timeout = config.wait_timeout
    return pool
