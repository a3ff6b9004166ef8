"""The monitor's one door to the runtime: the trace vocabulary, and every read of Redis.

Nothing else in the monitor imports ``lightbus``. What comes through here:

- the trace vocabulary: :class:`TraceRecord`, the step names grouped as the model needs
  them, the known kinds and statuses, and :func:`build_tree` (all public names);
- :class:`Source`, which reads one bus through the runtime's public modules: trace
  history and live records (:mod:`lightbus.tracing`), one message and one trace, worker
  heartbeats (:mod:`lightbus.workers`), consumer-group backlog (:mod:`lightbus.groups`, the
  same figures as ``lightbus inspect --backlog``) and dead letters
  (:mod:`lightbus.deadletters`). The model's types stay its own;
- replay and redrive: :meth:`Source.plan_replay` and :meth:`Source.plan_redrive` build a
  :class:`Prepared` (what the confirmation states, and the runtime's plans) through
  :mod:`lightbus.replay` and :mod:`lightbus.redrive`, the code ``lightbus replay`` and
  ``lightbus deadletters replay`` run; :meth:`Source.send` sends it. A refusal becomes the
  plan's blockers: the confirmation shows it and offers no send.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import lightbus
from lightbus import BusConnectionError, Handling, TraceNode, TraceRecord, build_tree
from lightbus import tracing as _steps
from lightbus_tools.monitor.health import DeadLetterEntry, GroupState, WorkerBeat

__all__ = [
    "DEAD_LETTERED",
    "HANDLER_STEPS",
    "KINDS",
    "RPC_RETURNED",
    "SENT_STEPS",
    "STATUSES",
    "STEPS",
    "Handling",
    "Prepared",
    "Source",
    "SourceUnavailable",
    "TraceNode",
    "TraceRecord",
    "build_tree",
]

if TYPE_CHECKING:  # (messages imports this module's vocabulary)
    from lightbus_tools.monitor.messages import ReplayPlan

T = TypeVar("T")

STEPS: tuple[str, ...] = _steps.STEPS
SENT_STEPS = frozenset((_steps.EVENT_FIRED, _steps.RPC_CALLED))
# Steps recording one run of a handler: they carry its duration.
HANDLER_STEPS = frozenset(
    (_steps.EVENT_HANDLED, _steps.EVENT_FAILED, _steps.RPC_HANDLED, _steps.RPC_FAILED)
)
OUTCOME_STEPS = frozenset(_steps.HANDLING_STEPS)
DEAD_LETTERED = _steps.EVENT_DEAD_LETTERED
RPC_RETURNED = _steps.RPC_RETURNED
REPLAY_PERFORMED = _steps.REPLAY_PERFORMED
KINDS = _steps.KINDS
STATUSES = _steps.STATUSES

PENDING_SAMPLE = 100  # pending entries read per group, oldest first, for their attempts
DEAD_LETTER_SAMPLE = 2000  # newest dead letters read per dead-letter stream


REASON = "replayed from lightbus monitor"


class SourceUnavailable(Exception):
    """Redis cannot be reached (the message says which and why)."""


@dataclass
class Prepared:
    """A replay or a redrive ready to send: ``view`` is what the confirmation states,
    ``plans`` the runtime's plans (none when refused); ``letters``: a redrive (each dead
    letter is marked once its replay is sent)."""

    view: ReplayPlan
    plans: list[Any] = field(default_factory=list)
    letters: bool = False


class Source:
    """Reads one bus's Redis. Every method raises :class:`SourceUnavailable` when Redis is
    unreachable.

    Args:
        settings: overrides for :func:`lightbus.create` (``redis_url``, ``prefix``...);
            the rest comes from the environment and the config file, as for a worker.
    """

    def __init__(self, **settings: Any) -> None:
        self.bus = lightbus.create(**settings)
        client = self.bus.client
        self.reader = lightbus.TraceReader(self.bus)
        self.max_attempts: int = client.settings.max_attempts
        self.ack_timeout: float = client.settings.ack_timeout
        self.where: str = client.settings.redacted_url()

    async def close(self) -> None:
        await self.bus.client.close()

    # ------------------------------------------------------------ the trace

    async def last_id(self) -> str:
        """The stream id of the newest trace record (``0-0`` when there is none)."""
        return await _guard(self.reader.last_id())

    async def history(self, since_ms: int, limit: int) -> list[TraceRecord]:
        """The newest ``limit`` records written since ``since_ms``, oldest first."""
        return await _guard(self.reader.read(since=since_ms, limit=limit))

    async def follow(
        self, after: str, stop: Callable[[], bool] | None = None
    ) -> AsyncIterator[TraceRecord]:
        """Records written after the record ``after`` (a stream id), as they come, until
        ``stop()`` is true (checked about once a second)."""
        try:
            async for record in self.reader.follow(after=after, stop=stop):
                yield record
        except BusConnectionError as exc:
            raise SourceUnavailable(str(exc)) from None

    async def records_of(self, message_id: str) -> list[TraceRecord]:
        """Every record of one message, oldest first ([] when the stream holds none)."""
        try:
            return await _guard(self.reader.records_of(message_id))
        except ValueError:  # not a message id
            return []

    async def trace(self, trace_id: str, near_ms: int | None) -> list[TraceRecord]:
        """Every record of one trace, oldest first."""
        return await _guard(self.reader.trace(trace_id, near_ms=near_ms))

    # ------------------------------------------------------------ beside the trace

    async def workers(self) -> list[WorkerBeat]:
        """Every heartbeat in the registry, stale ones included."""
        from lightbus import workers

        beats = await _guard(workers.list_workers(self.bus, include_dead=True))
        return [
            WorkerBeat(
                service=b.service,
                process=b.process,
                host=b.host,
                pid=b.pid,
                apis=tuple(b.apis),
                listeners=tuple(b.listeners),
                in_flight=b.in_flight,
                version=b.version,
                seen_at=b.ts,
                interval=b.interval,
            )
            for b in beats
        ]

    async def groups(self) -> list[GroupState]:
        """Every consumer group of every event stream."""
        from lightbus import groups

        # Dead letters are read by dead_letters(), each poll: not counted twice.
        rows = await _guard(
            groups.backlog(self.bus, sample=PENDING_SAMPLE, count_dead_letters=False)
        )
        return [
            GroupState(
                api=row.api,
                name=row.name,
                group=row.group,
                length=row.length,
                lag=row.lag,
                pending=row.pending,
                consumers=row.consumers,
                oldest_pending_ms=row.oldest_pending_ms,
                deliveries=row.attempts,
            )
            for row in rows
        ]

    async def dead_letters(self) -> list[DeadLetterEntry]:
        """The newest dead letters of every dead-letter stream."""
        from lightbus import deadletters

        async def newest() -> list[deadletters.DeadLetter]:
            found = []
            for api, name in await deadletters.events(self.bus):
                found += await deadletters.read(
                    self.bus, api, name, limit=DEAD_LETTER_SAMPLE, newest_first=True
                )
            return found

        letters = await _guard(newest())
        return [
            DeadLetterEntry(
                stream_id=letter.stream_id,
                api=letter.api,
                name=letter.name,
                listener=letter.listener,
                group=letter.group,
                message_id=letter.message_id,
                attempts=letter.attempts,
                error_type=letter.error_type,
                error=letter.error,
                traceback=letter.traceback,
                ts=letter.ts,
                payload=_arguments(letter),
            )
            for letter in letters
        ]

    # ------------------------------------------------------------ replay and redrive

    async def plan_replay(self, message_id: str, listener: str | None = None) -> Prepared:
        """Replay one message to every listener, or to ``listener``, as ``lightbus replay
        <id> [--listener NAME]`` does."""
        from lightbus import replay

        try:
            recorded = await _guard(replay.original(self.bus, message_id))
            chosen = await _guard(replay.plan(self.bus, recorded, listener=listener, reason=REASON))
        except (replay.ReplayRefused, lightbus.AmbiguousId) as exc:
            return Prepared(_refused(message_id, str(exc)))
        return Prepared(_view([chosen]), [chosen])

    async def plan_redrive(self, letters: Sequence[DeadLetterEntry]) -> Prepared:
        """Redrive dead letters, each to the listener that gave up on it, as
        ``lightbus deadletters replay`` does; those already redriven are left out."""
        from lightbus import deadletters, redrive

        async def plans() -> tuple[list[Any], list[tuple[Any, str]]]:
            found = [await deadletters.get(self.bus, e.api, e.name, e.stream_id) for e in letters]
            kept = [letter for letter in found if letter is not None]
            return await redrive.letter_plans(self.bus, kept, reason=REASON)

        chosen, skipped = await _guard(plans())
        left_out = tuple(f"left out {s.message_id or s.stream_id}: {why}" for s, why in skipped)
        if not chosen:
            first = letters[0].message_id if letters else ""
            return Prepared(_refused(first, *(left_out or ("no dead letter to redrive",))))
        view = _view(chosen, redrive=True, left_out=left_out)
        return Prepared(view, chosen, letters=True)

    async def send(self, prepared: Prepared) -> list[str]:
        """Send what ``prepared`` plans; the new message ids."""
        from lightbus import redrive, replay

        if prepared.letters:
            progress = await _guard(redrive.send_many(self.bus, prepared.plans))
            return [sent.message_id for sent in progress.sent]
        return [
            (await _guard(replay.send(self.bus, chosen))).message_id for chosen in prepared.plans
        ]


def _view(plans: list[Any], *, redrive: bool = False, left_out: tuple[str, ...] = ()) -> ReplayPlan:
    """What the confirmation says of the runtime's ``plans`` (one message, or letters)."""
    from lightbus_tools.monitor.messages import ReplayPlan

    first = plans[0]
    kind = first.kind
    label = f"{kind} {first.full_name}"
    if redrive:
        label = f"{len(plans)} dead letter{'s' if len(plans) != 1 else ''} of {label}"
    targets: dict[str, None] = {}  # in order, once each
    for chosen in plans:
        for target in chosen.targets:
            if kind == "rpc":
                targets[
                    f"the RPC queue {target} (one worker serving {first.original.message.api})"
                ] = None
            else:
                targets[f"listener {target.rpartition('.')[2]} (group {target})"] = None
    if len(plans) == 1:
        payload = json.dumps(first.kwargs, indent=2, sort_keys=True, default=str)
    else:
        payload = json.dumps(
            {p.original.id: p.kwargs for p in plans}, indent=2, sort_keys=True, default=str
        )
    notes = [
        f"a new message id, with replay_of set to {first.original.id}"
        if len(plans) == 1
        else "each as a new message id, with replay_of set to its original",
        f"the original comes from the {first.original.where.replace('_', ' ')}",
    ]
    if redrive:
        notes.append("each dead letter is marked redriven once its replay is sent")
    return ReplayPlan(
        original_id=first.original.id,
        label=label,
        targets=tuple(targets) or ("no listener: nothing would run it",),
        payload=payload,
        notes=(*notes, *left_out),
    )


def _refused(message_id: str, *why: str) -> ReplayPlan:
    from lightbus_tools.monitor.messages import ReplayPlan

    return ReplayPlan(original_id=message_id, label="message", targets=(), payload="", blockers=why)


async def _guard(operation: Awaitable[T]) -> T:
    """``operation``'s result; any lost connection becomes :class:`SourceUnavailable`."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    try:
        return await operation
    except BusConnectionError as exc:
        raise SourceUnavailable(str(exc)) from None
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        raise SourceUnavailable(f"Cannot reach Redis: {exc}") from None


def _arguments(letter: Any) -> str:
    try:
        message = letter.message()
    except ValueError:
        return ""
    import json

    return json.dumps(message.kwargs, sort_keys=True, default=str)
