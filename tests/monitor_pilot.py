"""Driving the monitor headless in tests: make the app, wait for it, read its screen."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from datetime import UTC
from typing import Any

from rich.console import Console

from lightbus_tools.monitor.app import MonitorApp
from lightbus_tools.monitor.model import MonitorModel, Options
from lightbus_tools.monitor.source import Source


def make_monitor(
    redis_url: str,
    *,
    since_ms: int | None = 0,
    clock: Callable[[], float] = time.time,
    where: str | None = None,
    poll_s: float = 0.2,
    settings: dict[str, Any] | None = None,
    **options: Any,
) -> MonitorApp:
    """The app on the bus at ``redis_url``, times in UTC, reading the whole stream."""
    source = Source(redis_url=redis_url, **(settings or {}))
    options.setdefault("max_attempts", source.max_attempts)
    options.setdefault("ack_timeout", source.ack_timeout)
    model = MonitorModel(
        Options(where=source.where if where is None else where, **options), clock=clock, tz=UTC
    )
    return MonitorApp(source, model, since_ms=since_ms, poll_s=poll_s)


def screen_text(app: MonitorApp) -> str:
    """The screen as plain text, one line per terminal row, trailing spaces cut."""
    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        record=True,
        color_system=None,
        legacy_windows=False,
        safe_box=False,
    )
    # What App.export_screenshot renders, without the SVG.
    console.print(
        app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    )
    return "\n".join(line.rstrip() for line in console.export_text().splitlines())


async def until(pilot: Any, condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Let the app run until ``condition()`` is truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            app = pilot.app
            workers = [(w.name, w.state.name, w.error) for w in app.workers]
            raise AssertionError(
                f"not met within {timeout}s; workers {workers}; the screen shows:\n"
                f"{screen_text(app)}"
            )
        await pilot.pause(0.02)


async def until_shown(pilot: Any, *texts: str, timeout: float = 10.0) -> str:
    """Wait until every one of ``texts`` is on the screen; the screen's text."""
    found: str = await until(
        pilot,
        lambda: (text := screen_text(pilot.app)) and all(t in text for t in texts) and text,
        timeout,
    )
    return found


def rows(app: MonitorApp) -> list[Any]:
    """The records of the Live feed, newest first."""
    buffer = app.model.buffer
    return [buffer.newest(i) for i in range(len(buffer))]


def steps(app: MonitorApp) -> list[str]:
    return [r.record for r in rows(app)]


async def press(pilot: Any, *keys: str) -> None:
    await pilot.press(*keys)
    await pilot.pause()


async def select_record(pilot: Any, record: Any) -> None:
    """Put the Live list's cursor on ``record``."""
    from lightbus_tools.monitor.widgets.recordlist import RecordList

    index = next(i for i, r in enumerate(rows(pilot.app)) if r.stream_id == record.stream_id)
    pilot.app.screen.query_one(RecordList)._go(index)
    await pilot.pause()


async def choose_row(pilot: Any, key: str) -> None:
    """Put a table view's cursor on the row with ``key``."""
    from textual.widgets import DataTable

    table = pilot.app.screen.query_one(DataTable)
    keys = [row.key.value for row in table.ordered_rows]
    table.move_cursor(row=keys.index(key))
    await pilot.pause()
