"""The monitor driven headless (Pilot) against a real bus on the test Redis.

The story: the sales worker serves ``sales.place_order``, which fires
``sales.order_placed``; two listeners handle it. ``reserve_parts`` raises for order 42
(one attempt, so it is dead-lettered at once); ``send_invoice`` handles every order.
"""

from __future__ import annotations

import asyncio

import pytest
from monitor_pilot import make_monitor, screen_text, until, until_shown

import lightbus
from lightbus import Api, Event
from lightbus_tools.monitor.messages import ReplayPlan
from lightbus_tools.monitor.screens.apis import ApisScreen
from lightbus_tools.monitor.screens.backlog import BacklogScreen
from lightbus_tools.monitor.screens.base import MUTATING_ACTIONS
from lightbus_tools.monitor.screens.deadletters import DeadLetterGroupScreen, DeadLettersScreen
from lightbus_tools.monitor.screens.live import LiveScreen
from lightbus_tools.monitor.screens.message import MessageScreen
from lightbus_tools.monitor.screens.prompts import FilterPrompt, HelpScreen
from lightbus_tools.monitor.screens.replay import ConfirmReplay
from lightbus_tools.monitor.screens.trace import TraceScreen
from lightbus_tools.monitor.screens.workers import WorkersScreen
from lightbus_tools.monitor.widgets.recordlist import RecordList
from lightbus_tools.redis_server import RedisServer


class OutOfStock(Exception):
    pass


class SalesApi(Api):
    order_placed = Event(parameters=("order_id", "product"))

    class Meta:
        name = "sales"

    bus = None  # the worker's bus, set once it serves

    async def place_order(self, order_id: int, product: str) -> int:
        await self.bus.sales.order_placed.fire_async(order_id=order_id, product=product)
        return order_id


def reserve_parts(event, order_id, product):
    if order_id == 42:
        raise OutOfStock(f"no {product} in stock for order {order_id}")


def send_invoice(event, order_id, product):
    pass


def listeners(bus):
    bus.sales.order_placed.listen(reserve_parts, listener_name="reserve_parts", max_attempts=1)
    bus.sales.order_placed.listen(send_invoice, listener_name="send_invoice")


@pytest.fixture
async def sales(serve, caller):
    """The worker is up; returns a caller that places orders."""
    api = SalesApi()
    api.bus = await serve(api, setup=listeners, service_name="sales", retry_backoff=0.01)
    bus = caller(service_name="support")

    async def place(order_id: int, product: str = "kettle") -> int:
        return await bus.sales.place_order.call_async(order_id=order_id, product=product)

    return place


def rows(app) -> list:
    buffer = app.model.buffer
    return [buffer.newest(i) for i in range(len(buffer))]


def steps(app) -> list[str]:
    return [r.record for r in rows(app)]


async def story_told(pilot, orders: int = 1):
    """Until order 42 is dead-lettered and every order returned and invoiced, in the feed
    and beside it (the dead-letter stream)."""
    app = pilot.app
    await until(pilot, lambda: "event.dead_lettered" in steps(app))
    await until(pilot, lambda: steps(app).count("event.handled") >= 2 * orders - 1)
    await until(pilot, lambda: steps(app).count("rpc.returned") == orders)
    await until(pilot, lambda: app.model.dead_letters)


async def press(pilot, *keys: str) -> None:
    await pilot.press(*keys)
    await pilot.pause()


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
    app = make_monitor(redis_url)
    async with app.run_test(size=(100, 30)) as pilot:
        await sales(43)
        await until(pilot, lambda: steps(app).count("event.handled") == 2)
        await until(pilot, lambda: "rpc.returned" in steps(app))
        shown = len(rows(app))
        await press(pilot, "space")
        await sales(44)
        await until(pilot, lambda: app.model.buffer.held_count >= 6)
        held = app.model.buffer.held_count
        await until_shown(pilot, f"paused, {held} new")
        assert len(rows(app)) == shown
        await press(pilot, "space")
        await until(pilot, lambda: len(rows(app)) >= shown + held)
        assert "● live" in screen_text(app)


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
        await _select(pilot, failed)
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
        await _select(pilot, fired)
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
        assert "test_monitor_app.OutOfStock: no kettle" in placed
        [row] = [r for r in app.model.api_rows() if r.name == "order_placed"]
        assert row.sent == 2 and row.dead == 1 and row.p50_ms is not None
        await _choose_row(pilot, "sales.order_placed")
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
        assert "test_monitor_app.OutOfStock" in line and " 1 " in line
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


# ---------------------------------------------------------------- keys everywhere


async def test_help_lists_the_keys_of_the_screen_below_and_the_filter_terms(redis_url, sales):
    app = make_monitor(redis_url)
    async with app.run_test(size=(100, 50)) as pilot:
        await press(pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        for expected in (
            "Pause/resume",
            "Trace",
            "Filter",
            "go to Backlog",
            "status:",
            "listener:",
        ):
            assert expected in text, expected
        assert "Focus Next" not in text  # textual's own keys are left out
        await press(pilot, "escape")
        assert isinstance(app.screen, LiveScreen)


async def test_the_command_palette_reaches_every_view(redis_url):
    app = make_monitor(redis_url)
    async with app.run_test(size=(100, 30)) as pilot:
        for title, screen in (
            ("Dead letters", DeadLettersScreen),
            ("Backlog", BacklogScreen),
            ("Workers", WorkersScreen),
            ("APIs", ApisScreen),
            ("Live", LiveScreen),
        ):
            await press(pilot, "colon")
            await pilot.press(*f"go to {title}")
            await until_shown(pilot, f"Go to {title}")
            await press(pilot, "enter")
            await until(pilot, lambda screen=screen: isinstance(app.screen, screen))


async def test_esc_goes_back_to_live_from_any_view(redis_url):
    app = make_monitor(redis_url)
    async with app.run_test(size=(100, 30)) as pilot:
        for key in "2345":
            await press(pilot, key)
            assert not isinstance(app.screen, LiveScreen)
            await press(pilot, "escape")
            assert isinstance(app.screen, LiveScreen)


async def test_readonly_offers_no_action_that_changes_the_bus(redis_url, sales):
    app = make_monitor(redis_url, readonly=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await sales(42)
        await story_told(pilot)
        assert "read-only" in screen_text(app)
        offered = set()
        for key in "12345":
            await press(pilot, key)
            offered |= {b.binding.action for b in app.screen.active_bindings.values()}
        await press(pilot, "1", "enter")
        await until_shown(pilot, "Handling")
        offered |= {b.binding.action for b in app.screen.active_bindings.values()}
        await press(pilot, "t")
        offered |= {b.binding.action for b in app.screen.active_bindings.values()}
        commands = {c.title.lower() for c in app.get_system_commands(app.screen)}
        assert not offered & MUTATING_ACTIONS
        assert not {c for c in commands if any(a in c for a in MUTATING_ACTIONS)}


async def test_readonly_hides_and_refuses_an_action_that_changes_the_bus(redis_url):
    """The guard the replay binding (issue 14) relies on, tried with a stand-in binding."""
    from textual.binding import Binding

    sent = []

    class WithReplay(LiveScreen):
        BINDINGS = [Binding("r", "replay", "Replay")]

        def action_replay(self):
            sent.append(True)

    for readonly in (False, True):
        app = make_monitor(redis_url, readonly=readonly)
        async with app.run_test(size=(100, 30)) as pilot:
            app.push_screen(WithReplay(app.context))
            await pilot.pause()
            actions = {b.binding.action for b in app.screen.active_bindings.values()}
            await press(pilot, "r")
            assert ("replay" in actions) is not readonly
    assert sent == [True]


# ---------------------------------------------------------------- replay's confirmation


async def test_the_replay_confirmation_says_what_and_to_whom_and_asks(redis_url):
    plan = ReplayPlan(
        original_id="0195f0c4a1b27c3d8e9f0a1b2c3d4e5f",
        label="event sales.order_placed",
        targets=("listener reserve_parts (group sales.reserve_parts)",),
        payload='{\n  "order_id": 42\n}',
        notes=("a new message id, with replay_of set to 0195f0c4a1b27c3d8e9f0a1b2c3d4e5f",),
    )
    app = make_monitor(redis_url)
    answers = []
    async with app.run_test(size=(100, 30)) as pilot:
        for key, expected in (("y", True), ("n", False), ("escape", False)):
            app.push_screen(ConfirmReplay(plan), answers.append)
            text = await until_shown(pilot, "Replay event sales.order_placed")
            assert '"order_id": 42' in text and "listener reserve_parts" in text
            assert "y  send" in text
            await press(pilot, key)
            assert answers[-1] is expected
        blocked = ReplayPlan(**{**plan.__dict__, "blockers": ("the payload was truncated",)})
        app.push_screen(ConfirmReplay(blocked), answers.append)
        text = await until_shown(pilot, "It cannot be sent as it is", "truncated")
        await press(pilot, "y")
        assert isinstance(app.screen, ConfirmReplay)  # y does nothing
        await press(pilot, "escape")
        assert answers == [True, False, False, False]


# ---------------------------------------------------------------- empty and narrow


async def test_an_empty_bus_says_how_to_start_a_worker(redis_url):
    app = make_monitor(redis_url)
    async with app.run_test(size=(80, 24)) as pilot:
        text = await until_shown(pilot, "Nothing on this bus yet", "lightbus run")
        assert "1 Live" in text and "5 Dead letters" in text
        for key, hint in (("3", "No worker has sent a heartbeat"), ("4", "No event stream")):
            await press(pilot, key)
            await until_shown(pilot, hint, "lightbus run")


async def _select(pilot, record) -> None:
    records = pilot.app.screen.query_one(RecordList)
    index = next(i for i, r in enumerate(rows(pilot.app)) if r is record)
    records._go(index)
    await pilot.pause()


async def _choose_row(pilot, key: str) -> None:
    from textual.widgets import DataTable

    table = pilot.app.screen.query_one(DataTable)
    keys = [row.key.value for row in table.ordered_rows]
    table.move_cursor(row=keys.index(key))
    await pilot.pause()


def _position(stream_id: str) -> tuple[int, ...]:
    entry, _, index = stream_id.partition("#")
    ms, _, seq = entry.partition("-")
    return int(ms), int(seq), int(index or 0)


# ---------------------------------------------------------------- Redis going away


async def test_redis_going_away_shows_it_and_the_monitor_recovers_by_itself(bus_factory):
    server = RedisServer().start()
    try:
        app = make_monitor(server.url, settings={"connect_timeout": 1.0})
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: app.model.link.state == "connected")
            server.kill()
            await until_shown(pilot, "disconnected, retrying", timeout=15)
            assert app.model.link.detail.startswith("Cannot reach Redis")
            server.start()
            await until(pilot, lambda: app.model.link.state == "connected", timeout=20)
            # And it reads again: a record written now shows.
            caller = lightbus.create(redis_url=server.url, service_name="later")
            caller.client.register_api(SalesApi())
            await caller.client.fire("sales", "order_placed", {"order_id": 7, "product": "x"})
            await caller.client.close()
            await until(pilot, lambda: "event.fired" in steps(app), timeout=15)
            assert "● live" in screen_text(app) and "disconnected" not in screen_text(app)
    finally:
        server.stop()
