"""The monitor's model on its own: no Redis, no terminal, no textual."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC

import pytest
from conftest import ROOT
from monitor_records import BASE_MS, Maker, message_id, order_scene

from lightbus_tools.monitor import cells
from lightbus_tools.monitor.buffer import RecordBuffer, Ring
from lightbus_tools.monitor.filters import FilterError, parse_filter
from lightbus_tools.monitor.health import (
    DeadLetterEntry,
    GroupState,
    WorkerBeat,
    backlog_rows,
    dead_letter_groups,
    worker_rows,
)
from lightbus_tools.monitor.messages import message_view
from lightbus_tools.monitor.model import MonitorModel, Options
from lightbus_tools.monitor.stats import ApiStats, percentile
from lightbus_tools.monitor.trees import trace_items

NOW = BASE_MS / 1000 + 2


def test_the_model_imports_no_textual():
    code = (
        "import sys\n"
        "import lightbus_tools.monitor.model, lightbus_tools.monitor.feeder\n"
        "import lightbus_tools.monitor.messages, lightbus_tools.monitor.trees\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'textual'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------- the filter language


def test_terms_and_free_text_all_have_to_hold():
    records = order_scene()
    failed = parse_filter("status:error api:sales")
    assert {r.record for r in records if failed.matches(r)} == {"event.failed"}
    words = parse_filter('"order 42" kettle')
    assert words.words == ("order 42", "kettle")
    assert {r.id for r in records if words.matches(r)} == {records[1].id}
    assert [r for r in records if parse_filter("OutOfStock").matches(r)]  # the error, too


def test_alternatives_wildcards_and_negation():
    records = order_scene()
    steps = {r.record for r in records if parse_filter("step:rpc.*").matches(r)}
    assert steps == {"rpc.called", "rpc.handled", "rpc.returned"}
    either = parse_filter("listener:send_invoice,reserve_parts status:ok")
    assert {r.listener for r in records if either.matches(r)} == {"send_invoice", "reserve_parts"}
    not_ok = parse_filter("-status:ok")
    assert {r.status for r in records if not_ok.matches(r)} == {"error", "dead"}
    assert [r.api for r in records if parse_filter("api:bill*").matches(r)] == ["billing"] * 3


def test_ids_match_by_any_part_so_short_forms_work():
    records = order_scene()
    placed = records[1]
    assert [r.id for r in records if parse_filter(f"id:{cells.short_id(placed.id)}").matches(r)]
    short_trace = parse_filter(f"trace:{placed.trace_id[-6:]}")
    assert all(r.trace_id == placed.trace_id for r in records if short_trace.matches(r))
    assert parse_filter("kind:rpc").matches(records[0])
    assert not parse_filter("kind:event").matches(records[0])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("colour:red", "unknown filter term 'colour:'; the terms are api:, name:"),
        ("http://x", "put it in quotes"),
        ("api:", "api: needs a value, e.g. api:sales"),
        ("status:failed", "status:failed is not a status; use one of ok, error, dead"),
        ("kind:job", "kind:job is not a kind; use one of event, rpc, worker, replay"),
        ('"order 42', "a quote is not closed"),
        ('ord"er', "a quote must start a word"),
    ],
)
def test_bad_filters_say_what_to_write(text, message):
    with pytest.raises(FilterError, match=None) as caught:
        parse_filter(text)
    assert message in str(caught.value)


def test_table_screens_apply_only_the_terms_naming_places():
    f = parse_filter("api:sales status:error kettle")
    assert f.allows(api="sales", name="order_placed")
    assert not f.allows(api="billing", name="invoice")
    assert parse_filter("listener:audit").allows(api="a", name="b")  # no listener: not judged


# ---------------------------------------------------------------- the buffer


def test_a_ring_keeps_the_newest_and_reads_from_the_newest():
    ring: Ring[int] = Ring(3)
    for n in range(5):
        ring.append(n)
    assert [ring.newest(i) for i in range(3)] == [4, 3, 2]
    assert list(ring) == [2, 3, 4]
    with pytest.raises(IndexError):
        ring.newest(3)
    with pytest.raises(ValueError, match="at least 1"):
        Ring(0)


def test_the_buffer_is_capped_and_its_view_follows_the_filter():
    records = order_scene()
    buffer = RecordBuffer(cap=5)
    buffer.add(records)
    assert len(buffer) == 5 and buffer.seen == len(records)
    assert buffer.newest(0) is records[-1]
    buffer.set_filter(parse_filter("listener:send_invoice"))
    assert [buffer.newest(i).listener for i in range(len(buffer))] == ["send_invoice"]
    buffer.add(order_scene(Maker(BASE_MS + 10_000)))
    assert len(buffer) == 3  # of the newest 5 kept, 1 more matched... and the cap holds
    assert all(buffer.newest(i).listener == "send_invoice" for i in range(len(buffer)))


def test_pause_holds_new_records_counts_them_and_resume_shows_them():
    records = order_scene()
    buffer = RecordBuffer(cap=100)
    buffer.add(records[:3])
    buffer.pause()
    buffer.add(records[3:])
    assert len(buffer) == 3 and buffer.held_count == len(records) - 3
    assert buffer.resume() == len(records) - 3
    assert len(buffer) == len(records) and buffer.newest(0) is records[-1]
    assert buffer.seen == len(records) and buffer.held_count == 0


def test_records_held_while_paused_are_bounded_too():
    buffer = RecordBuffer(cap=4)
    buffer.pause()
    buffer.add(order_scene())
    assert buffer.held_count == len(order_scene())
    buffer.resume()
    assert len(buffer) == 4


# ---------------------------------------------------------------- per api.name figures


def test_rates_percentiles_and_errors_per_api_name():
    stats = ApiStats(bucket_s=10, buckets=6)
    m = Maker()
    records = []
    for n in range(100):
        sent = m.sent("event", "sales", "order_placed", at=n * 100)  # 10 per second
        records.append(sent)
        failed = n % 10 == 0
        records.append(
            m.step(
                sent,
                "event.failed" if failed else "event.handled",
                at=n * 100 + 5,
                listener="audit",
                status="error" if failed else "ok",
                duration_ms=float(n + 1),
                error_type="ValueError" if failed else "",
                error=f"bad {n}" if failed else "",
            )
        )
    stats.add(records)
    [row] = stats.rows(BASE_MS + 10_000)
    assert (row.api, row.name, row.kind) == ("sales", "order_placed", "event")
    assert row.sent == 100 and row.outcomes == 100 and row.errors == 10
    assert row.error_rate == pytest.approx(0.1)
    assert row.p50_ms == 50.0 and row.p99_ms == 99.0
    assert row.last_error == "ValueError: bad 90"
    assert len(row.series) == 6 and row.series[-1] == 0.0 and row.series[-2] == pytest.approx(10)
    assert row.rate == pytest.approx(100 / 50, rel=0.01)  # 100 sent over the 50 s covered


def test_dead_letters_and_caller_timeouts_are_counted():
    stats = ApiStats()
    stats.add(order_scene())
    rows = {(r.api, r.name): r for r in stats.rows(BASE_MS + 2000)}
    placed = rows[("sales", "order_placed")]
    assert placed.dead == 1 and placed.errors == 3 and placed.outcomes == 6
    m = Maker()
    call = m.sent("rpc", "billing", "refund", at=0)
    stats.add([call, m.step(call, "rpc.returned", at=5000, status="timeout")])
    refund = next(r for r in stats.rows(BASE_MS + 6000) if r.name == "refund")
    assert refund.errors == 1 and refund.last_error == "timeout"


def test_stats_forget_the_least_recent_names_past_their_cap():
    stats = ApiStats(max_names=2)
    m = Maker()
    for n, name in enumerate(("a", "b", "c")):
        stats.add([m.sent("event", "x", name, at=n)])
    assert [r.name for r in stats.rows(BASE_MS)] == ["b", "c"]


def test_percentile_is_nearest_rank():
    assert percentile([], 0.5) is None
    assert percentile([1.0], 0.99) == 1.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.0


# ---------------------------------------------------------------- one message, one trace


def test_a_message_view_has_its_listeners_attempts_error_and_links():
    records = order_scene()
    placed = records[1]
    own = [r for r in records if r.id == placed.id]
    view = message_view(placed.id, own, records)
    assert view.found and view.label == "event sales.order_placed" and view.status == "dead"
    assert '"order_id": 42' in view.payload
    assert ("trace_id", placed.trace_id) in view.envelope
    reserve = next(h for h in view.handlings if h.listener == "reserve_parts")
    assert reserve.status == "dead" and reserve.attempts == 3
    assert reserve.error_type == "parts.OutOfStock" and "Traceback" in reserve.traceback
    assert [a.step for a in reserve.history] == ["event.failed"] * 3 + ["event.dead_lettered"]
    invoice = next(h for h in view.handlings if h.listener == "send_invoice")
    assert invoice.status == "ok" and invoice.duration_ms == 40.0
    assert view.cause is not None and view.cause.label == "rpc sales.place_order"
    assert [c.label for c in view.caused] == ["rpc billing.invoice"]


def test_an_rpc_view_has_the_result_its_caller_got():
    records = order_scene()
    view = message_view(records[0].id, records)
    assert view.result == "42" and view.returned_status == "ok" and view.returned_ms == 26.0


def test_replays_are_linked_from_the_original():
    m = Maker()
    original = m.sent("event", "sales", "order_placed", at=0, n=9)
    replay = m.sent("event", "sales", "order_placed", at=50, replay_of=original.id, n=10)
    view = message_view(original.id, [original], [original, replay])
    assert [r.message_id for r in view.replays] == [replay.id]


def test_a_message_gone_from_the_stream_still_shows_its_dead_letter():
    letter = _letter(1, "ValueError")
    view = message_view(letter.message_id, [], dead_letter=letter)
    assert not view.found and view.status == "dead" and view.dead_letter is letter
    assert view.label == "event sales.order_placed" and '"order_id": 1' in view.payload


def test_the_trace_tree_marks_the_slowest_path():
    roots = trace_items(order_scene())
    assert [r.label for r in roots] == ["rpc sales.place_order", "event sales.order_placed"]
    place = roots[0]
    [placed] = place.children
    assert [c.label for c in placed.children] == ["rpc billing.invoice"]
    assert place.slow and placed.slow and placed.children[0].slow
    assert not roots[1].slow
    assert placed.time_ms == pytest.approx(max(305 + 30, 1 + 40))  # the slowest listener
    assert place.time_ms == 26.0  # the caller's wait


# ---------------------------------------------------------------- beside the trace


def test_workers_that_missed_three_beats_are_stale_and_listed_last():
    beats = [
        WorkerBeat("sales", "sales-1", "box", 1, seen_at=NOW - 16, interval=5),
        WorkerBeat("parts", "parts-1", "box", 2, seen_at=NOW - 1, interval=5),
    ]
    rows = worker_rows(beats, NOW)
    assert [(r.beat.process, r.stale) for r in rows] == [("parts-1", False), ("sales-1", True)]
    assert rows[1].age_s == pytest.approx(16)


def test_backlog_flags_entries_near_dead_lettering_and_groups_falling_behind():
    old = GroupState(
        "sales",
        "order_placed",
        "parts.reserve_parts",
        length=50,
        lag=3,
        pending=3,
        oldest_pending_ms=BASE_MS - 90_000,
        deliveries=(4, 2, 1),
    )
    [row] = backlog_rows([old], NOW, max_attempts=5, ack_timeout=60)
    assert row.highest_attempt == 4 and row.near_dead == 1
    assert row.oldest_age_s == pytest.approx(92) and row.stuck and row.behind
    grown = GroupState("sales", "order_placed", "billing.send_invoice", 50, lag=9, pending=0)
    previous = {("sales", "order_placed", "billing.send_invoice"): 4}
    [rising] = backlog_rows([grown], NOW, max_attempts=5, ack_timeout=60, previous=previous)
    assert rising.lag_rising and rising.behind and not rising.stuck
    assert rising.oldest_age_s is None and rising.highest_attempt == 0


def test_dead_letters_group_by_name_listener_and_error_type():
    letters = [_letter(1, "ValueError"), _letter(2, "ValueError"), _letter(3, "KeyError")]
    groups = dead_letter_groups(letters)
    assert [(g.error_type, g.count) for g in groups] == [("KeyError", 1), ("ValueError", 2)]
    value = groups[1]
    assert value.first_ts == BASE_MS + 1 and value.last_ts == BASE_MS + 2
    assert [e.message_id for e in value.entries] == [letters[1].message_id, letters[0].message_id]


def _letter(n: int, error_type: str) -> DeadLetterEntry:
    return DeadLetterEntry(
        stream_id=f"{BASE_MS + n}-0",
        api="sales",
        name="order_placed",
        listener="reserve_parts",
        group="parts.reserve_parts",
        message_id=message_id(BASE_MS + n, n),
        attempts=3,
        error_type=error_type,
        error="boom",
        ts=BASE_MS + n,
        payload=f'{{"order_id": {n}}}',
    )


# ---------------------------------------------------------------- the model as a whole


def test_the_model_feeds_the_screens_and_applies_one_filter_everywhere():
    model = MonitorModel(Options(max_records=100), clock=lambda: NOW, tz=UTC)
    assert model.empty
    model.ingest(order_scene())
    assert not model.empty and model.feed_state() == "live"
    model.set_bus_state(
        [WorkerBeat("parts", "parts-1", "box", 2, seen_at=NOW)],
        [GroupState("sales", "order_placed", "parts.reserve_parts", 5, lag=0, pending=0)],
        [_letter(1, "ValueError")],
    )
    model.set_filter("api:billing")
    assert {model.buffer.newest(i).api for i in range(len(model.buffer))} == {"billing"}
    assert [r.api for r in model.api_rows()] == ["billing"]
    assert model.backlog_rows() == [] and model.dead_letter_groups() == []
    model.set_filter("listener:reserve_parts")
    assert len(model.backlog_rows()) == 1  # "parts.reserve_parts" splits as service.listener
    with pytest.raises(FilterError):
        model.set_filter("nope:1")
    assert model.filter.text == "listener:reserve_parts"  # a bad filter keeps the old one
    model.clear_filter()
    assert model.filter.empty
    assert model.toggle_pause() and model.feed_state() == "paused, 0 new"
    model.ingest(order_scene(Maker(BASE_MS + 5000)))
    assert model.feed_state() == f"paused, {len(order_scene()):,} new"
    assert not model.toggle_pause()


def test_the_connection_state_says_when_it_retries():
    now = [100.0]
    model = MonitorModel(clock=lambda: now[0])
    assert model.link.describe(now[0]) == "connecting"
    model.connection("disconnected", "Cannot reach Redis", retry_in=4)
    assert model.link.describe(now[0]) == "disconnected, retrying in 4s"
    now[0] += 4
    assert model.link.describe(now[0]) == "disconnected, retrying"


def test_cells_read_plainly():
    assert cells.duration(0.42) == "0.4ms" and cells.duration(120) == "120ms"
    assert cells.duration(1500) == "1.5s" and cells.duration(125_000) == "2m05s"
    assert cells.age(5) == "5s" and cells.age(300) == "5m" and cells.age(7200) == "2h"
    assert cells.clock(BASE_MS + 120, UTC) == "11:06:40.120"
    assert cells.sparkline((0.0, 1.0, 8.0)) == " ▁█"
    placed = order_scene()[1]
    row = cells.live_cells(placed, UTC)
    assert row[1:4] == ("event.fired", "sales.order_placed", "sales")
    assert row[-1] == placed.id[-8:]
