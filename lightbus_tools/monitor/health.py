"""The bus beside the trace: workers, consumer-group backlog and dead letters (pure Python).

The source reads these from Redis as the plain values below (:class:`WorkerBeat`,
:class:`GroupState`, :class:`DeadLetterEntry`); the functions here turn them into the rows
the Workers, Backlog and Dead letters screens draw, with the judgements made once, here:
a worker is *stale* when it missed three heartbeats, a group is *behind* when its lag grew
since the last look or its oldest pending entry waited longer than the acknowledgement
timeout, and an entry is *near dead-lettering* when one more failed delivery would
dead-letter it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

STALE_BEATS = 3  # a worker is stale after missing this many heartbeats


@dataclass(frozen=True)
class WorkerBeat:
    """A worker's last heartbeat, as read from Redis."""

    service: str
    process: str
    host: str
    pid: int
    apis: tuple[str, ...] = ()
    listeners: tuple[str, ...] = ()
    in_flight: int = 0
    version: str = ""
    seen_at: float = 0.0  # epoch seconds of the heartbeat
    interval: float = 5.0


@dataclass(frozen=True)
class WorkerRow:
    beat: WorkerBeat
    age_s: float
    stale: bool


def worker_rows(beats: Iterable[WorkerBeat], now: float) -> list[WorkerRow]:
    """Live workers first (by service, then process), stale ones after them."""
    rows = []
    for beat in beats:
        age = max(0.0, now - beat.seen_at)
        rows.append(WorkerRow(beat, age, age > beat.interval * STALE_BEATS))
    rows.sort(key=lambda r: (r.stale, r.beat.service, r.beat.process))
    return rows


@dataclass(frozen=True)
class GroupState:
    """One consumer group of one event stream, as read from Redis.

    ``deliveries`` are the delivery counts of the oldest pending entries the source read
    (at most a bounded number of them); ``oldest_pending_ms`` is the time in the id of
    the oldest pending entry.
    """

    api: str
    name: str
    group: str
    length: int
    lag: int | None  # None: the server cannot tell (Redis < 7, or a trimmed stream)
    pending: int
    consumers: int = 0
    oldest_pending_ms: int | None = None
    deliveries: tuple[int, ...] = ()


@dataclass(frozen=True)
class BacklogRow:
    state: GroupState
    oldest_age_s: float | None
    highest_attempt: int
    near_dead: int  # pending entries one failed delivery away from the dead letters
    lag_rising: bool
    stuck: bool  # the oldest pending entry waited longer than the ack timeout

    @property
    def behind(self) -> bool:
        return self.lag_rising or self.stuck

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.state.api, self.state.name, self.state.group)


def near_dead_attempt(max_attempts: int) -> int:
    """The delivery count from which one more failure dead-letters an entry."""
    return max(1, max_attempts - 1)


def backlog_rows(
    groups: Iterable[GroupState],
    now: float,
    *,
    max_attempts: int,
    ack_timeout: float,
    previous: dict[tuple[str, str, str], int | None] | None = None,
) -> list[BacklogRow]:
    """Rows by api.name and group; ``previous`` holds each group's lag at the last look."""
    threshold = near_dead_attempt(max_attempts)
    rows = []
    for state in groups:
        age = None
        if state.oldest_pending_ms is not None:
            age = max(0.0, now - state.oldest_pending_ms / 1000)
        before = (previous or {}).get((state.api, state.name, state.group))
        rising = state.lag is not None and before is not None and state.lag > before
        rows.append(
            BacklogRow(
                state=state,
                oldest_age_s=age,
                highest_attempt=max(state.deliveries, default=0),
                near_dead=sum(1 for d in state.deliveries if d >= threshold),
                lag_rising=rising,
                stuck=age is not None and age > ack_timeout,
            )
        )
    rows.sort(key=lambda r: r.key)
    return rows


@dataclass(frozen=True)
class DeadLetterEntry:
    """One dead-lettered event, as read from its dead-letter stream."""

    stream_id: str
    api: str
    name: str
    listener: str
    group: str
    message_id: str
    attempts: int
    error_type: str
    error: str
    traceback: str = ""
    ts: int = 0  # epoch ms when it was dead-lettered
    payload: str = ""  # the event's arguments as JSON ("" when the message never decoded)


@dataclass(frozen=True)
class DeadLetterGroup:
    api: str
    name: str
    listener: str
    error_type: str
    first_ts: int
    last_ts: int
    entries: tuple[DeadLetterEntry, ...] = field(default=())  # newest first

    @property
    def count(self) -> int:
        return len(self.entries)

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.api, self.name, self.listener, self.error_type)


def dead_letter_groups(entries: Iterable[DeadLetterEntry]) -> list[DeadLetterGroup]:
    """Dead letters grouped by api.name, listener and error type; the latest group first."""
    grouped: dict[tuple[str, str, str, str], list[DeadLetterEntry]] = {}
    for entry in entries:
        key = (entry.api, entry.name, entry.listener, entry.error_type)
        grouped.setdefault(key, []).append(entry)
    groups = []
    for (api, name, listener, error_type), members in grouped.items():
        members.sort(key=lambda e: (e.ts, e.stream_id), reverse=True)
        groups.append(
            DeadLetterGroup(
                api=api,
                name=name,
                listener=listener,
                error_type=error_type,
                first_ts=members[-1].ts,
                last_ts=members[0].ts,
                entries=tuple(members),
            )
        )
    groups.sort(key=lambda g: (-g.last_ts, g.key))
    return groups
