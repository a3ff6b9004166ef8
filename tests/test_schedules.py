"""Cron schedules and `schedule` library jobs: once per tick across worker processes,
catch_up, bad expressions refused, and every run traced."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
import time

import pytest
import schedule
from support import reach, run_python, wait_until

import lightbus
from lightbus import Api, Event, read_trace
from lightbus.cron import CronTimes, JobTimes
from lightbus.keys import Keys
from lightbus.tracetree import build_tree

THREE_WORKERS = """
import os, time, lightbus, schedule

bus = lightbus.create()
OUT = os.environ["OUT"]

def note(text):
    with open(OUT, "a") as out:
        out.write(text + " " + os.environ["LIGHTBUS_PROCESS_NAME"] + "\\n")

@bus.client.schedule("* * * * * *")  # every second (a sixth field: seconds)
def each_second():
    note("cron")

@bus.client.schedule(schedule.every(1).seconds)  # Lightbus 1.x's form
def each_second_job():
    note("job")
"""


def test_a_cron_schedule_and_a_schedule_job_run_once_per_tick_across_three_workers(
    project, start_worker, tmp_path, redis_url
):
    out = tmp_path / "runs.txt"
    folder = project(THREE_WORKERS)
    workers = [start_worker(folder, OUT=str(out), LIGHTBUS_PROCESS_NAME=f"w{i}") for i in range(3)]

    def lines(kind: str) -> list[str]:
        text = out.read_text() if out.exists() else ""
        return [line for line in text.splitlines() if line.startswith(kind)]

    wait_until(lambda: len(lines("cron")) >= 4 and len(lines("job")) >= 4, timeout=20)
    for worker in workers:
        worker.stop()

    async def runs() -> list[lightbus.trace.TraceRecord]:
        bus = lightbus.create(redis_url=redis_url)
        try:
            return [r async for r in read_trace(bus, step="schedule.ran")]
        finally:
            await bus.client.close()

    records = asyncio.run(runs())
    for kind, function in (("cron", "each_second"), ("job", "each_second_job")):
        ticks = [r.detail["tick"] for r in records if r.name == function]
        assert len(ticks) == len(lines(kind))  # every run traced, with its tick
        assert len(ticks) == len(set(ticks)), sorted(ticks)  # never two runs of one tick
        assert all(tick % 1000 == 0 for tick in ticks)  # on the second


YEARLY = "0 0 1 1 *"


async def _serve_yearly(serve, raw_redis, ran, *, catch_up: bool, years_ago: int):
    def yearly():
        ran.append(time.time())

    name = f"{yearly.__module__}.{yearly.__qualname__}"
    last = dt.datetime(dt.datetime.now(dt.UTC).year - years_ago, 1, 1, tzinfo=dt.UTC)
    raw_redis.set(Keys().schedule_last(name), int(last.timestamp() * 1000))
    await serve(setup=lambda bus: bus.client.schedule(YEARLY, catch_up=catch_up)(yearly))


async def test_catch_up_runs_each_tick_missed_while_no_worker_ran(serve, raw_redis):
    ran: list[float] = []
    await _serve_yearly(serve, raw_redis, ran, catch_up=True, years_ago=3)
    await reach(lambda: len(ran) == 3)  # the 1st of January of each of the last 3 years
    await asyncio.sleep(0.3)
    assert len(ran) == 3


async def test_without_catch_up_a_missed_tick_is_not_run_later(serve, raw_redis):
    ran: list[float] = []
    await _serve_yearly(serve, raw_redis, ran, catch_up=False, years_ago=3)
    await asyncio.sleep(0.5)
    assert ran == []


async def test_catch_up_is_bounded_to_the_most_recent_missed_ticks(serve, raw_redis):
    ran: list[float] = []

    async def minutely():
        ran.append(time.time())

    name = f"{minutely.__module__}.{minutely.__qualname__}"
    raw_redis.set(Keys().schedule_last(name), int((time.time() - 86400) * 1000))
    await serve(setup=lambda bus: bus.client.schedule("* * * * *", catch_up=True)(minutely))
    await reach(lambda: len(ran) >= 100)
    await asyncio.sleep(0.3)
    assert len(ran) in (100, 101)  # 100 caught up (and perhaps the minute turning now)


async def test_also_run_immediately_runs_as_the_worker_starts(serve):
    ran: list[str] = []

    def setup(bus):
        bus.client.every(hours=1, also_run_immediately=True)(lambda: ran.append("every"))
        bus.client.schedule(YEARLY, also_run_immediately=True)(lambda: ran.append("cron"))

    await serve(setup=setup)
    await reach(lambda: sorted(ran) == ["cron", "every"])


@pytest.mark.parametrize(
    ("spec", "options", "error", "says"),
    [
        ("*/5 * * *", {}, ValueError, "bad cron expression '\\*/5 \\* \\* \\*'"),
        ("61 * * * *", {}, ValueError, "out of range"),
        ("every monday", {}, ValueError, "five fields"),
        ("*/5 * * * *", {"tz": "Mars/Olympus"}, ValueError, "unknown time zone 'Mars/Olympus'"),
        (300, {}, TypeError, "takes a cron expression"),
        (schedule.every(10), {}, ValueError, "has no unit"),
        (schedule.every(10).minutes, {"tz": "UTC"}, ValueError, "tz= is for cron"),
        (schedule.every(10).minutes, {"catch_up": True}, ValueError, "catch_up=True is for cron"),
    ],
)
def test_a_bad_schedule_is_refused_at_registration(bus_factory, spec, options, error, says):
    bus = bus_factory()

    def job():
        pass

    with pytest.raises(error, match=says):
        bus.client.schedule(spec, **options)(job)
    assert bus.client.schedules == []


def test_a_worker_with_a_bad_cron_expression_does_not_start(project, start_worker):
    folder = project(
        """
        import lightbus
        bus = lightbus.create()

        @bus.client.schedule("*/5 * * *")
        def report():
            pass
        """
    )
    worker = start_worker(folder, wait=None)
    assert worker.wait() == 1
    assert "bad cron expression '*/5 * * *'" in worker.output
    assert "five fields" in worker.output


def test_without_croniter_a_cron_schedule_names_the_extra(bus_factory, monkeypatch):
    monkeypatch.setitem(sys.modules, "croniter", None)
    bus = bus_factory()
    with pytest.raises(ImportError, match=r"pip install 'lightbus\[cron\]'"):
        bus.client.schedule("*/5 * * * *")(lambda: None)


def test_cron_ticks_follow_the_time_zone():
    london = CronTimes("0 1 * * *", "Europe/London", "test")
    summer = dt.datetime(2026, 7, 1, 12, tzinfo=dt.UTC).timestamp()
    assert dt.datetime.fromtimestamp(london.next_after(summer), dt.UTC).hour == 0  # BST
    winter = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC).timestamp()
    assert dt.datetime.fromtimestamp(london.next_after(winter), dt.UTC).hour == 1


def test_schedule_library_jobs_give_their_next_run():
    monday = JobTimes(schedule.every().monday.at("01:00"), "test")
    due = dt.datetime.fromtimestamp(monday.next_after(time.time()))
    assert (due.weekday(), due.hour, due.minute) == (0, 1, 0)
    assert monday.window_ms is None  # the same time in every worker: one lock per tick
    random = JobTimes(schedule.every(1).to(3).seconds, "test")
    gap = random.next_after(time.time()) - time.time()
    assert 0.5 <= gap <= 3.5
    assert random.window_ms == 900  # differs per worker: one lock per shortest interval


class ReportApi(Api):
    generated = Event(parameters=("rows",))

    class Meta:
        name = "report"


async def test_every_run_is_traced_and_what_it_fires_hangs_under_it(serve, caller):
    calls = {"n": 0}

    def setup(bus):
        async def generate():
            await bus.report.generated.fire_async(rows=3)

        def broken():
            calls["n"] += 1
            raise RuntimeError("the report database is down")

        bus.client.every(seconds=0.2)(generate)
        bus.client.schedule("* * * * * *")(broken)

    bus = await serve(ReportApi(), setup=setup)
    reader = caller()

    async def records(step: str) -> list:
        return [r async for r in read_trace(reader, step=step)]

    await reach(lambda: calls["n"] >= 1, timeout=5)
    deadline = time.monotonic() + 5
    while not (await records("schedule.ran") and await records("schedule.failed")):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    ran = (await records("schedule.ran"))[0]
    assert (ran.kind, ran.api, ran.status) == ("schedule", __name__, "ok")
    assert ran.name.endswith(".generate")
    assert ran.service == bus.client.settings.service_name
    assert ran.duration_ms > 0
    failed = (await records("schedule.failed"))[0]
    assert failed.name.endswith(".broken")
    assert (failed.status, failed.error_type) == ("error", "RuntimeError")
    assert failed.error == "the report database is down"
    assert "raise RuntimeError" in failed.traceback

    tree_records = [r async for r in read_trace(reader, trace_id=ran.trace_id)]
    while not any(r.record == "event.fired" for r in tree_records):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
        tree_records = [r async for r in read_trace(reader, trace_id=ran.trace_id)]
    (root,) = build_tree(tree_records)
    assert root.label == f"schedule {__name__}.{ran.name}"
    assert [child.label for child in root.children] == ["event report.generated"]
    fired = root.children[0].sent
    assert fired.causation_id == ran.id


def test_lightbus_inspect_shows_schedule_runs(project, start_worker, worker_env):
    folder = project(
        """
        import lightbus
        bus = lightbus.create()

        @bus.client.every(seconds=0.2)
        def tidy_up():
            pass
        """
    )
    start_worker(folder)
    env = worker_env()

    def shown() -> list[dict]:
        out = run_python(
            "import sys; from lightbus.cli import main; sys.exit(main())",
            "inspect",
            "--step",
            "schedule.ran",
            "--json",
            cwd=folder,
            env=env,
        )
        return [json.loads(line) for line in out.splitlines()]

    rows = wait_until(shown, timeout=15)
    assert rows[0]["record"] == "schedule.ran"
    assert (rows[0]["api"], rows[0]["name"], rows[0]["kind"]) == ("bus", "tidy_up", "schedule")
    table = run_python(
        "import sys; from lightbus.cli import main; sys.exit(main())",
        "inspect",
        "--kind",
        "schedule",
        cwd=folder,
        env=env,
    )
    assert "schedule.ran" in table
    assert "tidy_up" in table
    tree = run_python(
        "import sys; from lightbus.cli import main; sys.exit(main())",
        "trace",
        rows[0]["id"],
        cwd=folder,
        env=env,
    )
    assert "schedule bus.tidy_up ok" in tree
