"""The running workers, from their heartbeats: the public module for tools.

Each worker writes a :class:`Heartbeat` every ``heartbeat_interval`` seconds: its
service, process name (the consumer name of its listeners), host, pid, the APIs it serves,
its listeners, its version, how many handlers it runs right now, and the hash of each
schema it serves.

Running one: :class:`Worker` is what ``lightbus run`` runs (``await
Worker(bus.client).run()``), :func:`import_bus` loads a bus module as it does, and
:func:`user_frames` trims a bus module's import error to the user's own frames.
:data:`HOST` is this machine's name as messages and heartbeats carry it.

Example::

    from lightbus import workers

    for worker in await workers.list_workers(bus):
        print(worker.process, worker.apis, f"{worker.age:.1f}s ago")
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lightbus.busaccess import BusOrClient, access
from lightbus.busmodule import import_bus as _import_bus
from lightbus.busmodule import user_frames
from lightbus.keys import Keys
from lightbus.message import HOST
from lightbus.registry import Heartbeat, clashes
from lightbus.registry import list_workers as _list_workers
from lightbus.worker import Worker

if TYPE_CHECKING:
    from lightbus.facade import Bus

__all__ = [
    "HOST",
    "Heartbeat",
    "Worker",
    "clashes",
    "consumer_group",
    "import_bus",
    "list_workers",
    "listener_groups",
    "user_frames",
]


async def list_workers(bus: BusOrClient, *, include_dead: bool = False) -> list[Heartbeat]:
    """The workers of ``bus`` that wrote a heartbeat, newest heartbeat first.

    Args:
        bus: a :class:`~lightbus.Bus` or its client.
        include_dead: also those whose last heartbeat is older than three intervals
            (:attr:`Heartbeat.alive` is false for them).

    Raises:
        BusConnectionError: Redis cannot be reached.
    """
    conn = access(bus)
    return await conn.guard(_list_workers(conn.redis, conn.keys, include_dead=include_dead))


def consumer_group(service: str, listener: str) -> str:
    """The consumer group of one listener: ``<service>.<listener>``."""
    return Keys.consumer_group(service, listener)


def listener_groups(worker: Heartbeat) -> set[str]:
    """The consumer groups of the listeners ``worker`` runs."""
    return {consumer_group(worker.service, listener) for listener in worker.listeners}


def import_bus(module: str) -> Bus:
    """The bus of the bus module ``module`` (its ``bus`` attribute), imported as
    ``lightbus run`` imports it: the current directory on ``sys.path``, and its
    ``on_start``/``every`` registrations kept.

    Raises:
        BusModuleError: the module cannot be found, fails to import, or has no ``bus``.
    """
    return _import_bus(module)
