"""Lightbus 1.x's worker forms, as 1.x's docs write them: add_background_task, and
`lightbus run --only` / `--skip` to split scheduled work from events and RPCs."""

from __future__ import annotations

import signal
import time

import pytest
from support import run_python, wait_until

from lightbus.background import choose_features
from lightbus.errors import ConfigError

BACKGROUND = """
import asyncio, os, lightbus

bus = lightbus.create()
OUT = os.environ["OUT"]

def note(text):
    with open(OUT, "a") as out:
        out.write(text + "\\n")

async def poll_forever():
    note("started")
    try:
        while True:
            await asyncio.sleep(0.05)
    except asyncio.CancelledError:
        note("cancelled")
        raise

async def finish_up():
    note("finishing")
    await asyncio.sleep(0.5)
    note("finished")

async def fail_soon():
    await asyncio.sleep(0.2)
    raise RuntimeError("the upstream feed went away")

@bus.client.on_start()
def start(client):
    bus.client.add_background_task(poll_forever())
    if os.environ.get("FAIL"):
        bus.client.add_background_task(fail_soon())
    if os.environ.get("KEEP"):
        bus.client.add_background_task(finish_up(), cancel_on_close=False)
"""


def test_a_background_task_runs_with_the_worker_and_is_cancelled_when_it_stops(
    project, start_worker, tmp_path
):
    out = tmp_path / "out.txt"
    worker = start_worker(project(BACKGROUND), OUT=str(out))
    wait_until(lambda: out.exists() and "started" in out.read_text())
    worker.proc.send_signal(signal.SIGTERM)
    assert worker.wait() == 0
    assert out.read_text().splitlines() == ["started", "cancelled"]


def test_a_background_task_not_cancelled_on_close_is_let_finish(project, start_worker, tmp_path):
    out = tmp_path / "out.txt"
    worker = start_worker(project(BACKGROUND), OUT=str(out), KEEP="1")
    wait_until(lambda: out.exists() and "finishing" in out.read_text())
    worker.proc.send_signal(signal.SIGTERM)
    assert worker.wait() == 0
    lines = out.read_text().splitlines()
    assert "finished" in lines  # waited for (within shutdown_grace), not cancelled
    assert "cancelled" in lines  # the other task, cancelled as usual


def test_an_error_in_a_background_task_stops_the_worker(project, start_worker, tmp_path):
    out = tmp_path / "out.txt"
    worker = start_worker(project(BACKGROUND), OUT=str(out), FAIL="1")
    assert worker.wait() == 1
    assert "the upstream feed went away" in worker.output
    assert "background task" in worker.output
    assert out.read_text().splitlines() == ["started", "cancelled"]


def test_add_background_task_refuses_a_function_that_was_not_called(bus_factory):
    async def poll():
        pass

    with pytest.raises(TypeError, match=r"add_background_task\(poll\(\)\)"):
        bus_factory().client.add_background_task(poll)


SPLIT = """
import os, lightbus
from lightbus import Api, Event

class OrdersApi(Api):
    placed = Event(parameters=("order",))
    class Meta:
        name = "orders"
    def count(self) -> int:
        return 1

bus = lightbus.create()
bus.client.register_api(OrdersApi())
OUT = os.environ["OUT"]
NAME = os.environ["LIGHTBUS_PROCESS_NAME"]

def note(text):
    with open(OUT, "a") as out:
        out.write(f"{text} {NAME}\\n")

@bus.client.every(seconds=0.2)
def tidy_up():
    note("task")

@bus.client.on_start()
def start(client):
    bus.orders.placed.listen(lambda event, order: note("event"), listener_name="orders")
"""

CALL_AND_FIRE = """
import lightbus
bus = lightbus.create(rpc_timeout=3)
print(bus.orders.count())
for n in range(3):
    bus.orders.placed.fire(order=n)
"""


def test_run_only_tasks_and_skip_tasks_split_the_scheduled_work(
    project, start_worker, worker_env, tmp_path
):
    out = tmp_path / "out.txt"
    folder = project(SPLIT)
    start_worker(folder, "--only", "tasks", OUT=str(out), LIGHTBUS_PROCESS_NAME="tasks")
    start_worker(folder, "--skip", "tasks", OUT=str(out), LIGHTBUS_PROCESS_NAME="rest")
    # The RPC and the events reach the `rest` worker: the tasks worker serves neither.
    assert run_python(CALL_AND_FIRE, cwd=folder, env=worker_env()).strip() == "1"

    def rows() -> list[str]:
        return out.read_text().splitlines() if out.exists() else []

    wait_until(lambda: rows().count("event rest") == 3 and rows().count("task tasks") >= 3)
    time.sleep(0.3)
    assert set(rows()) == {"event rest", "task tasks"}  # tasks only where asked for


def test_run_only_rpcs_serves_calls_and_nothing_else(project, start_worker, worker_env, tmp_path):
    out = tmp_path / "out.txt"
    folder = project(SPLIT)
    worker = start_worker(folder, "--only", "rpcs", OUT=str(out), LIGHTBUS_PROCESS_NAME="r")
    assert run_python(CALL_AND_FIRE, cwd=folder, env=worker_env()).strip() == "1"
    time.sleep(0.5)
    assert not out.exists()  # no schedule ran, no listener started
    worker.stop()


def test_run_with_an_unknown_feature_says_which_exist(project, start_worker, tmp_path):
    worker = start_worker(project(SPLIT), "--only", "jobs", wait=None, OUT=str(tmp_path / "x"))
    assert worker.wait() == 1
    assert "--only 'jobs': not a feature; choose from rpcs, events, tasks" in worker.output


def test_features_are_chosen_from_repeated_or_comma_separated_options():
    assert choose_features([], []) == {"rpcs", "events", "tasks"}
    assert choose_features(["tasks"], []) == {"tasks"}
    assert choose_features(["rpcs,events"], []) == {"rpcs", "events"}
    assert choose_features([], ["rpcs", "tasks"]) == {"events"}
    with pytest.raises(ConfigError, match="leave nothing to run"):
        choose_features(["tasks"], ["tasks"])


LIGHTBUS_1X = """
# bus.py, as Lightbus 1.x's how-to guides write it
import asyncio
import lightbus
import schedule

bus = lightbus.create()

@bus.client.every(seconds=1, also_run_immediately=True)
def do_it():
    print("Hello!", flush=True)

# Run the task every 1-3 seconds, varying randomly
@bus.client.schedule(schedule.every(1).to(3).seconds)
def do_it_too():
    print("Hello using schedule library", flush=True)

async def my_background_task():
    while True:
        await asyncio.sleep(1)
        print("Hello from the background!", flush=True)

@bus.client.on_start()
def on_startup(**kwargs):
    bus.client.add_background_task(my_background_task())
"""


def test_lightbus_1x_schedules_and_background_tasks_run_as_written(project, start_worker):
    worker = start_worker(project(LIGHTBUS_1X), "-o", "tasks")
    worker.wait_for("Hello!")  # also_run_immediately: before the first second's tick
    worker.wait_for("Hello using schedule library")
    worker.wait_for("Hello from the background!")
    wait_until(lambda: worker.output.count("Hello!") >= 2)
    worker.proc.send_signal(signal.SIGINT)
    assert worker.wait() == 0
