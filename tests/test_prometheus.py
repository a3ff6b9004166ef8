"""Done-when: the Prometheus extra. A real worker process's /metrics, scraped after real
events and calls, counts what its handlers did and shows its listeners' backlog."""

from __future__ import annotations

import socket
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families
from support import wait_until

import lightbus

BUS = """
import lightbus
from lightbus import Api, Event


class ShopApi(Api):
    order_placed = Event(parameters=("order_id",))

    class Meta:
        name = "shop"

    async def price(self, sku: str) -> int:
        if sku == "unknown":
            raise LookupError(sku)
        return 3


bus = lightbus.create()
bus.client.register_api(ShopApi())


async def send_receipt(event, order_id):
    pass


async def audit(event, order_id):
    if order_id == "bad":
        raise ValueError("audit is down")


@bus.client.on_start()
def start(**_):
    bus.shop.order_placed.listen(send_receipt, listener_name="send_receipt")
    bus.shop.order_placed.listen(audit, listener_name="audit", max_attempts=1)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scrape(port: int) -> dict[tuple[str, frozenset], float]:
    """Every sample of the endpoint, by name and labels."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples, metric: str, **labels: str) -> float | None:
    return samples.get((metric, frozenset(labels.items())))


def test_a_worker_serves_counters_histograms_and_backlog_gauges(project, start_worker, bus_factory):
    port = free_port()
    start_worker(
        project(BUS),
        LIGHTBUS_SERVICE_NAME="shop",
        LIGHTBUS_PROMETHEUS_PORT=str(port),
        LIGHTBUS_HEARTBEAT_INTERVAL="0.5",
    )
    bus = bus_factory(service_name="frontend")
    for order_id in ("o-1", "o-2", "bad"):
        bus.shop.order_placed.fire(order_id=order_id)
    assert bus.shop.price(sku="a") == 3
    with pytest.raises(lightbus.RemoteError):
        bus.shop.price(sku="unknown")

    receipt = {"api": "shop", "name": "order_placed", "listener": "send_receipt"}
    audit = {**receipt, "listener": "audit"}
    group = {"api": "shop", "name": "order_placed", "group": "shop.audit"}

    def settled():
        samples = scrape(port)
        done = (
            value(samples, "lightbus_events_handled_total", **receipt) == 3
            and value(samples, "lightbus_events_dead_lettered_total", **audit) == 1
            and value(samples, "lightbus_backlog_dead_letters", **group) == 1
        )
        return samples if done else None

    samples = wait_until(settled, timeout=20, interval=0.2)
    assert value(samples, "lightbus_events_handled_total", **audit) == 2
    assert value(samples, "lightbus_events_failed_total", **audit) == 1
    assert value(samples, "lightbus_event_handler_duration_seconds_count", **receipt) == 3
    assert value(samples, "lightbus_event_queue_seconds_count", **audit) == 3
    assert value(samples, "lightbus_event_handler_duration_seconds_sum", **receipt) > 0
    price = {"api": "shop", "name": "price"}
    assert value(samples, "lightbus_rpcs_handled_total", **price) == 1
    assert value(samples, "lightbus_rpcs_failed_total", **price) == 1
    assert value(samples, "lightbus_rpc_handler_duration_seconds_count", **price) == 2
    assert value(samples, "lightbus_rpc_queue_seconds_count", **price) == 2
    # The backlog of the worker's own groups, from lightbus.groups
    assert value(samples, "lightbus_backlog_length", **group) == 3
    assert value(samples, "lightbus_backlog_pending", **group) == 0
    receipts = {**group, "group": "shop.send_receipt"}
    assert value(samples, "lightbus_backlog_lag", **receipts) == 0
    assert value(samples, "lightbus_backlog_dead_letters", **receipts) == 0


def test_a_port_in_use_stops_the_worker_with_what_to_do(project, start_worker):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        worker = start_worker(project(BUS), wait=None, LIGHTBUS_PROMETHEUS_PORT=str(port))
        assert worker.wait() != 0
    assert f"cannot serve Prometheus metrics on 127.0.0.1:{port}" in worker.output
    assert "Choose a free port" in worker.output


def test_a_port_out_of_range_is_a_config_error():
    with pytest.raises(lightbus.ConfigError, match="prometheus_port must be a TCP port"):
        lightbus.create(prometheus_port=70000)
    with pytest.raises(lightbus.ConfigError, match="prometheus_port must be 0 or more"):
        lightbus.create(prometheus_port=-1)


def test_without_the_setting_nothing_of_prometheus_is_imported(project, start_worker):
    worker = start_worker(project(BUS + PRINT_MODULES))
    worker.wait_for("prometheus modules: []")


PRINT_MODULES = """

@bus.client.on_start()
def show_modules(**_):
    import sys
    loaded = sorted(
        m for m in sys.modules if m == "lightbus.prometheus" or m.startswith("prometheus_client")
    )
    print("prometheus modules:", loaded, flush=True)
"""
