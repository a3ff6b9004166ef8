"""The causal tree, built from records alone (no Redis)."""

from __future__ import annotations

from lightbus import build_tree, ids
from lightbus.trace import TraceRecord

TRACE = ids.trace_id()


def message(kind: str, name: str, parent: TraceRecord | None = None, **extra) -> TraceRecord:
    step = "event.fired" if kind == "event" else "rpc.called"
    return TraceRecord(
        record=step,
        ts=extra.pop("ts", 1),
        id=ids.message_id(),
        kind=kind,
        api="app",
        name=name,
        trace_id=TRACE,
        span_id=ids.span_id(),
        parent_span_id=parent.span_id if parent else "",
        causation_id=parent.id if parent else "",
        sent_at=extra.pop("sent_at", 1),
        status="ok",
        **extra,
    )


def step(of: TraceRecord, name: str, **extra) -> TraceRecord:
    fields = {k: getattr(of, k) for k in ("id", "kind", "api", "name", "trace_id", "span_id")}
    return TraceRecord(record=name, ts=2, **fields, **extra)


def test_children_hang_under_the_message_that_caused_them_in_send_order():
    root = message("rpc", "place", sent_at=10)
    late = message("event", "late", parent=root, sent_at=30)
    early = message("event", "early", parent=root, sent_at=20)
    grandchild = message("rpc", "reserve", parent=early, sent_at=25)
    [tree] = build_tree([late, grandchild, early, root])
    assert [c.sent.name for c in tree.children] == ["early", "late"]
    assert [n.sent.name for n in tree.walk()] == ["place", "early", "reserve", "late"]
    assert tree.children[0].children[0].parent is tree.children[0]


def test_a_missing_parent_makes_a_root_and_span_links_when_causation_is_empty():
    root = message("rpc", "place")
    orphan = message("event", "orphan", parent=message("rpc", "trimmed"))
    by_span = message("event", "by_span", parent=root)
    by_span.causation_id = ""
    roots = build_tree([root, orphan, by_span])
    assert sorted(r.sent.name for r in roots) == ["orphan", "place"]
    place = next(r for r in roots if r.sent.name == "place")
    assert [c.sent.name for c in place.children] == ["by_span"]


def test_a_cycle_in_bad_data_does_not_hang_or_lose_nodes():
    a = message("event", "a")
    b = message("event", "b", parent=a)
    a.causation_id, a.parent_span_id = b.id, b.span_id
    roots = build_tree([a, b])
    assert sum(1 for r in roots for _ in r.walk()) == 2


def test_handlings_per_listener_keep_the_last_attempt_and_the_error():
    event = message("event", "placed")
    records = [
        event,
        step(event, "event.failed", listener="audit", attempt=1, status="error",
             error_type="ValueError", error="down", traceback="tb1", queued_ms=5.0,
             duration_ms=2.0),
        step(event, "event.failed", listener="audit", attempt=2, status="error",
             error_type="ValueError", error="still down", traceback="tb2", queued_ms=1507.0,
             duration_ms=9.0),
        step(event, "event.dead_lettered", listener="audit", attempt=2, status="dead",
             error_type="ValueError", error="still down", handled_by="w-1"),
        step(event, "event.failed", listener="mail", attempt=1, status="error",
             error_type="OSError", error="smtp"),
        step(event, "event.handled", listener="mail", attempt=2, status="ok", duration_ms=3.0),
    ]  # fmt: skip
    [node] = build_tree(records)
    rows = {h.listener: h for h in node.handlings}
    assert rows["audit"].status == "dead" and rows["audit"].attempt == 2
    assert rows["audit"].error == "still down" and rows["audit"].process == "w-1"
    # The figures of one attempt (the last), never attempt 1's queue beside attempt 2's run.
    assert (rows["audit"].queued_ms, rows["audit"].duration_ms) == (1507.0, 9.0)
    assert rows["mail"].status == "ok" and rows["mail"].error_type == ""
    assert node.status == "dead"
    as_json = node.to_dict()
    attempts = as_json["handlings"][0]["attempts"]
    assert [(a["step"], a["attempt"], a["queued_ms"], a["duration_ms"]) for a in attempts] == [
        ("event.failed", 1, 5.0, 2.0),
        ("event.failed", 2, 1507.0, 9.0),
        ("event.dead_lettered", 2, 0.0, 0.0),
    ]
    assert [(a["error"], a["traceback"]) for a in attempts] == [
        ("down", "tb1"),
        ("still down", "tb2"),
        ("still down", ""),
    ]


def test_an_rpc_node_shows_the_worker_and_the_callers_return():
    call = message("rpc", "reserve")
    records = [
        call,
        step(call, "rpc.handled", status="ok", duration_ms=2.0, handled_by="w-2"),
        step(call, "rpc.returned", status="timeout", duration_ms=5000.0),
    ]
    [node] = build_tree(records)
    [handling] = node.handlings
    assert handling.process == "w-2" and handling.status == "ok"
    assert node.returned is not None and node.returned.status == "timeout"
    assert node.status == "timeout"
    assert node.to_dict()["returned"]["duration_ms"] == 5000.0


def test_records_without_a_message_and_a_message_without_its_sent_record():
    call = message("rpc", "reserve")
    worker = TraceRecord(record="worker.started", ts=1, kind="worker")
    handled = step(call, "rpc.handled", status="ok")
    [node] = build_tree([worker, handled])
    assert node.id == call.id and node.to_dict()["sent_recorded"] is False
    assert build_tree([]) == []
