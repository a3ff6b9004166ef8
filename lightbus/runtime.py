"""What the background-work parts need of the bus, handed in by the bus client.

:mod:`lightbus.delayed`, :mod:`lightbus.scheduled` and :mod:`lightbus.background` are
given an object with these members (the bus client builds and passes it) and import
nothing of the client, so data flows one way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Protocol

from lightbus.autopipeline import Batch
from lightbus.invoke import Invoker
from lightbus.keys import Keys
from lightbus.settings import Settings


class Runtime(Protocol):
    """The collaborators: settings, key names, the trace writer, connections, user code."""

    @property
    def settings(self) -> Settings: ...

    @property
    def keys(self) -> Keys: ...

    @property
    def tracer(self) -> Any: ...  # builds trace records and adds them to a pipeline

    @property
    def redis(self) -> Any: ...

    @property
    def invoke(self) -> Invoker: ...

    def pipeline(self) -> Batch: ...

    def spawn(self, coro: Any, *, name: str) -> asyncio.Task[Any]: ...

    def request_stop(self, reason: str) -> None: ...


async def write_records(runtime: Runtime, records: Sequence[Any]) -> None:
    """Write trace ``records`` (None entries, made with tracing off, skipped) in one go."""
    present = [record for record in records if record is not None]
    if not present:
        return
    async with runtime.pipeline() as pipe:
        for record in present:
            runtime.tracer.add(pipe, record)
        await pipe.execute()  # bounded, errors as BusConnectionError
