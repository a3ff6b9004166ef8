"""What became of a message sent from the terminal, read from the trace stream.

Both lookups start from the stream's last entry as it was *before* the message was sent
(:meth:`lightbus.TraceReader.last_id`), so they read only what was written since, never
the stream's history:

- :func:`call_id`: the id of an RPC call, from its ``rpc.called`` record (``BusClient``
  returns only the result; the call runs in a trace of its own, so its root record is
  the one of that trace with no cause);
- :func:`wait_for_listeners`: each listener's outcome of an event (handled, failed,
  dead-lettered), until every listener is done or the time is up.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import lightbus
from lightbus_tools.send import runtime

CALL_ID_WAIT = 2.0  # the record is written with the call itself: it is there already

HANDLED, FAILED, DEAD, PENDING = "handled", "failed", "dead_lettered", "pending"
_STATUS = {
    runtime.EVENT_HANDLED: HANDLED,
    runtime.EVENT_FAILED: FAILED,
    runtime.EVENT_DEAD_LETTERED: DEAD,
}


@dataclass
class ListenerOutcome:
    """Where one listener (one consumer group) is with the fired event.

    ``records`` are the listener's records of the event so far (every attempt);
    ``handling`` sums them up as ``lightbus trace`` does. ``live`` says, for a listener
    with no final outcome in time, whether a live worker runs it.
    """

    group: str
    records: list[lightbus.TraceRecord] = field(default_factory=list)
    live: bool | None = None

    @property
    def outcome(self) -> str:
        return _STATUS[self.records[-1].record] if self.records else PENDING

    @property
    def done(self) -> bool:
        """Handled, or given up on: nothing more will happen without a replay."""
        return self.outcome in (HANDLED, DEAD)

    @property
    def handling(self) -> lightbus.Handling | None:
        return lightbus.Handling.of(self.records) if self.records else None

    def to_dict(self) -> dict[str, Any]:
        """``group``, ``outcome`` and ``live``, then the handling as ``trace --json`` has it."""
        handling = self.handling
        fields = {"group": self.group, "outcome": self.outcome, "live": self.live}
        return fields | (handling.to_dict() if handling is not None else {})


async def call_id(
    bus: lightbus.Bus, *, after: str, trace_id: str, api: str, name: str
) -> str | None:
    """The id of the call of ``api.name`` that started trace ``trace_id``, or None."""
    reader = lightbus.TraceReader(bus)
    where = lightbus.TraceFilter(trace_id=trace_id, step=runtime.RPC_CALLED, api=api, name=name)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(CALL_ID_WAIT):
            async with contextlib.aclosing(reader.follow(where, after=after)) as records:
                async for record in records:
                    if not record.causation_id:
                        return record.id
    return None


async def wait_for_listeners(
    bus: lightbus.Bus,
    message: lightbus.Message,
    groups: Iterable[str],
    *,
    after: str,
    timeout: float,
    seen: Callable[[ListenerOutcome], None] = lambda outcome: None,
) -> list[ListenerOutcome]:
    """Follow the trace until every listener of ``groups`` is done with ``message``.

    ``seen`` is called on each new outcome (every attempt) as it is read. Returns the
    outcomes by group, those still pending at ``timeout`` included, marked ``live``.
    """
    outcomes = {group: ListenerOutcome(group) for group in groups}
    services = await runtime.live_services(bus) if outcomes else {}
    reader = lightbus.TraceReader(bus)
    where = lightbus.TraceFilter(message_id=message.id, trace_id=message.trace_id)
    if outcomes:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                async with contextlib.aclosing(reader.follow(where, after=after)) as records:
                    async for record in records:
                        if record.record not in _STATUS:
                            continue
                        outcome = _outcome_of(outcomes, record, services)
                        outcome.records.append(record)
                        seen(outcome)
                        if all(o.done for o in outcomes.values()):
                            break
    unfinished = [o for o in outcomes.values() if not o.done]
    if unfinished:
        services = await runtime.live_services(bus)
        for outcome in unfinished:
            outcome.live = await _live(bus, message, outcome.group, services)
    return sorted(outcomes.values(), key=lambda o: o.group)


async def _live(
    bus: lightbus.Bus,
    message: lightbus.Message,
    group: str,
    services: dict[str, tuple[str, set[str]]],
) -> bool:
    """Whether a live worker runs the listener of ``group``: one that names it in its
    heartbeat, or one that is a consumer of the group (a heartbeat written before the
    worker's start hooks registered their listeners does not name them yet)."""
    if any(group in groups for _, groups in services.values()):
        return True
    consumers = await runtime.group_consumers(bus, message.api, message.name, group)
    return any(consumer in services for consumer in consumers)


def _outcome_of(
    outcomes: dict[str, ListenerOutcome],
    record: lightbus.TraceRecord,
    services: dict[str, tuple[str, set[str]]],
) -> ListenerOutcome:
    """The outcome of the group (``<service>.<listener>``) that ``record`` is about.

    Records name the listener and the process that handled the event, not its service:
    the service comes from that process's heartbeat. Without one (the worker stopped),
    the group is the one whose name ends with the listener's, not done yet if several.
    """
    known = services.get(record.handled_by)
    if known is not None:
        group = runtime.consumer_group(known[0], record.listener)
        return outcomes.setdefault(group, ListenerOutcome(group))
    matching = [o for group, o in outcomes.items() if group.endswith(f".{record.listener}")]
    for outcome in matching:
        if not outcome.done:
            return outcome
    if matching:
        return matching[0]
    # A group that appeared after the event was fired, from an earlier position.
    return outcomes.setdefault(record.listener, ListenerOutcome(record.listener))
