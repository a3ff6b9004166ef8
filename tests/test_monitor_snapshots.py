"""Each screen of the monitor at 80x24, on a deterministic bus, against a golden text file.

The golden files are ``tests/golden/monitor/<screen>.txt``: the screen's plain text. When
a change to a screen is meant, refresh them with ``UPDATE_GOLDEN=1`` and read the diff.
The same test saves the screen as SVG in ``docs/images/monitor/``, which the docs show,
so the pictures there are always of the current code.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest
from conftest import ROOT
from monitor_pilot import make_monitor, screen_text, select_record, until, until_shown
from monitor_scene import NOW, WHERE, write_scene

from lightbus_tools.monitor.messages import ReplayPlan
from lightbus_tools.monitor.screens.replay import ConfirmReplay

GOLDEN = ROOT / "tests" / "golden" / "monitor"
IMAGES = ROOT / "docs" / "images" / "monitor"
SIZE = (80, 24)


def check(app, name: str) -> None:
    """The screen matches its golden text; its SVG is saved for the docs."""
    text = screen_text(app) + "\n"
    golden = GOLDEN / f"{name}.txt"
    svg = app.export_screenshot(title=f"lightbus monitor: {name}")
    _write_if_changed(IMAGES / f"{name}.svg", svg)
    if os.environ.get("UPDATE_GOLDEN") == "1" or not golden.exists():
        _write_if_changed(golden, text)
        return
    expected = golden.read_text()
    if text != expected:
        diff = "\n".join(
            difflib.unified_diff(
                expected.splitlines(), text.splitlines(), "golden", "now", lineterm=""
            )
        )
        pytest.fail(f"{name} differs from {golden} (UPDATE_GOLDEN=1 refreshes it):\n{diff}")


def _write_if_changed(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


@pytest.fixture
async def scene(redis_url):
    return await write_scene(redis_url)


def scene_monitor(redis_url: str, **options):
    return make_monitor(redis_url, clock=lambda: NOW, where=WHERE, ack_timeout=60.0, **options)


async def ready(pilot) -> None:
    app = pilot.app
    await until(pilot, lambda: app.model.history_read and app.model.bus_state_read)
    await pilot.pause()
    await pilot.pause()


async def test_live(redis_url, scene):
    app = scene_monitor(redis_url)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await until_shown(pilot, "event.dead_lettered")
        check(app, "live")


async def test_live_filtered_to_failures(redis_url, scene):
    app = scene_monitor(redis_url)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("slash", *"-status:ok", "enter")
        await until_shown(pilot, "filter: -status:ok")
        check(app, "live-filtered")


async def test_message(redis_url, scene):
    app = scene_monitor(redis_url)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        placed = scene[1]
        await select_record(pilot, placed)
        await pilot.press("enter")
        await until_shown(pilot, "event sales.order_placed  DEAD", "Handling")
        check(app, "message")


async def test_trace(redis_url, scene):
    app = scene_monitor(redis_url)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await select_record(pilot, scene[1])
        await pilot.press("t")
        await until_shown(pilot, "3 messages")
        await pilot.pause()
        check(app, "trace")


@pytest.mark.parametrize(
    ("key", "name", "shown"),
    [
        ("2", "apis", "sales.order_placed"),
        ("3", "workers", "parts-1"),
        ("4", "backlog", "parts.reserve_parts"),
        ("5", "dead-letters", "KeyError"),
    ],
)
async def test_views(redis_url, scene, key, name, shown):
    app = scene_monitor(redis_url)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press(key)
        await until_shown(pilot, shown)
        check(app, name)


async def test_help(redis_url, scene):
    app = scene_monitor(redis_url)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("question_mark")
        await until_shown(pilot, "Keys here")
        check(app, "help")


async def test_replay_confirmation(redis_url, scene):
    placed = scene[1]
    plan = ReplayPlan(
        original_id=placed.id,
        label="event sales.order_placed",
        targets=("listener reserve_parts (group parts.reserve_parts) only",),
        payload='{\n  "order_id": 42,\n  "product": "kettle"\n}',
        notes=(f"a new message id, with replay_of = {placed.id[-8:]}, in the same trace",),
    )
    app = scene_monitor(redis_url)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        app.push_screen(ConfirmReplay(plan))
        await until_shown(pilot, "y  send")
        check(app, "replay-confirmation")


async def test_empty_bus(redis_url):
    app = scene_monitor(redis_url)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await until_shown(pilot, "Nothing on this bus yet")
        check(app, "empty")
