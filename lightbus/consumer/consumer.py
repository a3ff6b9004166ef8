"""The consumer of one bus client: its listeners, and the runners of those started.

:meth:`Consumer.listen` registers a handler (refusing at once a handler that cannot
take an event defined in this process); :meth:`Consumer.start` checks the events
against what is known (here or live), creates the consumer groups and starts the
listener's :class:`~lightbus.consumer.listener.ListenerRunner`, which owns every entry
it reads from then until it forgets it. :meth:`Consumer.close` stops the runners
started outside a worker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lightbus.connection import guarded
from lightbus.consumer.listener import Listener, ListenerRunner, check_concurrency

if TYPE_CHECKING:
    from lightbus.apis import ApiDirectory
    from lightbus.parts import Parts


class Consumer:
    """The listeners registered on a client, and the runners of those started."""

    def __init__(self, parts: Parts, directory: ApiDirectory) -> None:
        self.parts = parts
        self.directory = directory
        self.listeners: list[Listener] = []
        self.runners: dict[str, ListenerRunner] = {}

    def listen(
        self,
        events: list[tuple[str, str]],
        handler: Callable[..., Any],
        *,
        listener_name: str | None = None,
        since: str = "$",
        max_attempts: int | None = None,
        on_error: str = "retry",
        concurrency: int | None = None,
    ) -> Listener:
        """Register ``handler`` for ``events`` (see :meth:`lightbus.BusClient.listen`)."""
        if not callable(handler):
            raise TypeError(f"listen() needs a callable handler, got {handler!r}")
        check_concurrency(concurrency)
        if on_error not in ("retry", "stop"):
            raise ValueError(f"on_error must be 'retry' or 'stop', got {on_error!r}")
        name = listener_name or default_listener_name(handler)
        if name in self.runners or any(lst.name == name for lst in self.listeners):
            raise ValueError(
                f"A listener named {name!r} is already registered in this process; "
                f"pass a different listener_name"
            )
        for api, event in events:
            rule = self.parts.validator.local(api, event, "event")
            if rule is not None:
                # Known here: refuse a handler that cannot take the event at once (an API
                # known only from the registry is checked when the listener starts).
                rule.check_handler(handler, name)
        listener = Listener(
            tuple(events), handler, name, since, max_attempts, on_error, concurrency
        )
        self.listeners.append(listener)
        return listener

    def check_known_events(self, listener: Listener) -> None:
        """:meth:`check_events` for the APIs known without asking Redis (defined here,
        loaded, or looked up lately): raises at once, in the caller's frame."""
        for api, name in listener.events:
            spec = self.directory.known_spec(api, name, "event")
            if spec is not None:
                spec.check_handler(listener.handler, listener.name)

    async def check_events(self, listener: Listener) -> None:
        """Refuse an event name that a known API does not have (unknown APIs are allowed),
        and a handler that cannot take the arguments of an event that is known."""
        directory = self.directory
        for api, name in listener.events:
            if api in directory.apis or await directory.remote_schema(api) is not None:
                rule = await self.parts.validator.rule(api, name, "event")
                rule.check_handler(listener.handler, listener.name)

    async def start(self, listener: Listener) -> ListenerRunner:
        """Check the events, create the consumer groups and consume in a background task.

        Idempotent: a listener already started (or starting) is left as it is.
        """
        existing = self.runners.get(listener.name)
        if existing is not None:
            return existing
        runner = ListenerRunner(self.parts, listener)
        self.runners[listener.name] = runner
        try:
            await self.check_events(listener)
            await guarded(self.parts.settings, runner.create_groups())
        except BaseException:
            self.runners.pop(listener.name, None)
            raise
        runner.task = self.parts.spawn(runner.run(), name=f"lightbus-listener-{listener.name}")
        return runner

    async def close(self) -> None:
        """Stop every runner; cancel handlers still running (their entries stay pending
        and are delivered again later)."""
        runners = list(self.runners.values())
        for runner in runners:
            runner.stop()
        for runner in runners:
            await runner.stopped()
        handlers = [task for runner in runners for task in runner.in_flight]
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        self.runners.clear()


def default_listener_name(handler: Callable[..., Any]) -> str:
    """A stable listener name for a handler: its module and qualified name."""
    module = getattr(handler, "__module__", None) or "handler"
    qualname = getattr(handler, "__qualname__", None) or type(handler).__qualname__
    return f"{module}.{qualname}".replace("<", "").replace(">", "")
