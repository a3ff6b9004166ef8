"""Lightbus 1.x code that runs unchanged (docs/how-to/migrate-from-1x.md): the bus module
of 1.x's Flask tutorial, and a test of it as 1.x's testing page writes one. Run by
tests/test_creation.py."""

# --8<-- [start:bus]
# store/bus.py
import lightbus

bus = lightbus.create(flask=True)


class StoreApi(lightbus.Api):
    page_view = lightbus.Event(parameters=("url",))

    class Meta:
        name = "store"


bus.client.register_api(StoreApi())
# --8<-- [end:bus]


# --8<-- [start:test]
from lightbus.creation import create  # noqa: E402 - 1.x's import path, kept
from lightbus.utilities.testing import BusMocker  # noqa: E402


def test_page_view_is_fired():
    with BusMocker(bus) as bus_mock:
        bus_mock.mock_event_firing("store.page_view")

        bus.store.page_view.fire(url="/products/42")

        bus_mock.assert_events_fired("store.page_view", times=1)
        message = bus_mock.get_event_messages("store.page_view")[0]
        assert message.kwargs == {"url": "/products/42"}


# --8<-- [end:test]

assert create is lightbus.create
