"""Run one event handler in a test, with a made-up event and no Redis.

:func:`run_handler` calls ``handler(event, **arguments)`` as a listener would: the event
is a real :class:`~lightbus.message.Message` whose id, attempt and ``replay_of`` the test
chooses, the handler runs inside that event's trace (so what it fires or calls names the
event as its cause), and, given the API (``api=``), the arguments are checked and
converted as they are on their way through Redis (types such as ``datetime`` or a
dataclass arrive as the handler's annotations say). Nothing is sent anywhere: combine it
with :class:`~lightbus.testing.BusMocker` to see what the handler fires.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

from lightbus import context, ids
from lightbus.api import Api, ApiDefinition, define
from lightbus.message import Message, now_ms
from lightbus.settings import Settings
from lightbus.validation import Validator

__all__ = ["make_event", "run_handler", "run_handler_async"]

T = TypeVar("T")


def make_event(
    event: str,
    arguments: Mapping[str, Any] | None = None,
    *,
    id: str | None = None,
    attempt: int = 1,
    replay_of: str = "",
    service: str = "test",
) -> Message:
    """An event message as a handler receives it, made up: nothing was sent.

    ``event`` is ``"api.name"`` (``"auth.user_registered"``); ``attempt`` is the delivery
    (1 for the first); ``replay_of`` is set for a replay (the original's id).
    """
    api, name = _split(event)
    if arguments is not None and not isinstance(arguments, Mapping):
        raise TypeError(
            f"make_event({event!r}, ...): the arguments are a dict of keyword arguments, "
            f"not {type(arguments).__name__}"
        )
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
        raise ValueError(
            f"attempt must be a whole number from 1 (the first delivery), got {attempt!r}"
        )
    if id is not None and (not isinstance(id, str) or not id):
        raise ValueError(f"id must be a non-empty string (a message id), got {id!r}")
    if not isinstance(replay_of, str):
        raise TypeError(f"replay_of is the original message's id (a str), got {replay_of!r}")
    trace_id, span_id, parent_span, causation = context.new_span()
    return Message(
        id=id or ids.message_id(),
        kind="event",
        api=api,
        name=name,
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent_span,
        causation_id=causation,
        service=service,
        sent_at=now_ms(),
        replay_of=replay_of,
        kwargs=dict(arguments or {}),
        attempt=attempt,
    )


def run_handler(
    handler: Callable[..., Any],
    event: str | Message,
    arguments: Mapping[str, Any] | None = None,
    *,
    api: Api | None = None,
    id: str | None = None,
    attempt: int = 1,
    replay_of: str = "",
) -> Any:
    """Call ``handler(event, **arguments)`` as a listener would; return what it returns.

    ``event`` is ``"api.name"`` (with ``arguments``, ``id``, ``attempt``, ``replay_of``
    for :func:`make_event`) or an event made by :func:`make_event`. With ``api`` (an
    instance of the :class:`~lightbus.Api` that declares the event), the arguments and the
    handler's parameters are checked as ``listen()`` and delivery check them, and the
    arguments are converted to the handler's types. The handler's exception is raised
    here. An ``async def`` handler is run to the end; inside a running event loop, use
    :func:`run_handler_async`.
    """
    message, kwargs = _prepare(handler, event, arguments, id, attempt, replay_of)
    if api is not None:
        kwargs = _blocking(_through_the_wire(handler, message, kwargs, api))
    if inspect.iscoroutinefunction(handler):
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(_call_async(handler, message, kwargs))
        raise RuntimeError(
            "run_handler() was called inside a running event loop with an async handler: "
            "use `await run_handler_async(...)` instead"
        )
    token = context.enter_message(message.trace_id, message.span_id, message.id)
    try:
        result = handler(message, **kwargs)
    finally:
        context.leave(token)
    if inspect.isawaitable(result):  # a plain function that returned a coroutine
        return asyncio.run(_awaited(result))
    return result


async def run_handler_async(
    handler: Callable[..., Any],
    event: str | Message,
    arguments: Mapping[str, Any] | None = None,
    *,
    api: Api | None = None,
    id: str | None = None,
    attempt: int = 1,
    replay_of: str = "",
) -> Any:
    """:func:`run_handler` for a test that runs an event loop (a plain handler runs in a
    thread, as the worker runs it)."""
    message, kwargs = _prepare(handler, event, arguments, id, attempt, replay_of)
    if api is not None:
        kwargs = await _through_the_wire(handler, message, kwargs, api)
    if inspect.iscoroutinefunction(handler):
        return await _call_async(handler, message, kwargs)
    token = context.enter_message(message.trace_id, message.span_id, message.id)
    try:
        result = await asyncio.to_thread(handler, message, **kwargs)
    finally:
        context.leave(token)
    if inspect.isawaitable(result):
        return await result
    return result


async def _call_async(handler: Callable[..., Any], message: Message, kwargs: dict[str, Any]) -> Any:
    token = context.enter_message(message.trace_id, message.span_id, message.id)
    try:
        return await handler(message, **kwargs)
    finally:
        context.leave(token)


async def _awaited(result: Any) -> Any:
    return await result


def _prepare(
    handler: Callable[..., Any],
    event: str | Message,
    arguments: Mapping[str, Any] | None,
    id: str | None,
    attempt: int,
    replay_of: str,
) -> tuple[Message, dict[str, Any]]:
    if not callable(handler):
        raise TypeError(f"run_handler() needs a callable handler, got {handler!r}")
    if isinstance(event, Message):
        if arguments is not None or id is not None or attempt != 1 or replay_of:
            raise TypeError(
                "run_handler(handler, message): the message already has its arguments, id, "
                "attempt and replay_of; set them with make_event(...)"
            )
        message = event
    elif isinstance(event, str):
        message = make_event(event, arguments, id=id, attempt=attempt, replay_of=replay_of)
    else:
        raise TypeError(
            f"run_handler() takes the event as 'api.name' or a message from make_event(), "
            f"not {type(event).__name__}"
        )
    return message, dict(message.kwargs)


class _OneApi:
    """What the bus's Validator reads (the APIs defined here, schemas, the registry), for
    one API defined here and nothing else: no Redis is involved."""

    def __init__(self, definition: ApiDefinition) -> None:
        self.settings = Settings()
        self.apis = {definition.name: definition}
        self.schemas: dict[str, dict[str, Any]] = {}

    async def remote_schema(self, api: str) -> dict[str, Any] | None:
        return None

    async def live_schemas(self) -> dict[str, Any]:
        return {}


def _blocking(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to the end from sync code, inside a running event loop or not."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _through_the_wire(
    handler: Callable[..., Any], message: Message, kwargs: dict[str, Any], api: Api
) -> dict[str, Any]:
    """Check and convert ``kwargs`` as firing and delivery of ``message`` do: the bus's
    own checker of the event, on the firer's side, then on the listener's."""
    definition = define(api)
    if definition.name != message.api:
        raise ValueError(
            f"run_handler(): the event is {message.full_name} but api= is the API "
            f"{definition.name!r}; pass the API that declares {message.api!r}"
        )
    declared = definition.events.get(message.name)
    if declared is None:
        known = ", ".join(sorted(definition.events)) or "none"
        raise ValueError(
            f"run_handler(): the API {definition.name!r} has no event {message.name!r} "
            f"(its events: {known})"
        )
    rule = await Validator(_OneApi(definition)).rule(message.api, message.name, "event")
    sent = rule.send(kwargs, side="firer")  # names, values and defaults, as fire() checks
    rule.check_handler(handler, getattr(handler, "__qualname__", repr(handler)))
    message.kwargs = sent.wire
    return rule.incoming(sent.wire, "listener")


def _split(event: str) -> tuple[str, str]:
    if not isinstance(event, str):
        raise TypeError(f"the event is named as 'api.name', got {event!r}")
    api, dot, name = event.rpartition(".")
    if not dot or not api or not name:
        raise ValueError(
            f"the event is named as 'api.name' (e.g. 'auth.user_registered'), got {event!r}"
        )
    return api, name
