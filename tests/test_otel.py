"""Done-when: the OpenTelemetry extra. A cascade across real processes is one OTel trace.

An HTTP-like root span in this process calls ``shop.place_order``, served by worker
"shop" in its own process; that method fires ``shop.order_placed``; its listener
``reserve_stock`` (same worker) calls ``stock.reserve``, served by worker "stock" in a
third process. The test process collects its spans with the SDK's in-memory exporter;
each worker writes its spans as JSON lines to a file of its own.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from support import wait_until
from test_trace_cascade import read_all

import lightbus

BUS = """
import json
import os

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

import lightbus
from lightbus import Api, Event


class JsonLines(SpanExporter):
    def __init__(self, path):
        self.path = path

    def export(self, spans):
        with open(self.path, "a") as out:
            for span in spans:
                out.write(json.dumps({
                    "name": span.name,
                    "kind": span.kind.name,
                    "trace_id": f"{span.context.trace_id:032x}",
                    "span_id": f"{span.context.span_id:016x}",
                    "parent": f"{span.parent.span_id:016x}" if span.parent else "",
                    "attributes": dict(span.attributes),
                    "status": span.status.status_code.name,
                }) + "\\n")
        return SpanExportResult.SUCCESS


provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(JsonLines(os.environ["SPANS_FILE"])))
trace.set_tracer_provider(provider)


class ShopApi(Api):
    order_placed = Event(parameters=("order_id",))

    class Meta:
        name = "shop"

    def place_order(self, order_id: str) -> str:
        bus.shop.order_placed.fire(order_id=order_id)
        return "placed"


class StockApi(Api):
    class Meta:
        name = "stock"

    async def reserve(self, order_id: str) -> int:
        return 3


bus = lightbus.create()


def reserve_stock(event, order_id):
    bus.stock.reserve(order_id=order_id)


if os.environ["ROLE"] == "shop":
    bus.client.register_api(ShopApi())

    @bus.client.on_start()
    def start(**_):
        bus.shop.order_placed.listen(reserve_stock, listener_name="reserve_stock")
else:
    bus.client.register_api(StockApi())
"""

EXPECTED = {
    "GET /checkout",
    "call shop.place_order",
    "process shop.place_order",
    "send shop.order_placed",
    "process shop.order_placed",
    "call stock.reserve",
    "process stock.reserve",
}


@pytest.fixture
def exporter():
    """This process's spans, in memory (the global provider can be set only once)."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    yield memory
    memory.shutdown()


def _local(spans) -> list[dict]:
    return [
        {
            "name": s.name,
            "kind": s.kind.name,
            "trace_id": f"{s.context.trace_id:032x}",
            "span_id": f"{s.context.span_id:016x}",
            "parent": f"{s.parent.span_id:016x}" if s.parent else "",
            "attributes": dict(s.attributes),
            "status": s.status.status_code.name,
        }
        for s in spans
    ]


def _from_files(folder: Path) -> list[dict]:
    spans = []
    for path in folder.glob("spans-*.jsonl"):
        spans += [json.loads(line) for line in path.read_text().splitlines() if line]
    return spans


def test_a_cascade_across_processes_is_one_trace_with_the_right_parents(
    project, start_worker, bus_factory, exporter, tmp_path
):
    folder = project(BUS)
    for role in ("shop", "stock"):
        start_worker(
            folder,
            LIGHTBUS_OTEL_ENABLED="true",
            LIGHTBUS_SERVICE_NAME=role,
            ROLE=role,
            SPANS_FILE=str(tmp_path / f"spans-{role}.jsonl"),
        )
    bus = bus_factory(service_name="frontend", otel_enabled=True)
    tracer = trace.get_tracer("tests.http")
    with tracer.start_as_current_span("GET /checkout", kind=trace.SpanKind.SERVER) as root:
        assert bus.shop.place_order(order_id="o-1") == "placed"

    def complete():
        spans = _local(exporter.get_finished_spans()) + _from_files(tmp_path)
        mine = [s for s in spans if s["trace_id"] == f"{root.get_span_context().trace_id:032x}"]
        return mine if {s["name"] for s in mine} >= EXPECTED else None

    spans = wait_until(complete, timeout=20, interval=0.2)
    by_name = {s["name"]: s for s in spans}
    assert len(spans) == len(by_name), "one span per step"

    def parent_of(name: str) -> str:
        [parent] = [s["name"] for s in spans if s["span_id"] == by_name[name]["parent"]]
        return parent

    assert by_name["GET /checkout"]["parent"] == ""
    assert parent_of("call shop.place_order") == "GET /checkout"
    assert parent_of("process shop.place_order") == "call shop.place_order"
    assert parent_of("send shop.order_placed") == "process shop.place_order"
    assert parent_of("process shop.order_placed") == "send shop.order_placed"
    assert parent_of("call stock.reserve") == "process shop.order_placed"
    assert parent_of("process stock.reserve") == "call stock.reserve"

    kinds = {name: s["kind"] for name, s in by_name.items()}
    assert kinds["call shop.place_order"] == "CLIENT"
    assert kinds["process shop.place_order"] == "SERVER"
    assert kinds["send shop.order_placed"] == "PRODUCER"
    assert kinds["process shop.order_placed"] == "CONSUMER"

    send = by_name["send shop.order_placed"]["attributes"]
    assert send["messaging.system"] == "lightbus"
    assert send["messaging.destination.name"] == "shop.order_placed"
    assert send["messaging.operation.type"] == "send"
    handled = by_name["process shop.order_placed"]["attributes"]
    assert handled["messaging.operation.type"] == "process"
    assert handled["messaging.consumer.group.name"] == "reserve_stock"
    assert handled["messaging.message.id"]
    assert all(s["status"] != "ERROR" for s in spans)

    # The envelope carries the same W3C ids: the bus's trace is the OTel trace.
    records = asyncio.run(read_all(bus.client.settings.redis_url))
    [called] = [r for r in records if r.record == "rpc.called" and r.name == "place_order"]
    assert called.trace_id == by_name["GET /checkout"]["trace_id"]
    assert called.span_id == by_name["call shop.place_order"]["span_id"]
    assert called.parent_span_id == by_name["GET /checkout"]["span_id"]


async def test_a_failing_handler_makes_error_spans(serve, exporter):
    class Pay(lightbus.Api):
        class Meta:
            name = "pay"

        async def charge(self, amount: int) -> int:
            raise ValueError("card declined")

    bus = await serve(Pay(), otel_enabled=True)
    with pytest.raises(lightbus.RemoteError):
        await bus.pay.charge.call_async(amount=3)
    spans = {s["name"]: s for s in _local(exporter.get_finished_spans())}
    assert spans["process pay.charge"]["status"] == "ERROR"
    assert spans["process pay.charge"]["attributes"]["error.type"] == "ValueError"
    assert spans["call pay.charge"]["status"] == "ERROR"
    assert spans["process pay.charge"]["parent"] == spans["call pay.charge"]["span_id"]


def test_without_the_setting_nothing_of_opentelemetry_is_imported(redis_url):
    # redis-py imports OpenTelemetry itself when it is installed (its own observability
    # module); what Lightbus must not add is anything beyond that.
    code = (
        "import sys, json, lightbus\n"
        "otel = lambda: sorted(m for m in sys.modules if m.startswith('opentelemetry'))\n"
        "after_import = otel()\n"
        "import redis.asyncio\n"
        "redis_own = otel()\n"
        "class Shop(lightbus.Api):\n"
        "    placed = lightbus.Event(parameters=('order_id',))\n"
        "    class Meta:\n"
        "        name = 'shop'\n"
        f"bus = lightbus.create(redis_url={redis_url!r})\n"
        "bus.client.register_api(Shop())\n"
        "bus.shop.placed.fire(order_id='o-1')\n"
        "bus.close()\n"
        "print(json.dumps([after_import, sorted(set(otel()) - set(redis_own)),\n"
        "                  'lightbus.otel' in sys.modules]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [[], [], False]


def test_turned_on_without_the_extra_says_what_to_install(redis_url):
    code = (
        "import sys\n"
        "sys.modules['opentelemetry'] = None  # as if the extra were not installed\n"
        "import lightbus\n"
        "try:\n"
        f"    lightbus.create(redis_url={redis_url!r}, otel_enabled=True)\n"
        "except lightbus.ConfigError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30
    )
    assert "pip install 'lightbus[otel]'" in result.stdout, result.stderr


def test_the_how_to_snippet_makes_the_request_the_parent_of_the_event(worker_env):
    """docs/snippets/otel_setup.py, as docs/how-to/opentelemetry.md shows it."""
    code = "import otel_setup\notel_setup.checkout('o-1')\notel_setup.bus.close()\n"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).parent.parent / "docs" / "snippets",
        env=worker_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    spans = _console_spans(result.stdout)
    assert [s["name"] for s in spans] == ["send shop.order_placed", "POST /checkout"]
    send, request = spans
    assert send["parent_id"] == request["context"]["span_id"]
    assert send["context"]["trace_id"] == request["context"]["trace_id"]
    assert send["kind"] == "SpanKind.PRODUCER"


def _console_spans(text: str) -> list[dict]:
    """The JSON objects the SDK's console exporter printed, one after another."""
    decoder, spans, at = json.JSONDecoder(), [], 0
    while (start := text.find("{", at)) != -1:
        span, at = decoder.raw_decode(text, start)
        spans.append(span)
    return spans
