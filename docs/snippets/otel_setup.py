"""OpenTelemetry for the bus: the application's tracer provider, then a bus with
``otel_enabled``. Replace the console exporter with your collector's (OTLP) in production."""

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

import lightbus
from lightbus import Api, Event

provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
trace.set_tracer_provider(provider)

# Or LIGHTBUS_OTEL_ENABLED=true in the environment, or otel_enabled = true in lightbus.toml
bus = lightbus.create(service_name="shop", otel_enabled=True)


class ShopApi(Api):
    order_placed = Event(parameters=("order_id",))

    class Meta:
        name = "shop"


bus.client.register_api(ShopApi())
tracer = trace.get_tracer("shop.web")


def checkout(order_id: str) -> None:
    """What a web view does: its request's span is the parent of the event's."""
    with tracer.start_as_current_span("POST /checkout", kind=trace.SpanKind.SERVER):
        bus.shop.order_placed.fire(order_id=order_id)
