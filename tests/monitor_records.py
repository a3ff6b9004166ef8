"""Trace records made by hand for the monitor's model tests and its deterministic scenes.

Ids are UUIDv7 built from a fixed time, so a reader finds them near that time, and
every record gets a stream id, as the reader would give it.
"""

from __future__ import annotations

import itertools

from lightbus import TraceRecord

BASE_MS = 1_795_000_000_000  # 2026-11-18 11:06:40 UTC
_serial = itertools.count(1)


def message_id(ms: int, n: int | None = None) -> str:
    """A UUIDv7 for time ``ms``: the time in its first 48 bits, ``n`` at its end."""
    n = next(_serial) if n is None else n
    return f"{ms:012x}7000800000000000{n:04x}"


def trace_id(n: int) -> str:
    return f"{n:032x}"


def span_id(n: int) -> str:
    return f"{n:016x}"


class Maker:
    """Records of one scene, with stream ids in order: ``ms-seq``."""

    def __init__(self, base_ms: int = BASE_MS) -> None:
        self.base_ms = base_ms
        self.seq = itertools.count()
        self.spans = itertools.count(1)

    def _stream_id(self, ts: int) -> str:
        return f"{ts}-{next(self.seq)}"

    def sent(
        self,
        kind: str,
        api: str,
        name: str,
        *,
        at: int,
        trace: int = 1,
        cause: TraceRecord | None = None,
        payload: str = "{}",
        service: str = "sales",
        replay_of: str = "",
        n: int | None = None,
    ) -> TraceRecord:
        ts = self.base_ms + at
        step = "event.fired" if kind == "event" else "rpc.called"
        record = TraceRecord(
            record=step,
            ts=ts,
            id=message_id(ts, n),
            kind=kind,
            api=api,
            name=name,
            trace_id=trace_id(trace),
            span_id=span_id(next(self.spans)),
            parent_span_id=cause.span_id if cause else "",
            causation_id=cause.id if cause else "",
            service=service,
            process=f"{service}-1",
            host="box",
            pid=100,
            sent_at=ts,
            replay_of=replay_of,
            status="ok",
            payload=payload,
        )
        record.stream_id = self._stream_id(ts)
        return record

    def step(
        self,
        of: TraceRecord,
        step: str,
        *,
        at: int,
        listener: str = "",
        status: str = "ok",
        attempt: int = 1,
        queued_ms: float = 1.0,
        duration_ms: float = 2.0,
        error_type: str = "",
        error: str = "",
        traceback: str = "",
        payload: str = "",
        handled_by: str = "worker-1",
    ) -> TraceRecord:
        ts = self.base_ms + at
        fields = ("id", "kind", "api", "name", "trace_id", "span_id", "parent_span_id")
        copied = {f: getattr(of, f) for f in fields}
        record = TraceRecord(
            record=step,
            ts=ts,
            **copied,
            causation_id=of.causation_id,
            service=of.service,
            process=of.process,
            host=of.host,
            pid=of.pid,
            sent_at=of.sent_at,
            listener=listener,
            handled_by=handled_by,
            attempt=attempt,
            queued_ms=queued_ms,
            duration_ms=duration_ms,
            status=status,
            error_type=error_type,
            error=error,
            traceback=traceback,
            payload=payload or (of.payload if step != "rpc.returned" else ""),
        )
        record.stream_id = self._stream_id(ts)
        return record


def order_scene(maker: Maker | None = None) -> list[TraceRecord]:
    """The "order 42" story: an RPC places order 42, whose event two listeners handle;
    reserving parts fails three times and is dead-lettered, the invoice goes out (an RPC
    to billing). Then a second, healthy order. Oldest first."""
    m = maker or Maker()
    place = m.sent("rpc", "sales", "place_order", at=0, payload='{"order_id": 42}', n=1)
    placed = m.sent(
        "event",
        "sales",
        "order_placed",
        at=5,
        cause=place,
        payload='{"order_id": 42, "product": "kettle"}',
        n=2,
    )
    records = [place, placed]
    for attempt in (1, 2, 3):
        records.append(
            m.step(
                placed,
                "event.failed",
                at=10 + attempt * 100,
                listener="reserve_parts",
                status="error",
                attempt=attempt,
                queued_ms=5.0 + attempt * 100,
                duration_ms=30.0,
                error_type="parts.OutOfStock",
                error="no kettle in stock for order 42",
                traceback='Traceback (most recent call last):\n  File "parts.py", line 9\n'
                "parts.OutOfStock: no kettle in stock for order 42",
                handled_by="parts-1",
            )
        )
    records.append(
        m.step(
            placed,
            "event.dead_lettered",
            at=320,
            listener="reserve_parts",
            status="dead",
            attempt=3,
            error_type="parts.OutOfStock",
            error="no kettle in stock for order 42",
            handled_by="parts-1",
        )
    )
    invoice = m.sent("rpc", "billing", "invoice", at=12, cause=placed, service="sales", n=3)
    records.append(
        m.step(placed, "event.handled", at=15, listener="send_invoice", duration_ms=40.0)
    )
    records.append(invoice)
    records.append(m.step(invoice, "rpc.handled", at=20, duration_ms=6.0, handled_by="billing-1"))
    records.append(
        m.step(invoice, "rpc.returned", at=21, duration_ms=9.0, payload='{"invoice": 7}')
    )
    records.append(m.step(place, "rpc.handled", at=25, duration_ms=20.0, handled_by="sales-1"))
    records.append(m.step(place, "rpc.returned", at=26, duration_ms=26.0, payload="42"))
    calm = m.sent(
        "event", "sales", "order_placed", at=1000, trace=2, payload='{"order_id": 43}', n=4
    )
    records.append(calm)
    records.append(m.step(calm, "event.handled", at=1005, listener="reserve_parts"))
    records.append(m.step(calm, "event.handled", at=1006, listener="send_invoice"))
    records.sort(key=lambda r: tuple(int(x) for x in r.stream_id.split("-")))
    return records
