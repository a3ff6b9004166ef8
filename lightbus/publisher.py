"""Firing events: one ``XADD`` per event onto its stream, with its trace record.

:class:`Publisher` checks the arguments against the event's parameters, validates them
into their wire form (once), makes the messages and writes them, with their
``event.fired`` records (and any trace records held for the next write), in one write
on the bus's write path. A batch (``fire_many``) is checked whole before anything is
sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from lightbus import delayed, limits, trace
from lightbus.errors import InvalidArguments, LightbusError
from lightbus.message import FIELD, Message

if TYPE_CHECKING:
    from lightbus.apis import ApiDirectory
    from lightbus.envelope import Envelopes
    from lightbus.parts import Parts


class Publisher:
    """Fires the events of one client."""

    def __init__(self, parts: Parts, directory: ApiDirectory, envelopes: Envelopes) -> None:
        self.parts = parts
        self.directory = directory
        self.envelopes = envelopes

    async def fire(
        self,
        api: str,
        name: str,
        kwargs: dict[str, Any],
        *,
        args: tuple[Any, ...] = (),
        **options: Any,
    ) -> Message:
        """Fire ``api.name`` with ``kwargs``; return the sent message."""
        return (await self._fire(api, name, [kwargs], options, batch=False, args=args))[0]

    async def fire_many(
        self, api: str, name: str, items: Iterable[Mapping[str, Any]], **options: Any
    ) -> list[Message]:
        """Fire ``api.name`` once per mapping in ``items``, in one write (see
        :meth:`lightbus.BusClient.fire_many`)."""
        if isinstance(items, Mapping | str | bytes) or not isinstance(items, Iterable):
            raise InvalidArguments(
                f"{api}.{name}.fire_many() takes a list of keyword-argument dicts, one per "
                f"event, not {type(items).__name__}: fire_many([{{...}}, {{...}}]).",
                api=api,
                name=name,
            )
        return await self._fire(api, name, list(items), options, batch=True)

    async def _fire(
        self,
        api: str,
        name: str,
        items: list[Any],
        options: dict[str, Any],
        *,
        batch: bool,
        args: tuple[Any, ...] = (),
    ) -> list[Message]:
        parts = self.parts
        due = delayed.due_ms(options.pop("delay", None), options.pop("at", None))
        rule = await parts.validator.rule(api, name, "event")
        made: list[tuple[Message, bytes, dict[str, Any]]] = []
        for index, kwargs in enumerate(items):
            try:
                if not isinstance(kwargs, Mapping):
                    raise InvalidArguments(
                        f"{api}.{name}: an event's arguments are a dict of keyword arguments, "
                        f"not {type(kwargs).__name__}.",
                        api=api,
                        name=name,
                    )
                # Checked once: names, values, defaults and wire form (lightbus.rules).
                kwargs, sent = rule.send(kwargs, side="firer", args=args)
                message = self.envelopes.make("event", api, name, kwargs=sent, **options)
                made.append((message, limits.encode(message, parts.settings), kwargs))
            except LightbusError as exc:
                if batch:
                    exc.item = index
                    exc.args = (f"fire_many item {index}: {exc.args[0]}", *exc.args[1:])
                raise
        if not made:
            return []
        stream = parts.keys.event_stream(api, name)
        maxlen = parts.settings.event_stream_maxlen
        tracer = parts.tracer
        async with parts.pipeline() as pipe:
            if due is not None:  # held in Redis until due (lightbus.delayed)
                key = parts.keys.delayed(api, name)
                delayed.hold(pipe, tracer, key, [(m, data) for m, data, _ in made], due)
            else:
                pipe.xadd_each(stream, FIELD, [data for _, data, _ in made], maxlen)
            for message, data, _ in made if due is None else ():
                tracer.add(pipe, tracer.message_step(trace.EVENT_FIRED, message, data))
            tracer.drain_into(pipe)
            await pipe.execute()  # bounded, errors as BusConnectionError, like guarded()
        for message, _, kwargs in made:
            message.kwargs = kwargs  # the sender gets back its own values; the wire got `sent`
        return [message for message, _, _ in made]
