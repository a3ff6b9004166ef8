"""`lightbus dev` on the quick start, and the lines of its live trace feed."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import ROOT
from devtools import dev_env, lightbus, state
from rich.console import Console
from support import wait_until

from lightbus import trace
from lightbus.trace import TraceRecord
from lightbus_tools.feed import describe

QUICKSTART = (ROOT / "examples" / "quickstart" / "bus.py").read_text()

CALLER = """
import lightbus
bus = lightbus.create()
print(bus.example.hello_world())
print(bus.example.my_event.fire().id)
"""


def test_dev_runs_the_quickstart_and_its_feed_shows_the_messages(project):
    folder = project(QUICKSTART)
    dev = lightbus(folder, "dev", "--embedded", "--debounce", "100", "--duration", "20")
    try:
        dev.wait_for("lightbus: serving", timeout=20)
        dev.wait_for("worker.started", timeout=10)
        assert "embedded Redis in use (started)" in dev.output
        caller = subprocess.run(
            [sys.executable, "-c", CALLER],
            cwd=folder, env=dev_env(), capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert caller.returncode == 0, caller.stderr
        answer, _event_id = caller.stdout.splitlines()
        assert answer == "Hello world"
        dev.wait_for("rpc.returned", timeout=10)
        dev.wait_for("event.fired", timeout=10)
        lines = dev.output.splitlines()
        called = next(x for x in lines if "rpc.called" in x)
        assert "example.hello_world" in called
        handled = next(x for x in lines if "rpc.handled" in x)
        assert "example.hello_world" in handled and " ms" in handled
        returned = next(x for x in lines if "rpc.returned" in x)
        assert '"Hello world"' in returned
        assert "example.my_event" in next(x for x in lines if "event.fired" in x)

        (folder / "bus.py").write_text(QUICKSTART.replace("Hello world", "Hello again"))
        dev.wait_for("worker.reloaded", timeout=15)
        reloaded = next(x for x in dev.output.splitlines() if "worker.reloaded" in x)
        assert "⟳" in reloaded and "bus.py changed" in reloaded
    finally:
        dev.stop()
    assert dev.proc.returncode == 0
    assert state(folder) is None  # the embedded server it started is gone


def test_dev_stops_by_itself_after_its_duration(project):
    folder = project(QUICKSTART)
    dev = lightbus(folder, "dev", "--embedded", "--duration", "3")
    assert dev.wait(timeout=30) == 0
    assert "worker.started" in dev.output and "worker.stopped" in dev.output


def record(**fields) -> TraceRecord:
    fields.setdefault("ts", 1_764_000_000_000)
    return TraceRecord(**fields)


def render(rec: TraceRecord) -> str:
    console = Console(width=300, record=True)
    console.print(describe(rec))
    return console.export_text().strip()


def test_feed_lines_show_failures_replays_and_reloads():
    failed = render(
        record(record=trace.EVENT_FAILED, kind="event", api="shop", name="order_placed",
               status="error", error_type="ValueError", error="bad serial", attempt=2,
               listener="register", service="shop", process="p1")
    )  # fmt: skip
    assert "✗ event.failed" in failed and "shop.order_placed" in failed
    assert "ValueError: bad serial" in failed and "attempt 2" in failed and "[register]" in failed

    replay = render(
        record(record=trace.EVENT_FIRED, kind="event", api="shop", name="order_placed",
               replay_of="01abc", payload='{"serial":"SN-1"}', status="ok")
    )  # fmt: skip
    assert "(replay of 01abc)" in replay and '{"serial":"SN-1"}' in replay

    reloaded = render(
        record(record=trace.WORKER_RELOADED, kind="worker", service="s", process="p", pid=7,
               detail={"changed": ["bus.py"], "reloads": 3})
    )  # fmt: skip
    assert "⟳ worker.reloaded" in reloaded and "bus.py changed (reload 3)" in reloaded

    timeout = render(
        record(record=trace.RPC_RETURNED, kind="rpc", api="a", name="b", status="timeout")
    )
    assert "timeout" in timeout

    long_payload = render(record(record=trace.RPC_CALLED, kind="rpc", api="a", name="b",
                                 payload='{"x":"' + "y" * 200 + '"}', status="ok"))  # fmt: skip
    assert "…" in long_payload and len(long_payload) < 200


def test_inspect_finds_the_embedded_server_and_shows_reloads(project):
    folder = project(QUICKSTART)
    worker = lightbus(folder, "run", "--reload", "--embedded", "--debounce", "100")
    try:
        worker.wait_for("lightbus: serving", timeout=20)
        (folder / "bus.py").write_text(QUICKSTART + "\n# edited\n")
        worker.wait_for("reloading the worker", timeout=10)
        wait_until(lambda: worker.output.count("lightbus: serving") == 2, timeout=15)
        shown = subprocess.run(
            [sys.executable, "-m", "lightbus", "inspect", "--step", "worker.reloaded", "--json"],
            cwd=folder, env=dev_env(), capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert shown.returncode == 0, shown.stderr
        rows = [json.loads(line) for line in shown.stdout.splitlines()]
        assert len(rows) == 1 and rows[0]["record"] == "worker.reloaded"
        assert rows[0]["detail"]["changed"] == ["bus.py"]
    finally:
        worker.stop()


def test_feed_lines_name_the_process_that_handled_a_message():
    handled = render(
        record(record=trace.RPC_HANDLED, kind="rpc", api="warranty", name="is_covered",
               status="ok", service="support", process="web-1", handled_by="warranty-1")
    )  # fmt: skip
    assert handled.endswith("support/web-1 → warranty-1")
