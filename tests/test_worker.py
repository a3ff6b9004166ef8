"""`lightbus run`: hooks, schedules, signals and graceful stop, as real processes."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
import time

import pytest
from support import wait_until

from lightbus.invoke import Invoker

WORKER = """
import asyncio, os, time, lightbus
from lightbus import Api, Event

class JobsApi(Api):
    job_queued = Event(parameters=("seconds",))
    class Meta:
        name = "jobs"

bus = lightbus.create()
bus.client.register_api(JobsApi())
OUT = os.environ["OUT"]

def note(text):
    with open(OUT, "a") as out:
        out.write(text + "\\n")

def work(event, seconds):
    note("started " + event.id)
    time.sleep(float(seconds))
    note("finished " + event.id)

@bus.client.on_start()
def start(**_):
    note("on_start")
    bus.jobs.job_queued.listen(work, listener_name="work")

@bus.client.on_stop()
async def stop():
    note("on_stop")

@bus.client.every(seconds=0.3)
def tick():
    note(f"tick {int(time.time() / 0.3)} {os.environ.get('LIGHTBUS_PROCESS_NAME', '')}")
"""

FIRE = """
import sys, lightbus
bus = lightbus.create()
print(bus.jobs.job_queued.fire(seconds=sys.argv[1]).id)
"""


def _fire(folder, env, seconds: float) -> str:
    result = subprocess.run(
        [sys.executable, "-c", FIRE, str(seconds)],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_hooks_and_schedules_run(project, start_worker, tmp_path):
    out = tmp_path / "out.txt"
    worker = start_worker(project(WORKER), OUT=str(out))
    wait_until(lambda: out.exists() and out.read_text().count("tick") >= 2, timeout=10)
    worker.proc.send_signal(signal.SIGINT)
    assert worker.wait() == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "on_start"
    assert lines[-1] == "on_stop"


def test_schedule_runs_once_per_tick_across_two_workers(project, start_worker, tmp_path):
    out = tmp_path / "out.txt"
    folder = project(WORKER)
    first = start_worker(folder, OUT=str(out), LIGHTBUS_PROCESS_NAME="a")
    second = start_worker(folder, OUT=str(out), LIGHTBUS_PROCESS_NAME="b")
    time.sleep(2.0)
    first.stop()
    second.stop()
    ticks = [line.split()[1:] for line in out.read_text().splitlines() if line.startswith("tick")]
    numbers = [number for number, _ in ticks]
    assert len(numbers) >= 5
    assert len(numbers) == len(set(numbers)), ticks  # never two runs of one tick


def test_sigterm_lets_the_running_handler_finish_and_exits_0(
    project, start_worker, worker_env, tmp_path
):
    out = tmp_path / "out.txt"
    folder = project(WORKER)
    worker = start_worker(folder, OUT=str(out))
    event_id = _fire(folder, worker_env(), 1.5)
    wait_until(lambda: out.exists() and f"started {event_id}" in out.read_text())
    worker.proc.send_signal(signal.SIGTERM)
    assert worker.wait() == 0
    assert f"finished {event_id}" in out.read_text()
    assert "SIGTERM received, stopping" in worker.output


PLAIN_RPC = """
import atexit

class EchoApi(Api):
    class Meta:
        name = "echo"

    def echo(self, text: str) -> str:
        return text

bus.client.register_api(EchoApi())
atexit.register(note, "exit hooks ran")
"""


def test_a_stop_after_plain_handlers_ran_is_a_normal_exit_with_no_false_warning(
    project, start_worker, worker_env, bus_factory, tmp_path
):
    # Idle handler threads are not handlers "still running past shutdown_grace", and a
    # normal stop runs the interpreter's exit hooks (no os._exit).
    out = tmp_path / "out.txt"
    folder = project(WORKER + PLAIN_RPC)
    worker = start_worker(folder, OUT=str(out))
    event_id = _fire(folder, worker_env(), 0)
    caller = bus_factory()
    assert [caller.echo.echo(text=str(n)) for n in range(3)] == ["0", "1", "2"]
    wait_until(lambda: out.exists() and f"finished {event_id}" in out.read_text())
    worker.proc.send_signal(signal.SIGTERM)
    assert worker.wait() == 0
    assert "still running" not in worker.output
    assert out.read_text().splitlines()[-1] == "exit hooks ran"


async def test_only_plain_functions_still_running_count_not_idle_handler_threads():
    invoker = Invoker(4)
    assert await invoker(lambda: 1) == 1  # leaves an idle thread behind
    release = threading.Event()
    blocked = asyncio.ensure_future(invoker(release.wait, 5))
    for _ in range(250):
        if invoker.running:
            break
        await asyncio.sleep(0.02)
    assert invoker.running == 1
    release.set()
    assert await blocked is True
    invoker.shutdown()
    assert invoker.running == 0  # its threads may still be ending: they are not handlers


async def test_a_plain_function_raising_stopiteration_fails_its_caller_instead_of_hanging():
    def stops() -> None:
        raise StopIteration

    invoker = Invoker(2)
    try:
        with pytest.raises(RuntimeError, match="StopIteration"):
            await asyncio.wait_for(invoker(stops), 10)
        assert await asyncio.wait_for(invoker(lambda: 2), 10) == 2  # the threads serve on
    finally:
        invoker.shutdown()


def test_second_signal_exits_at_once(project, start_worker, worker_env, tmp_path):
    out = tmp_path / "out.txt"
    folder = project(WORKER)
    worker = start_worker(folder, OUT=str(out))
    event_id = _fire(folder, worker_env(), 20)
    wait_until(lambda: out.exists() and f"started {event_id}" in out.read_text())
    worker.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    started = time.monotonic()
    worker.proc.send_signal(signal.SIGTERM)
    code = worker.wait()
    assert time.monotonic() - started < 3
    assert code != 0
    assert f"finished {event_id}" not in out.read_text()
    assert "second signal, exiting now" in worker.output


def test_default_listener_name_is_stable():
    from lightbus.consumer import default_listener_name

    def send_welcome(event):
        pass

    name = default_listener_name(send_welcome)
    assert name == "test_worker.test_default_listener_name_is_stable.locals.send_welcome"
    assert default_listener_name(send_welcome) == name
