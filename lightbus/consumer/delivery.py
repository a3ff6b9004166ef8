"""One delivery of one event stream entry to a listener's handler.

The steps, in order:

1. An entry delivered more than ``max_attempts`` times without being acknowledged (its
   handler kept killing or hanging the process) is dead-lettered without running again.
2. An entry that cannot be read (it does not decode, is over ``max_payload_bytes`` or
   ``max_payload_depth``, or is of a newer protocol version: :mod:`lightbus.limits`), is
   not an event of the streams the listener reads, or whose arguments do not fit the
   event's parameters, is dead-lettered at once with the reason: retrying cannot fix
   it. So is an entry on which any other step of the bus's own fails, whatever the
   exception: it never stops the entries after it, the listener or a reclaim pass.
3. The handler runs. On success the entry is acknowledged (``XACK`` in one write with
   the ``event.handled`` record; the acks of entries handled in the same turn share one
   ``XACK``: :mod:`lightbus.consumer.acks`); the acknowledgement is retried through a lost
   connection, and if it still cannot be written the entry stays pending and is
   redelivered (at-least-once).
4. A handler that raises is recorded (``event.failed``) and retried with exponential
   backoff (``retry_backoff`` doubling, at most 30 s); ``XCLAIM`` bumps the delivery
   count, so the attempt survives a crash. After ``max_attempts`` the entry goes to the
   dead-letter stream with the error, the traceback and the attempts, and is
   acknowledged. With ``on_error="stop"`` the worker stops instead and the entry stays
   pending.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections.abc import Callable
from typing import Any

from lightbus import context, limits, trace
from lightbus.connection import CONNECTION_ERRORS, Backoff, describe, guarded
from lightbus.consumer.entry import Entry, Holder, Undeliverable
from lightbus.deadletter import DeadLetter
from lightbus.errors import BusConnectionError, ValidationError
from lightbus.message import FIELD, Message, now_ms

logger = logging.getLogger("lightbus.events")

MAX_BACKOFF = 30.0
MESSAGE_FIELD = FIELD.encode()
SCHEMA_RECHECK_SECONDS = 10.0


async def handle(runner: Holder, entry: Entry) -> None:
    """Handle ``entry`` to the end: acknowledged, dead-lettered, or left pending.

    A step of the bus's own that fails on the entry, with whatever exception, dead-letters
    it with the reason (and the traceback): the entries after it, the listener and its
    reclaim passes carry on. Only a lost connection leaves the entry pending.
    """
    try:
        await _deliver(runner, entry)
    except (BusConnectionError, *CONNECTION_ERRORS):
        raise  # transient: the entry stays pending and is delivered again
    except Exception as exc:
        if entry.acking:
            raise  # handled: its acknowledgement is on its way
        logger.exception(
            "Listener %s could not handle entry %s of %s",
            runner.listener.name,
            entry.entry_id,
            entry.stream,
        )
        await dead_letter(runner, entry, None, exc, traceback.format_exc(), entry.attempt)


async def _deliver(runner: Holder, entry: Entry) -> None:
    if entry.attempt > runner.max_attempts:
        exc = Undeliverable(
            f"delivered {entry.attempt - 1} times without being acknowledged: the handler's "
            f"process died or hung each time (max_attempts={runner.max_attempts})"
        )
        await dead_letter(runner, entry, decoded_or_none(runner, entry), exc, "", entry.attempt - 1)
        return
    try:
        message = _accept(runner, entry)
    except Exception as exc:  # msgspec's decode errors, the limits, a RecursionError...
        await dead_letter(runner, entry, decoded_or_none(runner, entry), exc, "", entry.attempt)
        return
    if message.to and message.to != runner.group:
        # A replay for another listener: acknowledged unseen, no handler runs, no record.
        runner.acks.add(entry, None)
        return
    # The handler and the runtime's log lines about the event carry its trace.
    spans = runner.parts.spans  # OpenTelemetry: the handler's messages are its span's children
    span_id = message.span_id if spans is None else spans.begin(message, runner.listener.name)
    token = context.enter_message(message.trace_id, span_id, message.id, message.replay_of)
    try:
        await _handle_message(runner, entry, message)
    finally:
        context.leave(token)


async def _handle_message(runner: Holder, entry: Entry, message: Message) -> None:
    try:
        local = runner.parts.validator.local(message.api, message.name, "event")
        if local is not None:  # the API is defined here: no lookup, no await
            kwargs = local.incoming(message.kwargs, "listener")
        else:
            kwargs = await _checked_kwargs(runner, message)
    except (BusConnectionError, *CONNECTION_ERRORS):
        raise  # the schema lookup lost Redis: delivered again later
    except Exception as exc:
        # Retrying cannot make a bad payload good: dead-letter it at once. Not only a
        # ValidationError: a parameter type's own checks may raise anything.
        logger.error("Listener %s refused %s: %s", runner.listener.name, message.id, exc)
        tb = "" if isinstance(exc, ValidationError) else traceback.format_exc()
        await dead_letter(runner, entry, message, exc, tb, entry.attempt)
        return
    parts = runner.parts
    while True:
        message.attempt = entry.attempt
        started = time.perf_counter()
        queued_ms = max(0, now_ms() - message.sent_at)
        try:
            if runner.handler_is_async:
                await runner.listener.handler(message, **kwargs)
            else:
                await parts.invoke(runner.listener.handler, message, **kwargs)
        except (Exception, asyncio.CancelledError) as exc:
            if isinstance(exc, asyncio.CancelledError) and _being_cancelled():
                raise  # a stop: the entry stays pending (or is handed back)
            # A CancelledError the handler raised itself (e.g. from a future someone else
            # cancelled) is its failure like any other.
            tb = traceback.format_exc()
            duration = (time.perf_counter() - started) * 1000
            if await _failed(runner, entry, message, exc, tb, queued_ms, duration):
                return
            entry.attempt += 1
            continue
        duration = (time.perf_counter() - started) * 1000
        record = parts.tracer.message_step(
            trace.EVENT_HANDLED,
            message,
            entry.fields[MESSAGE_FIELD],
            listener=runner.listener.name,
            queued_ms=queued_ms,
            duration_ms=duration,
            with_payload=False,
        )
        # The handler returned: its slot takes the next entry while the ack is written
        # (the acks of entries handled in the same turn share one XACK and one write, with
        # persist's retries: lightbus.consumer.acks). The entry stays held, its lease renewed,
        # until the ack is written; a graceful stop waits for that too.
        runner.acks.add(entry, record)
        return


def _being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _accept(runner: Holder, entry: Entry) -> Message:
    """Decode an entry within the limits; raise saying why it is not an event to handle here."""
    api, name = runner.event_of[entry.stream]
    message = limits.decode_fields(entry.fields, runner.parts.settings, api, name)
    if message.kind != "event" or (message.api, message.name) not in runner.listener.events:
        raise Undeliverable(
            f"entry {entry.entry_id} of {entry.stream} holds a message of kind "
            f"{message.kind!r} for {message.api}.{message.name}, which listener "
            f"{runner.listener.name!r} does not listen to"
        )
    return message


async def _checked_kwargs(runner: Holder, message: Message) -> dict[str, Any]:
    """The event's kwargs, validated and cast to the event's parameter types if known.

    Raises :class:`~lightbus.errors.ValidationError` for arguments that do not fit. An
    event that nothing here or live describes is passed as it came; that finding is
    kept for a while, so such events do not cost a registry lookup each.
    """
    key = (message.api, message.name)
    absent_since = runner.unchecked.get(key)
    if absent_since is not None and time.monotonic() - absent_since < SCHEMA_RECHECK_SECONDS:
        return message.kwargs
    checker = await runner.parts.validator.for_listener(message.api, message.name)
    if checker is None:
        runner.unchecked[key] = time.monotonic()
        return message.kwargs
    runner.unchecked.pop(key, None)
    return checker.incoming(message.kwargs, "listener")


def decoded_or_none(runner: Holder, entry: Entry) -> Message | None:
    """The entry's message, or None when it cannot be read, whatever the reason."""
    try:
        api, name = runner.event_of[entry.stream]
        return limits.decode_fields(entry.fields, runner.parts.settings, api, name)
    except Exception:
        return None


async def _failed(
    runner: Holder,
    entry: Entry,
    message: Message,
    exc: BaseException,
    tb: str,
    queued_ms: float,
    duration: float,
) -> bool:
    """Record a failure; dead-letter or wait for the retry. True when done with the entry."""
    parts = runner.parts
    logger.error(
        "Listener %s failed on %s (id %s, attempt %d/%d): %s: %s",
        runner.listener.name,
        message.full_name,
        message.id,
        entry.attempt,
        runner.max_attempts,
        type(exc).__name__,
        exc,
    )
    record = parts.tracer.for_message(
        trace.EVENT_FAILED,
        message,
        listener=runner.listener.name,
        status="error",
        queued_ms=queued_ms,
        duration_ms=duration,
        error=exc,
        traceback=tb,
    )
    try:
        await parts.tracer.write([record])
    except (BusConnectionError, *CONNECTION_ERRORS) as write_error:
        logger.warning("Could not record the failure: %s", write_error)
    if runner.listener.on_error == "stop":
        runner.fatal = exc
        parts.request_stop(f"listener {runner.listener.name} failed and on_error='stop'")
        return True
    if entry.attempt >= runner.max_attempts:
        await dead_letter(runner, entry, message, exc, tb, entry.attempt)
        return True
    delay = min(parts.settings.retry_backoff * 2 ** (entry.attempt - 1), MAX_BACKOFF)
    await asyncio.sleep(delay)

    # XCLAIM bumps the delivery count, so a crash from here on still counts attempts.
    def claim(pipe: Any) -> None:
        pipe.xclaim(
            entry.stream,
            runner.group,
            runner.consumer,
            min_idle_time=0,
            message_ids=[entry.entry_id],
        )

    results = await persist(runner, claim, f"claim {entry.entry_id} for a retry", batch=False)
    claimed = results[0] if results else []
    return not claimed  # nothing claimed: acknowledged, deleted, or Redis unreachable


async def dead_letter(
    runner: Holder,
    entry: Entry,
    message: Message | None,
    exc: BaseException,
    tb: str,
    attempts: int,
) -> None:
    """Move ``entry`` to the dead-letter stream, acknowledge it, record it."""
    parts = runner.parts
    # The dead letter belongs to the stream the entry was read from, whatever it claims.
    api, name = runner.event_of[entry.stream]
    letter = DeadLetter(
        api=api,
        name=name,
        listener=runner.listener.name,
        group=runner.group,
        stream=entry.stream,
        entry_id=entry.entry_id,
        message_id=message.id if message else "",
        attempts=attempts,
        error_type=trace.qualified_name(type(exc)),
        error=str(exc),
        traceback=parts.tracer.cap_traceback(tb),
        ts=now_ms(),
        raw=entry.fields.get(b"m", b""),
    )
    logger.error(
        "Dead-lettered entry %s of %s after %d attempt(s): %s: %s",
        entry.entry_id,
        entry.stream,
        attempts,
        letter.error_type,
        exc,
    )
    record: trace.TraceRecord | None
    if message is None:
        record = trace.TraceRecord(
            record=trace.EVENT_DEAD_LETTERED,
            ts=now_ms(),
            kind="event",
            api=api,
            name=name,
            listener=runner.listener.name,
            attempt=attempts,
            status="dead",
            error_type=letter.error_type,
            error=letter.error,
        )
    else:
        message.attempt = attempts
        record = parts.tracer.for_message(
            trace.EVENT_DEAD_LETTERED,
            message,
            listener=runner.listener.name,
            status="dead",
            error=exc,
            traceback=tb,
            with_payload=False,
        )

    def move(pipe: Any) -> None:
        pipe.xadd(
            parts.keys.dead_letters(api, name),
            letter.to_fields(),
            maxlen=parts.settings.event_stream_maxlen,
            approximate=True,
        )
        pipe.xack(entry.stream, runner.group, entry.entry_id)
        parts.tracer.add(pipe, record)

    await persist(runner, move, f"dead-letter {entry.entry_id} of {entry.stream}")


async def persist(
    runner: Holder, build: Callable[[Any], None], what: str, *, batch: bool = True
) -> list[Any]:
    """Run one group of writes, retrying through a lost connection for up to ``ack_timeout``.

    ``batch``: through the bus's write path (``client.pipeline()``: XADD, XACK, RPUSH and
    PEXPIRE only); otherwise through a redis-py pipeline. Returns the results, or ``[]``
    when Redis stayed unreachable: the entry then stays pending and is redelivered, which
    is what at-least-once allows.
    """
    parts = runner.parts
    give_up = time.monotonic() + max(parts.settings.ack_timeout, 1.0)
    backoff = Backoff()
    while True:
        try:
            if batch:
                async with parts.pipeline() as group:
                    build(group)
                    return list(await group.execute())  # bounded like guarded()
            async with parts.redis.pipeline(transaction=False) as pipe:
                build(pipe)
                return list(await guarded(parts.settings, pipe.execute()))
        except (BusConnectionError, *CONNECTION_ERRORS) as exc:
            if time.monotonic() >= give_up:
                logger.error(
                    "Could not %s (%s); it stays pending for redelivery", what, describe(exc)
                )
                return []
            logger.warning("Could not %s (%s); retrying", what, describe(exc))
            await asyncio.sleep(backoff.next())
