"""Per ``api.name`` figures for the APIs screen: rate, handler times, errors (pure Python).

Every record the monitor reads is counted here, paused or not, filtered or not:

- **rate**: messages sent (``event.fired``, ``rpc.called``) per second, counted in
  buckets of ``bucket_s`` seconds by the record's time; the last ``buckets`` of them
  are the sparkline, and the rate shown is the mean over the last minute;
- **p50 / p99**: of the handler times (``duration_ms``) of the last ``samples`` runs
  (handled or failed);
- **errors**: failed runs, expired calls and callers' timeouts, against all outcomes
  for the error rate; dead letters are counted apart; the last error keeps its type,
  message and time.

Memory is bounded: a fixed number of buckets and samples per name, and at most
``max_names`` names (the least recently active is dropped first).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from lightbus_tools.monitor.source import (
    DEAD_LETTERED,
    HANDLER_STEPS,
    OUTCOME_STEPS,
    RPC_RETURNED,
    SENT_STEPS,
    TraceRecord,
)

RATE_WINDOW_S = 60


@dataclass
class _Counts:
    kind: str
    buckets: dict[int, int] = field(default_factory=dict)
    durations: deque[float] = field(default_factory=deque)
    outcomes: int = 0
    errors: int = 0
    dead: int = 0
    sent: int = 0
    last_error: str = ""
    last_error_ts: int = 0
    last_ts: int = 0


@dataclass(frozen=True)
class ApiRow:
    api: str
    name: str
    kind: str
    rate: float  # messages per second over the last minute
    series: tuple[float, ...]  # messages per second per bucket, oldest first
    p50_ms: float | None
    p99_ms: float | None
    sent: int
    outcomes: int
    errors: int
    dead: int
    last_error: str
    last_error_ts: int

    @property
    def error_rate(self) -> float:
        return self.errors / self.outcomes if self.outcomes else 0.0


class ApiStats:
    """Counts records per api.name as they arrive; :meth:`rows` reads them out."""

    def __init__(
        self,
        *,
        bucket_s: int = 20,
        buckets: int = 15,
        samples: int = 1000,
        max_names: int = 2000,
    ) -> None:
        self.bucket_ms = bucket_s * 1000
        self.buckets = buckets
        self.samples = samples
        self.max_names = max_names
        self._by_name: dict[tuple[str, str], _Counts] = {}

    def __len__(self) -> int:
        return len(self._by_name)

    def add(self, records: Iterable[TraceRecord]) -> None:
        for record in records:
            if not record.api:
                continue  # worker life
            step = record.record
            key = (record.api, record.name)
            counts = self._by_name.get(key)
            if counts is None:
                counts = self._new(key, record.message_kind)
            if record.ts > counts.last_ts:
                counts.last_ts = record.ts
            if step in SENT_STEPS:
                counts.sent += 1
                bucket = record.ts // self.bucket_ms
                counts.buckets[bucket] = counts.buckets.get(bucket, 0) + 1
                if len(counts.buckets) > self.buckets * 2:
                    self._prune(counts, bucket)
                continue
            if step in HANDLER_STEPS:
                durations = counts.durations
                durations.append(record.duration_ms)
                if len(durations) > self.samples:
                    durations.popleft()
            if step == DEAD_LETTERED:
                counts.dead += 1
            elif step in OUTCOME_STEPS or (step == RPC_RETURNED and record.status == "timeout"):
                # A caller's timeout is an outcome too: often no worker ran the call at all.
                counts.outcomes += 1
                if record.status != "ok":
                    counts.errors += 1
            if record.status not in ("ok", "") and record.ts >= counts.last_error_ts:
                counts.last_error_ts = record.ts
                text = f"{record.error_type}: {record.error}" if record.error_type else ""
                counts.last_error = (text or record.status).splitlines()[0]

    def _new(self, key: tuple[str, str], kind: str) -> _Counts:
        if len(self._by_name) >= self.max_names:
            stalest = min(self._by_name, key=lambda k: self._by_name[k].last_ts)
            del self._by_name[stalest]
        counts = self._by_name[key] = _Counts(kind=kind)
        return counts

    def _prune(self, counts: _Counts, newest: int) -> None:
        keep_from = newest - self.buckets
        for bucket in [b for b in counts.buckets if b < keep_from]:
            del counts.buckets[bucket]

    def rows(self, now_ms: int) -> list[ApiRow]:
        """One row per api.name, sorted by name; rates end at ``now_ms``."""
        newest = now_ms // self.bucket_ms
        first = newest - self.buckets + 1
        seconds = self.bucket_ms / 1000
        window = max(1, RATE_WINDOW_S * 1000 // self.bucket_ms)
        # The newest bucket is only partly over: the rate divides by the time it covers.
        span_s = (window - 1) * seconds + max(0.001, (now_ms % self.bucket_ms) / 1000)
        rows = []
        for (api, name), counts in sorted(self._by_name.items()):
            series = tuple(counts.buckets.get(b, 0) / seconds for b in range(first, newest + 1))
            recent = sum(counts.buckets.get(b, 0) for b in range(newest - window + 1, newest + 1))
            ordered = sorted(counts.durations)
            rows.append(
                ApiRow(
                    api=api,
                    name=name,
                    kind=counts.kind,
                    rate=recent / span_s,
                    series=series,
                    p50_ms=percentile(ordered, 0.50),
                    p99_ms=percentile(ordered, 0.99),
                    sent=counts.sent,
                    outcomes=counts.outcomes,
                    errors=counts.errors,
                    dead=counts.dead,
                    last_error=counts.last_error,
                    last_error_ts=counts.last_error_ts,
                )
            )
        return rows


def percentile(ordered: list[float], q: float) -> float | None:
    """The nearest-rank percentile of an already sorted list (None when empty)."""
    if not ordered:
        return None
    rank = max(1, -(-len(ordered) * q // 1))  # ceil(n * q), at least 1
    return ordered[int(rank) - 1]
