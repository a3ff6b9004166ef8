"""Replaying many messages: ranges from the trace, and dead-letter redrive.

Both go through :mod:`lightbus.replay`'s plan and send, paced and stoppable:

- :func:`select`: the ids of the events recorded in a time range (``status="failed"``:
  those a listener finally failed or gave up on), for :func:`lightbus.replay.original`.
- :func:`letter_plans`: a plan per dead letter, each to the listener that gave up on it;
  letters already redriven are left out unless ``force``.
- :func:`send_many`: sends plans at a ``rate``, reporting progress, stopping between two
  sends when ``should_stop`` says so; what it sent is in the returned :class:`Progress`.
- A redriven dead letter is marked in ``<prefix>:redriven:<api>.<name>`` (letter id ->
  the replay's id) as soon as its replay is sent: a redrive stopped halfway and started
  again sends each letter once. :func:`redriven` reads the marks, :func:`purge` removes
  letters and their marks.

Example::

    from lightbus import deadletters, redrive

    letters = await deadletters.read(bus, "shop", "order_placed")
    plans, skipped = await redrive.letter_plans(bus, letters, reason="bug 12 fixed")
    progress = await redrive.send_many(bus, plans, rate=50)
    print(progress.sent, "of", progress.total)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from lightbus.busaccess import BusOrClient, access, text
from lightbus.deadletter import DeadLetter
from lightbus.replay import Plan, Recorded, ReplayRefused, Sent, _any, plan, send
from lightbus.trace import EVENT_DEAD_LETTERED, EVENT_FAILED, EVENT_FIRED, EVENT_HANDLED

__all__ = [
    "LetterGroup",
    "Progress",
    "letter_plans",
    "purge",
    "redriven",
    "select",
    "send_many",
    "summarize",
]

_OUTCOMES = (EVENT_HANDLED, EVENT_FAILED, EVENT_DEAD_LETTERED)


async def select(
    bus: BusOrClient,
    *,
    since: datetime | int | float | None = None,
    until: datetime | int | float | None = None,
    api: str | None = None,
    name: str | None = None,
    status: str | None = None,
    listener: str | None = None,
) -> list[str]:
    """Ids of the events recorded between ``since`` and ``until``, oldest first.

    Args:
        status: ``"failed"``: only events whose last outcome for a listener is a failure
            or a dead letter (an event retried into success is not failed); ``None``:
            every event fired in the range.
        listener: only outcomes of this listener (its name or ``service.listener``).
    """
    from lightbus.tracereader import TraceFilter, TraceReader

    if status not in (None, "failed"):
        raise ValueError(f"status is 'failed' or None, not {status!r}")
    reader = TraceReader(_any(bus))
    where = TraceFilter(api=api, name=name, kind="event")
    records = await reader.read(where, since=since, until=until)
    if status is None:
        return _unique(r.id for r in records if r.record == EVENT_FIRED)
    last: dict[tuple[str, str], str] = {}
    for record in records:
        if record.record in _OUTCOMES and _is_listener(record.listener, listener):
            last[(record.id, record.listener)] = record.status
    return _unique(key[0] for key, outcome in last.items() if outcome != "ok")


def _is_listener(actual: str, wanted: str | None) -> bool:
    return wanted is None or actual == wanted or wanted.endswith(f".{actual}")


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


async def letter_plans(
    bus: BusOrClient, letters: Sequence[DeadLetter], *, force: bool = False, reason: str = ""
) -> tuple[list[Plan], list[tuple[DeadLetter, str]]]:
    """A plan per dead letter, to the listener (consumer group) that gave up on it.

    Returns the plans and the letters left out with why: already redriven (unless
    ``force``), holding no valid message, or refused by :func:`lightbus.replay.plan`.
    """
    marks: dict[tuple[str, str], dict[str, str]] = {}
    plans: list[Plan] = []
    skipped: list[tuple[DeadLetter, str]] = []
    for letter in letters:
        key = (letter.api, letter.name)
        if key not in marks:
            marks[key] = await redriven(bus, letter.api, letter.name)
        if not force and letter.stream_id in marks[key]:
            skipped.append((letter, f"already redriven as {marks[key][letter.stream_id]}"))
            continue
        try:
            recorded = Recorded(letter.message(), "dead_letters", dead_letter=letter)
            plans.append(await plan(bus, recorded, listener=letter.group, reason=reason))
        except (ValueError, ReplayRefused) as exc:
            skipped.append((letter, str(exc)))
    return plans, skipped


async def redriven(bus: BusOrClient, api: str, name: str) -> dict[str, str]:
    """The marks of the redriven dead letters of ``api.name``: letter id -> replay id."""
    conn = access(bus)
    found = await conn.guard(conn.redis.hgetall(conn.keys.redriven(api, name)))
    return {text(k): text(v) for k, v in found.items()}


async def _mark(bus: BusOrClient, letter: DeadLetter, replay_id: str) -> None:
    conn = access(bus)
    key = conn.keys.redriven(letter.api, letter.name)
    await conn.guard(conn.redis.hset(key, letter.stream_id, replay_id))


async def purge(bus: BusOrClient, api: str, name: str) -> int:
    """Delete the dead letters of ``api.name`` and their redrive marks; how many letters."""
    conn = access(bus)
    stream = conn.keys.dead_letters(api, name)

    async def delete() -> int:
        count = int(await conn.redis.xlen(stream))
        await conn.redis.delete(stream, conn.keys.redriven(api, name))
        return count

    return await conn.guard(delete())


@dataclass
class Progress:
    """How far :func:`send_many` got: ``sent`` of ``total``; ``stopped`` when asked to
    stop before the end; ``failed`` holds ``(original id, error)`` of RPC replays that
    returned an error."""

    total: int
    sent: list[Sent] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    stopped: bool = False

    @property
    def done(self) -> int:
        return len(self.sent)


async def send_many(
    bus: BusOrClient,
    plans: Sequence[Plan],
    *,
    rate: float | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    timeout: float | None = None,
) -> Progress:
    """Send ``plans`` in order, at most ``rate`` per second (``None``: as fast as they go).

    ``should_stop`` is asked before each send: a stop always falls between two sends, so
    a dead letter's replay and its mark are never split. A dead letter's plan marks the
    letter redriven once its replay is sent.
    """
    if rate is not None and rate <= 0:
        raise ValueError(f"rate is messages per second, more than 0 (got {rate})")
    progress = Progress(total=len(plans))
    started = time.monotonic()
    for index, chosen in enumerate(plans):
        if should_stop is not None and should_stop():
            progress.stopped = True
            break
        if rate is not None:
            wait = started + index / rate - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                if should_stop is not None and should_stop():
                    progress.stopped = True
                    break
        sent = await send(bus, chosen, timeout=timeout)
        letter = chosen.original.dead_letter
        if letter is not None and chosen.original.where == "dead_letters":
            await _mark(bus, letter, sent.message_id)
        progress.sent.append(sent)
        if sent.error is not None:
            progress.failed.append((chosen.original.id, str(sent.error)))
        if on_progress is not None:
            on_progress(progress)
    return progress


@dataclass(frozen=True)
class LetterGroup:
    """Dead letters of one event, listener and error type: how many, first and last."""

    api: str
    name: str
    group: str
    error_type: str
    count: int
    first_ts: int
    last_ts: int
    redriven: int


async def summarize(bus: BusOrClient, letters: Iterable[DeadLetter]) -> list[LetterGroup]:
    """``letters`` grouped by event, listener and error type (with redriven counts)."""
    groups: dict[tuple[str, str, str, str], list[DeadLetter]] = {}
    for letter in letters:
        key = (letter.api, letter.name, letter.group, letter.error_type)
        groups.setdefault(key, []).append(letter)
    marks: dict[tuple[str, str], dict[str, str]] = {}
    out = []
    for (api, name, group, error_type), members in sorted(groups.items()):
        if (api, name) not in marks:
            marks[(api, name)] = await redriven(bus, api, name)
        stamps = [m.ts for m in members]
        done = sum(1 for m in members if m.stream_id in marks[(api, name)])
        out.append(
            LetterGroup(api, name, group, error_type, len(members), min(stamps), max(stamps), done)
        )
    return out
