"""`lightbus run --reload`: a fresh worker on every change, same name, errors survived."""

from __future__ import annotations

import threading
import time

import pytest
from support import wait_until

from lightbus import trace
from lightbus.keys import Keys
from lightbus.registry import Heartbeat
from lightbus.traceentries import records_from_fields

BUS = """
import time
import lightbus
from lightbus import Api


class GreeterApi(Api):
    class Meta:
        name = "greeter"

    def hello(self) -> str:
        return "{greeting}"

    def slow(self) -> str:
        with open("slow.started", "w"):
            pass
        time.sleep(1.5)
        return "{greeting} (slow)"


bus = lightbus.create(service_name="greetings")
bus.client.register_api(GreeterApi())
"""


def write_bus(folder, greeting: str) -> None:
    (folder / "bus.py").write_text(BUS.format(greeting=greeting))


@pytest.fixture
def reloading(project, start_worker):
    """A folder with bus.py v1 and a `lightbus run --reload` worker serving it."""
    folder = project(BUS.format(greeting="v1"))
    worker = start_worker(folder, "--reload", "--debounce", "100")
    return folder, worker


def heartbeat(raw_redis) -> Heartbeat:
    import msgspec

    entries = raw_redis.hgetall(Keys().workers)
    assert len(entries) == 1, entries
    return msgspec.json.decode(next(iter(entries.values())), type=Heartbeat)


def serving(worker, times: int, timeout: float = 10) -> None:
    """Wait for the worker's n-th start (calls made while none serves would time out)."""
    wait_until(lambda: worker.output.count("lightbus: serving") >= times, timeout=timeout)


def test_an_edited_rpc_answers_with_its_new_value(reloading, bus_factory, raw_redis):
    folder, worker = reloading
    bus = bus_factory()
    assert bus.greeter.hello() == "v1"
    before = heartbeat(raw_redis)

    (folder / "notes.txt").write_text("not python: no reload")
    write_bus(folder, "v2")
    edited = time.monotonic()
    serving(worker, 2)
    reload_seconds = time.monotonic() - edited
    assert bus.greeter.hello() == "v2"
    assert reload_seconds < 6
    print(f"edit to serving the new code: {reload_seconds:.2f}s")

    after = heartbeat(raw_redis)
    assert after.process == before.process  # the same consumer name across restarts
    assert after.pid != before.pid  # in a fresh process
    assert worker.output.count("bus.py changed, reloading the worker") == 1

    entries = raw_redis.xrange(Keys().trace)
    records = [r for i, f in entries for r in records_from_fields(i.decode(), f)]
    reloads = [r for r in records if r.record == trace.WORKER_RELOADED]
    assert len(reloads) == 1
    assert reloads[0].process == before.process and reloads[0].pid == after.pid
    # The worker's own service (set in its code), so `inspect --service` finds the record.
    assert reloads[0].service == after.service == "greetings"
    assert reloads[0].detail["changed"] == ["bus.py"]
    assert reloads[0].detail["previous_pid"] == before.pid


def test_ignored_and_unwatched_files_do_not_reload(project, start_worker, bus_factory):
    folder = project(BUS.format(greeting="v1"))
    worker = start_worker(folder, "--reload", "--debounce", "100", "--ignore", "scratch_*")
    (folder / "notes.txt").write_text("not python")
    (folder / "scratch_one.py").write_text("x = 1")
    time.sleep(1.0)  # several debounce periods: a reload would have started by now
    assert "reloading the worker" not in worker.output
    (folder / "lightbus.toml").write_text('service_name = "greeter"\n')  # config counts
    worker.wait_for("lightbus.toml changed, reloading the worker", timeout=10)


def test_a_syntax_error_waits_for_the_fix(reloading, bus_factory):
    folder, worker = reloading
    bus = bus_factory()
    assert bus.greeter.hello() == "v1"
    (folder / "bus.py").write_text(BUS.format(greeting="v2") + "\nthis is not python(\n")
    worker.wait_for("waiting for a change to restart it", timeout=10)
    assert "SyntaxError" in worker.output
    assert "bus.py:" in worker.output  # the traceback points at the user's file
    time.sleep(0.5)
    assert worker.output.count("reloading the worker") == 1  # no crash loop
    assert worker.proc.poll() is None

    write_bus(folder, "v3")
    serving(worker, 2)
    assert bus.greeter.hello() == "v3"


def test_an_in_flight_handler_finishes_before_the_restart(reloading, bus_factory):
    folder, worker = reloading
    bus = bus_factory()
    results: list = []
    caller = threading.Thread(target=lambda: results.append(bus.greeter.slow()))
    caller.start()
    wait_until(lambda: (folder / "slow.started").exists(), timeout=5)
    write_bus(folder, "v2")
    caller.join(10)
    assert results == ["v1 (slow)"]  # answered by the old code, not cut off
    serving(worker, 2)
    assert bus.greeter.hello() == "v2"
    out = worker.output
    assert out.index("Waiting up to") < out.index("lightbus: serving", out.index("changed"))


LISTENER_BUS = """
import asyncio
import os
import lightbus
from lightbus import Api, Event


class ShopApi(Api):
    order_placed = Event(parameters=("order_id",))

    class Meta:
        name = "shop"


async def record_order(event, order_id):
    with open(f"attempt-{event.attempt}", "w") as f:
        f.write(str(os.getpid()))
    if event.attempt == 1:
        await asyncio.sleep(30)  # still running when the reload comes


bus = lightbus.create()
bus.client.register_api(ShopApi())


@bus.client.on_start()
def start_listening(**_):
    bus.shop.order_placed.listen(record_order, listener_name="record_order")
# version 1
"""


def test_an_unfinished_event_comes_back_at_once_after_a_reload(project, start_worker, bus_factory):
    folder = project(LISTENER_BUS)
    worker = start_worker(folder, "--reload", "--debounce", "100", LIGHTBUS_SHUTDOWN_GRACE="0.5")
    bus_factory().shop.order_placed.fire(order_id=7)
    wait_until(lambda: (folder / "attempt-1").exists(), timeout=10)
    (folder / "bus.py").write_text(LISTENER_BUS.replace("version 1", "version 2"))
    reloaded = time.monotonic()
    # Same consumer name, so the new process takes its pending entry back on start,
    # long before the 60 s acknowledgement timeout would let anyone reclaim it.
    wait_until(lambda: (folder / "attempt-2").exists(), timeout=10)
    assert time.monotonic() - reloaded < 8
    first, second = ((folder / f"attempt-{n}").read_text() for n in (1, 2))
    assert first != second  # handled again by the fresh process
    assert "stay pending" in worker.output, worker.output
