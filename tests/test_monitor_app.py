"""The monitor driven headless (Pilot) against a real bus on the test Redis: the Live feed,
one message, one trace, and the APIs, Workers, Backlog and Dead letters views (the story
is in ``monitor_story``)."""

from __future__ import annotations

import asyncio

from monitor_pilot import (
    choose_row,
    make_monitor,
    press,
    rows,
    screen_text,
    select_record,
    steps,
    until,
    until_shown,
)
from monitor_story import SalesApi, sales_fixture, story_told  # noqa: F401 (the fixture)

from lightbus_tools.monitor.screens.apis import ApisScreen
from lightbus_tools.monitor.screens.backlog import BacklogScreen
from lightbus_tools.monitor.screens.deadletters import DeadLetterGroupScreen, DeadLettersScreen
from lightbus_tools.monitor.screens.live import LiveScreen
from lightbus_tools.monitor.screens.message import MessageScreen
from lightbus_tools.monitor.screens.prompts import FilterPrompt
from lightbus_tools.monitor.screens.trace import TraceScreen
from lightbus_tools.monitor.screens.workers import WorkersScreen
from lightbus_tools.monitor.widgets.recordlist import RecordList

# ---------------------------------------------------------------- Live


async def test_live_shows_every_step_newest_first(redis_url, sales):
    app = make_monitor(redis_url)
    async with app.run_test(size=(120, 30)) as pilot:
        await sales(42)
        await sales(43)
        await story_told(pilot, orders=2)
        records = rows(app)
        assert [r.stream_id for r in records] == sorted(
            (r.stream_id for r in records), key=_position, reverse=True
        )
        assert {"rpc.called", "rpc.handled", "rpc.returned", "event.fired", "event.failed"} <= set(
            steps(app)
        )
        text = await until_shown(pilot, "event.dead_lettered", "sales.order_placed")
        dead = next(line for line in text.splitlines() if "event.dead_lettered" in line)
        assert "dead" in dead and "reserve_parts" in dead
        assert "connected" in text and "● live" in text


async def test_a_filter_narrows_the_feed_and_shows_in_the_header(redis_url, sales):
    app = make_monitor(redis_url)
    async with app.run_test(size=(100, 30)) as pilot:
        await sales(42)
        await sales(43)
        await story_told(pilot, orders=2)
        await press(pilot, "slash")
        assert isinstance(app.screen, FilterPrompt)
        await pilot.press(*"status:error", "enter")
        await until(pilot, lambda: isinstance(app.screen, LiveScreen))
        assert steps(app) == ["event.failed"]
        text = await until_shown(pilot, "filter: status:error")
        assert "no kettle in stock" not in text  # the row, not the error, is shown
        assert "event.failed" in text and "event.fired" not in text
        # Free text searches the payload: the event of order 43 (handled records keep none).
        await press(pilot, "slash", "ctrl+u", *"kind:event 43", "enter")
        await until(pilot, lambda: steps(app) == ["event.fired"])
        assert '"order_id":43' in rows(app)[0].payload
        await press(pilot, "escape")
        await until(pilot, lambda: "event.dead_lettered" in steps(app))
        assert "/ to filter" in screen_text(app)


async def test_a_bad_filter_says_what_is_wrong_and_changes_nothing(redis_url, sales):
    app = make_monitor(redis_url)
    async with app.run_test(size=(100, 30)) as pilot:
        await sales(43)
        await until(pilot, lambda: "rpc.returned" in steps(app))
        before = len(rows(app))
        await press(pilot, "slash", *"colour:red")
        text = await until_shown(pilot, "unknown filter term 'colour:'")
        assert "the terms are api:" in text
        await press(pilot, "enter")
        assert isinstance(app.screen, FilterPrompt)  # refused: still asking
        await press(pilot, "escape")
        assert isinstance(app.screen, LiveScreen) and app.model.filter.empty
        assert len(rows(app)) == before


async def test_space_pauses_with_the_held_count_shown_and_resumes(redis_url, sales):
    app = make_monitor(redis_url, poll_s=60)  # no look at the bus redraws the header meanwhile
    async with app.run_test(size=(100, 30)) as pilot:
        await sales(43)
        await until(pilot, lambda: steps(app).count("event.handled") == 2)
        await until(pilot, lambda: "rpc.returned" in steps(app))
        shown = len(rows(app))
        await press(pilot, "space")
        await sales(44)
        await until(pilot, lambda: app.model.buffer.held_count >= 6)  # order 44's records
        # The header counts them as they come (more may, while this reads it).
        buffer = app.model.buffer
        await until(pilot, lambda: f"paused, {buffer.held_count} new" in screen_text(app))
        held = buffer.held_count
        assert len(rows(app)) == shown
        await press(pilot, "space")
        assert "● live" in screen_text(app)
        await until(pilot, lambda: len(rows(app)) >= shown + held)


async def test_the_cursor_stays_on_its_record_as_new_ones_arrive(redis_url, sales):
    app = make_monitor(redis_url)
    async with app.run_test(size=(100, 30)) as pilot:
        await sales(43)
        await until(pilot, lambda: "rpc.returned" in steps(app))
        await press(pilot, "down", "down")
        records = app.screen.query_one(RecordList)
        chosen = records.selected
        await sales(44)
        await until(pilot, lambda: steps(app).count("rpc.returned") == 2)
        assert records.selected is chosen and records.cursor > 2
        await press(pilot, "home")
        assert records.cursor == 0 and records.selected is rows(app)[0]


# ---------------------------------------------------------------- Message and Trace


async def test_enter_opens_the_message_with_its_error_and_links(redis_url, sales):
    app = make_monitor(redis_url)
    async with app.run_test(size=(100, 70)) as pilot:
        await sales(42)
        await story_told(pilot)
        failed = next(r for r in rows(app) if r.record == "event.failed")
        await select_record(pilot, failed)
        await press(pilot, "enter")
        assert isinstance(app.screen, MessageScreen)
        text = await until_shown(pilot, "event sales.order_placed", "DEAD")
        for expected in (
            "reserve_parts",
            "send_invoice",
            "OutOfStock: no kettle in stock for order 42",
            "Traceback (most recent call last)",
            '"order_id": 42',
            failed.trace_id,
            "← caused by",
            "rpc sales.place_order",
        ):
            assert expected in text, expected
        # The link to the cause opens the RPC that fired the event.
        await press(pilot, "l", "enter")
        await until(pilot, lambda: len(app.screen_stack) == 3)
        text = await until_shown(pilot, "rpc sales.place_order", "Result (ok")
        assert "→ caused" in text and "event sales.order_placed" in text
        await press(pilot, "escape", "escape")
        assert isinstance(app.screen, LiveScreen)


async def test_t_shows_the_trace_tree_and_enter_opens_a_node(redis_url, sales):
    app = make_monitor(redis_url)
    async with app.run_test(size=(100, 30)) as pilot:
        await sales(42)
        await story_told(pilot)
        fired = next(r for r in rows(app) if r.record == "event.fired")
        await select_record(pilot, fired)
        await press(pilot, "t")
        assert isinstance(app.screen, TraceScreen)
        text = await until_shown(pilot, "2 messages", "rpc sales.place_order")
        lines = text.splitlines()
        rpc = next(n for n, line in enumerate(lines) if "rpc sales.place_order" in line)
        event = next(n for n, line in enumerate(lines) if "event sales.order_placed" in line)
        assert rpc < event and "dead" in lines[event]
        assert "reserve_parts: dead" in text and "send_invoice: ok" in text
        assert "◆ rpc sales.place_order" in text  # the root is on the slowest path
        # The cursor starts on the record's message; enter opens it.
        await press(pilot, "enter")
        assert isinstance(app.screen, MessageScreen) and app.screen.message_id == fired.id
        await until_shown(pilot, "event sales.order_placed", "DEAD")


# ---------------------------------------------------------------- the other views


async def test_apis_shows_rates_times_and_errors_and_enter_filters_the_feed(redis_url, sales):
    app = make_monitor(redis_url)
    async with app.run_test(size=(120, 30)) as pilot:
        await sales(42)
        await sales(43)
        await story_told(pilot, orders=2)
        await press(pilot, "2")
        assert isinstance(app.screen, ApisScreen)
        text = await until_shown(pilot, "sales.order_placed", "sales.place_order")
        placed = next(line for line in text.splitlines() if "sales.order_placed" in line)
        assert "1 25%" in placed  # 1 failed of 4 handler outcomes
        assert "monitor_story.OutOfStock: no kettle" in placed
        [row] = [r for r in app.model.api_rows() if r.name == "order_placed"]
        assert row.sent == 2 and row.dead == 1 and row.p50_ms is not None
        await choose_row(pilot, "sales.order_placed")
        await press(pilot, "enter")
        assert isinstance(app.screen, LiveScreen)
        assert app.model.filter.text == "api:sales name:order_placed"
        assert {r.name for r in rows(app)} == {"order_placed"}


async def test_workers_lists_the_worker_from_its_heartbeat(redis_url, sales):
    app = make_monitor(redis_url)
    async with app.run_test(size=(120, 30)) as pilot:
        await press(pilot, "3")
        assert isinstance(app.screen, WorkersScreen)
        text = await until_shown(pilot, "sales", "reserve_parts, send_invoice")
        line = next(line for line in text.splitlines() if "reserve_parts" in line)
        assert "ago" in line and "STALE" not in line


async def test_backlog_shows_lag_pending_age_and_attempts(redis_url, serve, caller):
    release = asyncio.Event()

    async def slow(event, order_id, product):
        await release.wait()

    def setup(bus):
        bus.sales.order_placed.listen(slow, listener_name="slow")

    api = SalesApi()
    api.bus = await serve(api, setup=setup, service_name="sales", listener_concurrency=1)
    bus = caller()
    for n in range(3):
        await bus.sales.order_placed.fire_async(order_id=n, product="kettle")
    app = make_monitor(redis_url)
    try:
        async with app.run_test(size=(120, 30)) as pilot:
            await press(pilot, "4")
            assert isinstance(app.screen, BacklogScreen)
            [row] = await until(
                pilot, lambda: [r for r in app.model.backlog_rows() if r.state.pending == 1]
            )
            state = row.state
            assert (state.group, state.length, state.lag) == ("sales.slow", 3, 2)
            assert row.highest_attempt == 1 and row.oldest_age_s is not None
            text = await until_shown(pilot, "sales.order_placed", "sales.slow")
            line = next(line for line in text.splitlines() if "sales.slow" in line)
            assert line.split()[2:5] == ["3", "2", "1"]  # length, lag, pending
    finally:
        release.set()


async def test_dead_letters_group_open_and_show_the_message(redis_url, sales):
    app = make_monitor(redis_url)
    async with app.run_test(size=(120, 30)) as pilot:
        await sales(42)
        await story_told(pilot)
        await press(pilot, "5")
        assert isinstance(app.screen, DeadLettersScreen)
        text = await until_shown(pilot, "sales.order_placed", "reserve_parts")
        line = next(line for line in text.splitlines() if "reserve_parts" in line)
        assert "monitor_story.OutOfStock" in line and " 1 " in line
        await press(pilot, "enter")
        assert isinstance(app.screen, DeadLetterGroupScreen)
        letter = app.model.dead_letters[0]
        await until_shown(pilot, letter.message_id)
        await press(pilot, "enter")
        assert isinstance(app.screen, MessageScreen)
        text = await until_shown(pilot, "Dead letter", "gave up after 1 attempt(s)")
        assert "OutOfStock: no kettle in stock for order 42" in text
        await press(pilot, "escape", "escape", "escape")
        assert isinstance(app.screen, LiveScreen)


def _position(stream_id: str) -> tuple[int, ...]:
    entry, _, index = stream_id.partition("#")
    ms, _, seq = entry.partition("-")
    return int(ms), int(seq), int(index or 0)
