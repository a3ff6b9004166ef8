"""Done-when: one cascade across real processes is one trace, seen by every reader.

A caller (this test) calls ``shop.place_order``; the worker's sync RPC method fires
``shop.order_placed`` with the blocking API from its handler thread; the sync listener
``reserve_stock`` calls ``stock.reserve`` with the blocking API; that async RPC fires
``stock.reserved`` from a task it spawns. A second listener, ``audit``, raises.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest
from support import wait_until

import lightbus

BUS = """
import asyncio
import logging

import lightbus
from lightbus import Api, Event

log = logging.getLogger("shopapp")


class ShopApi(Api):
    order_placed = Event(parameters=("order_id", "card"))

    class Meta:
        name = "shop"

    def place_order(self, order_id: str, password: str) -> str:
        log.info("placing order %s", order_id)
        bus.shop.order_placed.fire(order_id=order_id, card="x" * 300)
        return "placed"


class StockApi(Api):
    reserved = Event(parameters=("order_id",))

    class Meta:
        name = "stock"

    async def reserve(self, order_id: str) -> int:
        await asyncio.create_task(bus.stock.reserved.fire_async(order_id=order_id))
        return 3


bus = lightbus.create()
bus.client.register_api(ShopApi())
bus.client.register_api(StockApi())


def reserve_stock(event, order_id, card):
    log.info("reserving stock for %s", order_id)
    bus.stock.reserve(order_id=order_id)


def audit(event, order_id, card):
    raise ValueError("audit is down")


@bus.client.on_start()
def start(**_):
    bus.shop.order_placed.listen(reserve_stock, listener_name="reserve_stock")
    bus.shop.order_placed.listen(audit, listener_name="audit", max_attempts=1)
"""


def run_cli(worker_env, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lightbus", *args],
        env=worker_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )


def trace_of(records: list[lightbus.TraceRecord]) -> str:
    return next(r.trace_id for r in records if r.id)


def steps_of(records: list[lightbus.TraceRecord]) -> set[tuple[str, str, str]]:
    return {(r.record, f"{r.api}.{r.name}", r.listener) for r in records}


EXPECTED_STEPS = {
    ("rpc.called", "shop.place_order", ""),
    ("rpc.handled", "shop.place_order", ""),
    ("rpc.returned", "shop.place_order", ""),
    ("event.fired", "shop.order_placed", ""),
    ("event.handled", "shop.order_placed", "reserve_stock"),
    ("event.failed", "shop.order_placed", "audit"),
    ("event.dead_lettered", "shop.order_placed", "audit"),
    ("rpc.called", "stock.reserve", ""),
    ("rpc.handled", "stock.reserve", ""),
    ("rpc.returned", "stock.reserve", ""),
    ("event.fired", "stock.reserved", ""),
}


@pytest.fixture
def cascade(project, start_worker, bus_factory):
    """Run the cascade once; return (worker, caller bus, trace records)."""
    folder = project(BUS)
    worker = start_worker(folder, LIGHTBUS_TRACE_PAYLOAD_BYTES="200", LIGHTBUS_SERVICE_NAME="shop")
    bus = bus_factory(service_name="frontend", trace_redact=("password",))
    assert bus.shop.place_order(order_id="o-1", password="hunter2") == "placed"

    def complete():
        records = asyncio.run(read_all(bus.client.settings.redis_url))
        return records if steps_of(records) >= EXPECTED_STEPS else None

    records = wait_until(complete, timeout=20, interval=0.2)
    return worker, bus, records


async def read_all(redis_url: str) -> list[lightbus.TraceRecord]:
    bus = lightbus.create(redis_url=redis_url)
    try:
        return [r async for r in lightbus.read_trace(bus, kind=None)]
    finally:
        await bus.client.close()


def test_cascade_is_one_trace_with_the_right_tree(cascade):
    _worker, _bus, records = cascade
    messages = [r for r in records if r.id]
    assert len({r.trace_id for r in messages}) == 1, "every message joins the caller's trace"
    roots = lightbus.build_tree(records)
    assert len(roots) == 1
    root = roots[0]
    assert root.label == "rpc shop.place_order"
    [placed] = root.children
    assert placed.label == "event shop.order_placed"
    assert placed.sent.causation_id == root.id
    assert placed.sent.parent_span_id == root.sent.span_id
    [reserve] = placed.children
    assert reserve.label == "rpc stock.reserve"
    assert reserve.sent.causation_id == placed.id
    assert reserve.sent.parent_span_id == placed.sent.span_id
    [reserved] = reserve.children
    assert reserved.label == "event stock.reserved"
    assert reserved.sent.causation_id == reserve.id
    assert sum(1 for _ in root.walk()) == 4
    listeners = {h.listener: h for h in placed.handlings}
    assert listeners["reserve_stock"].status == "ok"
    assert listeners["audit"].status == "dead"
    assert placed.status == "dead"
    assert root.status == "ok" and root.returned is not None


def test_failing_listener_records_error_type_and_traceback(cascade):
    _worker, _bus, records = cascade
    [failed] = [r for r in records if r.record == "event.failed"]
    assert failed.listener == "audit"
    assert failed.status == "error"
    assert failed.error_type == "ValueError"
    assert failed.error == "audit is down"
    assert "Traceback (most recent call last)" in failed.traceback
    assert 'raise ValueError("audit is down")' in failed.traceback
    assert failed.duration_ms > 0 and failed.attempt == 1


def test_payloads_are_capped_and_redacted(cascade):
    _worker, _bus, records = cascade
    [called] = [r for r in records if r.record == "rpc.called" and r.name == "place_order"]
    assert called.redacted and not called.truncated
    assert json.loads(called.payload) == {"order_id": "o-1", "password": "***"}
    assert "hunter2" not in json.dumps([r.to_dict() for r in records])
    # The worker caps payloads at 200 bytes (LIGHTBUS_TRACE_PAYLOAD_BYTES).
    [fired] = [r for r in records if r.record == "event.fired" and r.name == "order_placed"]
    assert fired.truncated and len(fired.payload) == 200
    assert fired.payload.startswith('{"order_id":"o-1","card":"xxx')


def test_inspect_json_shows_the_trace(cascade, worker_env):
    _worker, _bus, records = cascade
    trace_id = trace_of(records)
    result = run_cli(worker_env, "inspect", "--json", "--trace", trace_id, "--limit", "0")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert {(d["record"], f"{d['api']}.{d['name']}", d["listener"]) for d in lines} >= (
        EXPECTED_STEPS
    )
    assert all(d["trace_id"] == trace_id for d in lines)
    failed = run_cli(worker_env, "inspect", "--json", "--status", "error", "--kind", "event")
    [line] = failed.stdout.splitlines()
    assert json.loads(line)["error_type"] == "ValueError"


def test_trace_json_nests_the_tree_by_message_and_by_trace_id(cascade, worker_env):
    _worker, _bus, records = cascade
    [fired] = [r for r in records if r.record == "event.fired" and r.name == "reserved"]
    for wanted in (fired.id, fired.trace_id):
        result = run_cli(worker_env, "trace", wanted, "--json")
        assert result.returncode == 0, result.stderr
        document = json.loads(result.stdout)
        [root] = document["roots"]
        chain = [root]
        while chain[-1]["children"]:
            [child] = chain[-1]["children"]
            chain.append(child)
        assert [f"{n['kind']} {n['api']}.{n['name']}" for n in chain] == [
            "rpc shop.place_order",
            "event shop.order_placed",
            "rpc stock.reserve",
            "event stock.reserved",
        ]
        assert document["trace_id"] == fired.trace_id
        audit = next(h for h in chain[1]["handlings"] if h["listener"] == "audit")
        assert audit["error_type"] == "ValueError" and "Traceback" in audit["traceback"]
    assert document["focus"] == ""  # the last lookup was by trace id


def test_trace_rich_tree_for_a_person(cascade, worker_env):
    _worker, _bus, records = cascade
    result = run_cli(worker_env, "trace", trace_of(records))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for text in (
        "rpc shop.place_order",
        "event shop.order_placed",
        "listener reserve_stock: ok",
        "listener audit: dead",
        "ValueError: audit is down",
        "rpc stock.reserve",
        "event stock.reserved",
        "(4 messages)",
    ):
        assert text in out, out


def test_worker_log_lines_carry_the_trace(cascade):
    worker, _bus, records = cascade
    trace_id = trace_of(records)
    [call] = [r for r in records if r.record == "rpc.called" and r.name == "place_order"]
    # The user's own logger, inside a sync RPC method, under `lightbus run`'s log format.
    wait_until(lambda: "placing order o-1" in worker.output)
    line = next(x for x in worker.lines if "placing order o-1" in x)
    assert f"[trace={trace_id} message={call.id}]" in line
    # The runtime's own line about the failing listener carries the event's ids.
    [fired] = [r for r in records if r.record == "event.fired" and r.name == "order_placed"]
    line = next(x for x in worker.lines if "Listener audit failed" in x)
    assert f"[trace={trace_id} message={fired.id}]" in line
