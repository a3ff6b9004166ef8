"""Every access of ``lightbus call``, ``fire`` and the shell completion to the runtime
beyond ``lightbus``'s top-level names, in one place: :mod:`lightbus.tracing` for the step
names, :mod:`lightbus.groups` for consumer groups, :mod:`lightbus.workers` for heartbeats
and the bus module, :mod:`lightbus.schema` for the live schemas.

The modules that load redis-py are imported by the functions that need them: shell
completion imports this module to list the commands, on every TAB.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

import lightbus
from lightbus.cli import COMMANDS
from lightbus.tracing import EVENT_DEAD_LETTERED, EVENT_FAILED, EVENT_HANDLED, RPC_CALLED

__all__ = [
    "COMMANDS",
    "EVENT_DEAD_LETTERED",
    "EVENT_FAILED",
    "EVENT_HANDLED",
    "RPC_CALLED",
    "consumer_group",
    "group_consumers",
    "listener_groups",
    "live_schemas",
    "live_services",
    "local_schemas",
    "open_bus",
    "serves",
    "tracing_on",
]


def local_schemas(module: str | None, *, quiet: bool = False) -> dict[str, dict[str, Any]]:
    """The API schemas of the bus module, by API name.

    ``module`` None means the configured one (``LIGHTBUS_MODULE`` or ``bus``), which may
    be absent: then there are none. A module named explicitly must import. ``quiet``
    silences what the module prints while it is imported (for shell completion).
    """
    from lightbus.workers import import_bus

    name = module or lightbus.Settings.resolve().module
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink) if quiet else contextlib.nullcontext():
            bus = import_bus(name)
    except lightbus.BusModuleError as exc:
        if module is None and "Cannot find" in str(exc):
            return {}
        raise
    return dict(bus.client.schemas)


def open_bus(module: str | None, redis_url: str | None) -> lightbus.Bus:
    """A bus for sending from the terminal, knowing the bus module's schemas.

    The bus is a plain ``lightbus.create()`` (settings from the environment and the
    config file, ``redis_url`` over them): the module's schemas only check arguments,
    as JSON, the way a caller that does not define the API checks them. A schema of the
    module is used before the live one of the same API, as ``dumpschema`` shows it.
    """
    schemas = local_schemas(module)
    bus = lightbus.create(**({"redis_url": redis_url} if redis_url else {}))
    bus.client.schemas.update(schemas)
    return bus


async def live_schemas(bus: lightbus.Bus) -> dict[str, dict[str, Any]]:
    """Every API schema published on the bus right now."""
    from lightbus.schema import live_schemas as read

    return await read(bus)


def tracing_on(bus: lightbus.Bus) -> bool:
    return bus.client.settings.trace_enabled


async def listener_groups(bus: lightbus.Bus, api: str, name: str) -> list[str]:
    """The consumer groups (one per listener: ``<service>.<listener>``) of an event."""
    from lightbus import groups

    return await groups.group_names(bus, api, name)


async def group_consumers(bus: lightbus.Bus, api: str, name: str, group: str) -> list[str]:
    """The consumers (worker process names) that have read ``api.name`` in ``group``."""
    from lightbus import groups

    return await groups.consumers(bus, api, name, group)


async def live_services(bus: lightbus.Bus) -> dict[str, tuple[str, set[str]]]:
    """Live workers (by their heartbeats): process name -> (service, consumer groups of
    the listeners it runs)."""
    from lightbus import workers

    return {
        worker.process: (worker.service, workers.listener_groups(worker))
        for worker in await workers.list_workers(bus)
    }


def consumer_group(service: str, listener: str) -> str:
    from lightbus.workers import consumer_group as group

    return group(service, listener)


async def serves(bus: lightbus.Bus, api: str) -> bool:
    """Whether a live worker serves ``api``."""
    return await bus.client.serves(api)
