"""Events: fire, listen, consumer groups shared and separate, across real processes."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

from support import run_python, wait_until

from lightbus import Api, Event, Parameter


class ShopApi(Api):
    order_placed = Event(parameters=("order_id", Parameter("total", float, default=0.0)))

    class Meta:
        name = "shop"


async def _until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_listener_receives_the_event_and_its_arguments(serve, caller):
    received = []

    def on_order(event, order_id, total):
        received.append((event, order_id, total))

    await serve(
        ShopApi(),
        setup=lambda bus: bus.shop.order_placed.listen(on_order, listener_name="record"),
    )
    bus = caller()
    sent = await bus.shop.order_placed.fire_async(order_id="A1", total=9.5)
    await _until(lambda: received)
    event, order_id, total = received[0]
    assert (order_id, total) == ("A1", 9.5)
    assert event.id == sent.id
    assert (event.api, event.name, event.kwargs, event.attempt) == (
        "shop",
        "order_placed",
        {"order_id": "A1", "total": 9.5},
        1,
    )


async def test_async_handlers_run_on_the_loop(serve, caller):
    received = []

    async def on_order(event, **kwargs):
        await asyncio.sleep(0)
        received.append(kwargs["order_id"])

    await serve(ShopApi(), setup=lambda bus: bus.shop.order_placed.listen(on_order))
    bus = caller()
    await bus.shop.order_placed.fire_async(order_id="B2")
    await _until(lambda: received == ["B2"])


async def test_two_listener_names_each_get_every_event(serve, caller):
    first, second = [], []

    def setup(bus):
        bus.shop.order_placed.listen(lambda e, **kw: first.append(e.id), listener_name="one")
        bus.shop.order_placed.listen(lambda e, **kw: second.append(e.id), listener_name="two")

    await serve(ShopApi(), setup=setup)
    bus = caller()
    sent = [(await bus.shop.order_placed.fire_async(order_id=str(i))).id for i in range(5)]
    await _until(lambda: len(first) == 5 and len(second) == 5)
    assert sorted(first) == sorted(sent) == sorted(second)


async def test_listener_acknowledges_after_the_handler(serve, caller, raw_redis):
    await serve(
        ShopApi(),
        setup=lambda b: b.shop.order_placed.listen(lambda e, **k: None, listener_name="ack"),
    )
    bus = caller()
    await bus.shop.order_placed.fire_async(order_id="C3")
    group = "default.ack"

    def pending() -> int:
        return raw_redis.xpending("lightbus:event:shop.order_placed", group)["pending"]

    def delivered() -> bool:
        groups = raw_redis.xinfo_groups("lightbus:event:shop.order_placed")
        return any(g["name"].decode() == group and g["last-delivered-id"] != b"0-0" for g in groups)

    await _until(delivered)
    await _until(lambda: pending() == 0)


async def test_since_zero_replays_the_stream_for_a_new_listener(serve, caller):
    bus = caller()
    await serve(ShopApi())
    for i in range(3):
        await bus.shop.order_placed.fire_async(order_id=str(i))
    seen = []
    await serve(
        ShopApi(),
        service_name="late",
        setup=lambda b: b.shop.order_placed.listen(
            lambda e, order_id, total: seen.append(order_id), listener_name="late", since="0"
        ),
    )
    await _until(lambda: sorted(seen) == ["0", "1", "2"])


def test_listen_at_a_prompt_starts_at_once(serve_in_thread, bus_factory):
    serve_in_thread(ShopApi())
    bus = bus_factory()
    got = []
    bus.shop.order_placed.listen(lambda event, **kw: got.append(kw["order_id"]))
    bus.shop.order_placed.fire(order_id="D4")
    wait_until(lambda: got == ["D4"])


LISTENER = """
import json, os, lightbus
from lightbus import Api, Event

class ShopApi(Api):
    order_placed = Event(parameters=("order_id",))
    class Meta:
        name = "shop"

bus = lightbus.create()
bus.client.register_api(ShopApi())

def record(event, order_id):
    with open(os.environ["OUT"], "a") as out:
        out.write(json.dumps({"process": os.environ["LIGHTBUS_PROCESS_NAME"],
                              "order": order_id, "attempt": event.attempt}) + "\\n")

@bus.client.on_start()
def start(**_):
    bus.shop.order_placed.listen(record, listener_name="fulfil")
"""

FIRE = """
import lightbus
bus = lightbus.create()
for i in range(40):
    bus.shop.order_placed.fire(order_id=str(i))
print("fired")
"""


def test_processes_sharing_a_listener_name_share_the_work(
    project, start_worker, worker_env, tmp_path
):
    folder = project(LISTENER)
    out = tmp_path / "handled.jsonl"
    start_worker(folder, LIGHTBUS_PROCESS_NAME="w1", OUT=str(out))
    start_worker(folder, LIGHTBUS_PROCESS_NAME="w2", OUT=str(out))
    result = subprocess.run(
        [sys.executable, "-c", FIRE],
        cwd=folder,
        env=worker_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr

    def handled():
        if not out.exists():
            return []
        return [json.loads(line) for line in out.read_text().splitlines()]

    wait_until(lambda: len(handled()) >= 40, timeout=20)
    time.sleep(0.3)
    rows = handled()
    orders = [r["order"] for r in rows]
    assert sorted(orders, key=int) == [str(i) for i in range(40)]  # each handled exactly once
    assert {r["process"] for r in rows} == {"w1", "w2"}  # both took a share


FIRE_300 = """
import lightbus
bus = lightbus.create()
for start in range(0, 300, 50):
    bus.shop.order_placed.fire_many([{"order_id": n} for n in range(start, start + 50)])
"""


def test_three_workers_sharing_a_listener_handle_each_of_300_events_once(
    project, start_worker, worker_env, tmp_path
):
    out = tmp_path / "handled.jsonl"
    folder = project(LISTENER)
    for name in ("w1", "w2", "w3"):
        start_worker(folder, LIGHTBUS_PROCESS_NAME=name, OUT=str(out))
    run_python(FIRE_300, cwd=folder, env=worker_env())

    def rows() -> list[dict]:
        return [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []

    wait_until(lambda: len(rows()) >= 300, timeout=30)
    time.sleep(0.5)  # a second delivery of any event would show by now
    handled = rows()
    assert sorted(row["order"] for row in handled) == list(range(300))
    assert all(row["attempt"] == 1 for row in handled)
    assert {row["process"] for row in handled} == {"w1", "w2", "w3"}
