"""Replay and redrive from the monitor, against a real bus on the test Redis and a real
worker process (`lightbus run`): a failing listener dead-letters an event, the handler
is fixed, ``r`` on the message (or the trace node, or the dead letter) -> the confirmation
-> the replay is handled, and the Message screen links the original and the replay."""

from __future__ import annotations

import pytest
from monitor_pilot import make_monitor, press, rows, screen_text, select_record, until, until_shown

from lightbus import Api, Event
from lightbus_tools.monitor.screens.deadletters import DeadLetterGroupScreen, DeadLettersScreen
from lightbus_tools.monitor.screens.message import MessageScreen
from lightbus_tools.monitor.screens.replay import ConfirmReplay
from lightbus_tools.monitor.screens.trace import TraceScreen

PARTS = """
    from pathlib import Path
    import lightbus
    from lightbus import Api, Event

    HERE = Path(__file__).parent

    class SalesApi(Api):
        order_placed = Event(parameters=("order_id", "part"))

        class Meta:
            name = "sales"

        def price(self, part: str) -> int:
            return len(part)

    bus = lightbus.create()
    bus.client.register_api(SalesApi())

    def reserve_parts(event, order_id, part):
        if part == "GASKET-9" and not (HERE / "fixed").exists():
            raise LookupError(f"no {part} in stock for order {order_id}")
        with open(HERE / "reserved.log", "a") as log:
            log.write(f"{event.id} {event.replay_of or '-'} {order_id}\\n")

    def send_invoice(event, order_id, part):
        pass

    @bus.client.on_start()
    def start(**_):
        bus.sales.order_placed.listen(reserve_parts, listener_name="reserve_parts", max_attempts=1)
        bus.sales.order_placed.listen(send_invoice, listener_name="send_invoice")
"""


class SalesApi(Api):
    order_placed = Event(parameters=("order_id", "part"))

    class Meta:
        name = "sales"

    def price(self, part: str) -> int:
        return len(part)


@pytest.fixture
async def parts(project, start_worker, caller):
    """The worker runs (a real process); returns (its folder, a function firing orders)."""
    folder = project(PARTS)
    worker = start_worker(folder, LIGHTBUS_RETRY_BACKOFF="0.05")
    made = []

    async def order(order_id: int, part: str = "GASKET-9") -> str:
        if not made:
            bus = caller(service_name="shop")
            bus.client.register_api(SalesApi())
            made.append(bus)
        sent = await made[0].client.fire(
            "sales", "order_placed", {"order_id": order_id, "part": part}
        )
        return sent.id

    order.worker = worker
    order.made = made
    return folder, order


def reserved(folder) -> list[list[str]]:
    log = folder / "reserved.log"
    return [line.split() for line in log.read_text().splitlines()] if log.exists() else []


async def dead_lettered(pilot, message_id: str) -> None:
    app = pilot.app
    await until(
        pilot,
        lambda: any(r.record == "event.dead_lettered" and r.id == message_id for r in rows(app)),
        timeout=20,
    )
    await until(pilot, lambda: any(d.message_id == message_id for d in app.model.dead_letters))


async def test_r_on_the_failed_message_replays_it_once_fixed_and_links_both_ways(parts, redis_url):
    folder, order = parts
    app = make_monitor(redis_url)
    async with app.run_test(size=(110, 60)) as pilot:
        original = await order(42)
        await dead_lettered(pilot, original)
        failed = next(r for r in rows(app) if r.record == "event.dead_lettered")
        await select_record(pilot, failed)
        await press(pilot, "enter")
        assert isinstance(app.screen, MessageScreen)
        await until_shown(pilot, "LookupError: no GASKET-9 in stock for order 42")
        assert "r Replay" in screen_text(app)
        (folder / "fixed").write_text("")  # the handler is fixed
        await press(pilot, "r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmReplay))
        text = await until_shown(pilot, "1 dead letter of event sales.order_placed", "y  send")
        # Exactly what will be sent, and to whom: the listener that gave up on it only (its
        # dead letter is redriven), not send_invoice, which handled it.
        assert original in text and '"order_id": 42' in text and '"part": "GASKET-9"' in text
        assert "listener reserve_parts (group " in text
        assert not [t for t in app.screen.plan.targets if "send_invoice" in t]
        assert f"replay_of set to {original}" in text
        await press(pilot, "y")
        await until(pilot, lambda: isinstance(app.screen, MessageScreen))
        await until(pilot, lambda: any(line[1] == original for line in reserved(folder)), 20)
        replay_id = next(line[0] for line in reserved(folder) if line[1] == original)
        # The original links to its replay, handled.
        text = await until_shown(pilot, "↻ replayed as", timeout=20)
        line = next(line for line in text.splitlines() if "↻ replayed as" in line)
        await until(
            pilot,
            lambda: "ok" in next(x for x in screen_text(app).splitlines() if "↻ replayed as" in x),
            timeout=20,
        )
        assert replay_id[-8:] in line or replay_id[:8] in line or replay_id in line
        assert "→ caused" not in text  # the replay is not listed as something it caused
        # And the replay links back to its original.
        await press(pilot, "l")
        links = app.screen.query_one("#links")
        links.highlighted = next(
            i for i in range(links.option_count) if links.get_option_at_index(i).id == replay_id
        )
        await press(pilot, "enter")
        await until(pilot, lambda: getattr(app.screen, "message_id", "") == replay_id)
        text = await until_shown(pilot, "← replay of", "OK")
        assert "replay_of" in text and original in text


async def test_r_on_a_trace_node_replays_that_message(parts, redis_url):
    folder, order = parts
    (folder / "fixed").write_text("")
    app = make_monitor(redis_url)
    async with app.run_test(size=(110, 40)) as pilot:
        original = await order(7, "BOLT-1")
        await until(pilot, lambda: sum(r.record == "event.handled" for r in rows(app)) >= 2, 20)
        fired = next(r for r in rows(app) if r.record == "event.fired")
        await select_record(pilot, fired)
        await press(pilot, "t")
        assert isinstance(app.screen, TraceScreen)
        await until_shown(pilot, "event sales.order_placed")
        await press(pilot, "r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmReplay))
        text = await until_shown(pilot, original, '"order_id": 7')
        # A message every listener handled: replayed to every one, as `lightbus replay`.
        assert "listener reserve_parts" in text and "listener send_invoice" in text
        await press(pilot, "y")
        await until(pilot, lambda: sum(line[1] == original for line in reserved(folder)) == 1, 20)
        # The tree shows the replay, under its original.
        text = await until_shown(pilot, "2 messages", "replay of", timeout=20)
        line = next(x for x in text.splitlines() if "replay of" in x)
        assert "event sales.order_placed" in line


async def test_a_refused_replay_says_why_and_sends_nothing(parts, redis_url):
    """An RPC that no live worker serves any more: the monitor shows the refusal of
    ``lightbus.replay.plan`` and offers no send."""
    _, order = parts
    await order(1, "BOLT-1")  # makes the caller bus
    assert await order.made[0].client.call("sales", "price", {"part": "BOLT"}) == 4
    order.worker.stop()
    app = make_monitor(redis_url)
    async with app.run_test(size=(110, 40)) as pilot:
        await until(pilot, lambda: any(r.record == "rpc.returned" for r in rows(app)), 20)
        await select_record(pilot, next(r for r in rows(app) if r.record == "rpc.called"))
        await press(pilot, "enter")
        await until_shown(pilot, "rpc sales.price")
        await press(pilot, "r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmReplay), 20)
        text = await until_shown(pilot, "It cannot be sent as it is")
        assert "No live worker serves sales" in text and "lightbus run" in text
        assert "y  send" not in text
        await press(pilot, "y")
        assert isinstance(app.screen, ConfirmReplay)  # nothing to send
        await press(pilot, "escape")
        assert not any(r.replay_of for r in rows(app))


async def test_redrive_from_the_dead_letters_screen_marks_them(parts, redis_url):
    folder, order = parts
    app = make_monitor(redis_url)
    async with app.run_test(size=(110, 40)) as pilot:
        first, second = await order(42), await order(43)
        await dead_lettered(pilot, first)
        await dead_lettered(pilot, second)
        (folder / "fixed").write_text("")
        await press(pilot, "5")
        assert isinstance(app.screen, DeadLettersScreen)
        await until_shown(pilot, "reserve_parts", "LookupError")
        await press(pilot, "R")
        await until(pilot, lambda: isinstance(app.screen, ConfirmReplay))
        text = await until_shown(pilot, "2 dead letters of event sales.order_placed")
        # To the listener that gave up on them only.
        assert "listener reserve_parts" in text and first in text and second in text
        assert not [t for t in app.screen.plan.targets if "send_invoice" in t]
        await press(pilot, "y")
        await until(pilot, lambda: {line[1] for line in reserved(folder)} == {first, second}, 20)
        # Marked: a second redrive is refused, with why.
        await press(pilot, "enter")
        assert isinstance(app.screen, DeadLetterGroupScreen)
        await press(pilot, "r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmReplay))
        await until_shown(pilot, "It cannot be sent as it is", "already redriven")
        await press(pilot, "escape")
        assert len(reserved(folder)) == 2


async def test_readonly_offers_no_replay_or_redrive_anywhere(parts, redis_url):
    _, order = parts
    app = make_monitor(redis_url, readonly=True)
    async with app.run_test(size=(110, 40)) as pilot:
        original = await order(42)
        await dead_lettered(pilot, original)
        offered = set()

        def note() -> None:
            offered.update(b.binding.action for b in app.screen.active_bindings.values())

        await select_record(pilot, next(r for r in rows(app) if r.id == original))
        await press(pilot, "enter")
        await until_shown(pilot, "Handling")
        note()
        await press(pilot, "r")
        await press(pilot, "t")
        await until_shown(pilot, "event sales.order_placed")
        note()
        await press(pilot, "r", "escape", "escape", "5")
        await until_shown(pilot, "reserve_parts")
        note()
        await press(pilot, "R", "enter")
        await until(pilot, lambda: isinstance(app.screen, DeadLetterGroupScreen))
        note()
        await press(pilot, "r", "R")
        assert not offered & {"replay", "redrive", "purge"}
        assert not isinstance(app.screen, ConfirmReplay)
        assert not any(r.replay_of for r in rows(app))
        text = screen_text(app)
        assert "Redrive" not in text and "Replay" not in text
