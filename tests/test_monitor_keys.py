"""The monitor's keys that work everywhere, ``--readonly``, the replay confirmation, an
empty bus, and Redis going away: headless (Pilot) against a real Redis."""

from __future__ import annotations

from monitor_pilot import make_monitor, press, screen_text, steps, until, until_shown
from monitor_story import SalesApi, sales_fixture, story_told  # noqa: F401 (the fixture)
from textual.binding import Binding

import lightbus
from lightbus.embedded import RedisServer
from lightbus_tools.monitor.messages import ReplayPlan
from lightbus_tools.monitor.screens.apis import ApisScreen
from lightbus_tools.monitor.screens.backlog import BacklogScreen
from lightbus_tools.monitor.screens.base import MUTATING_ACTIONS
from lightbus_tools.monitor.screens.deadletters import DeadLettersScreen
from lightbus_tools.monitor.screens.live import LiveScreen
from lightbus_tools.monitor.screens.prompts import HelpScreen
from lightbus_tools.monitor.screens.replay import ConfirmReplay
from lightbus_tools.monitor.screens.workers import WorkersScreen

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
        # Through the palette itself (`:`), typing a few letters:
        for typed, title, screen in (
            ("dead", "Dead letters", DeadLettersScreen),
            ("live", "Live", LiveScreen),
        ):
            await press(pilot, "colon")
            await pilot.press(*typed)
            await until_shown(pilot, f"Go to {title}")
            await press(pilot, "enter")
            await until(pilot, lambda screen=screen: isinstance(app.screen, screen))
        # and every view has its command there (the palette runs the command's callback):
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        for title, screen in (
            ("Backlog", BacklogScreen),
            ("Workers", WorkersScreen),
            ("APIs", ApisScreen),
            ("Dead letters", DeadLettersScreen),
            ("Live", LiveScreen),
        ):
            commands[f"Go to {title}"].callback()
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
