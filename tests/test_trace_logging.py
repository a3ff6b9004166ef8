"""Log records carry the trace: the runtime's own and, with the filter, the user's."""

from __future__ import annotations

import logging
import re

from conftest import ROOT
from support import reach, wait_until

import lightbus
from lightbus import Api, Event
from lightbus.logs import RUNTIME_LOGGERS


class PingApi(Api):
    pinged = Event(parameters=("n",))

    class Meta:
        name = "ping"


def make_record(**extra) -> logging.LogRecord:
    record = logging.LogRecord("app", logging.INFO, __file__, 1, "hello", (), None)
    record.__dict__.update(extra)
    lightbus.TraceLogFilter().filter(record)
    return record


def test_outside_a_trace_the_fields_are_empty():
    record = make_record()
    assert (record.trace_id, record.span_id, record.message_id, record.trace_tag) == ("",) * 4


def test_inside_start_trace_the_trace_id_is_set():
    with lightbus.start_trace() as started:
        record = make_record()
    assert record.trace_id == started.trace_id and record.message_id == ""
    assert record.trace_tag == f" [trace={started.trace_id}]"


def test_values_given_through_extra_are_kept():
    with lightbus.start_trace():
        record = make_record(trace_id="mine")
    assert record.trace_id == "mine"


def test_user_and_runtime_log_lines_inside_a_handler_carry_the_message(bus_factory, caplog):
    bus = bus_factory()
    bus.client.register_api(PingApi())
    user_log = logging.getLogger("myapp.handlers")
    mine_seen: list[logging.LogRecord] = []
    # What the how-to tells users to do: the filter on their own handler.
    handler_of_user = logging.Handler()
    handler_of_user.emit = mine_seen.append  # type: ignore[method-assign]
    handler_of_user.addFilter(lightbus.TraceLogFilter())
    user_log.addHandler(handler_of_user)

    def handler(event, n):
        user_log.warning("got ping %s", n)
        raise RuntimeError("nope")

    with caplog.at_level(logging.INFO):
        bus.ping.pinged.listen(handler, listener_name="pinger", max_attempts=1)
        sent = bus.ping.pinged.fire(n=1)
        wait_until(lambda: any(r.name == "lightbus.events" for r in caplog.records))
    user_log.removeHandler(handler_of_user)
    [mine] = mine_seen
    assert (mine.trace_id, mine.message_id) == (sent.trace_id, sent.id)
    assert mine.trace_tag == f" [trace={sent.trace_id} message={sent.id}]"
    # caplog's handler has no filter: these fields come from the runtime's own loggers.
    runtime = next(r for r in caplog.records if r.name == "lightbus.events")
    assert "Listener pinger failed" in runtime.getMessage()
    assert (runtime.trace_id, runtime.message_id) == (sent.trace_id, sent.id)


def test_every_runtime_logger_carries_the_filter():
    names = set()
    for path in (ROOT / "lightbus").glob("*.py"):
        names |= set(re.findall(r'getLogger\("([a-z_.]+)"\)', path.read_text()))
    assert names <= set(RUNTIME_LOGGERS), names - set(RUNTIME_LOGGERS)
    for name in RUNTIME_LOGGERS:
        filters = logging.getLogger(name).filters
        assert any(isinstance(f, lightbus.TraceLogFilter) for f in filters), name


class EchoApi(Api):
    pinged = Event(parameters=("n",))

    class Meta:
        name = "echo"

    async def echo(self, n: int) -> int:
        return n


async def test_after_a_handler_ran_the_runtimes_own_lines_carry_no_trace(
    serve, caller, raw_redis, caplog
):
    # The handler's call starts the worker's reply reader, its fire the write path: work
    # that goes on after the handler. Its log lines (a lost connection) are about no message.
    handled: list[str] = []

    async def handler(event, n):
        await worker.echo.echo.call_async(n=n)
        if n == 1:
            await worker.echo.pinged.fire_async(n=2)
        handled.append(event.id)

    worker = await serve(EchoApi(), setup=lambda bus: bus.echo.pinged.listen(handler))
    await caller().echo.pinged.fire_async(n=1)
    await reach(lambda: len(handled) == 2)
    with caplog.at_level(logging.INFO, logger="lightbus"):
        raw_redis.client_kill_filter(_type="normal", skipme=True)
        await reach(lambda: lost(caplog, "Reply reader"))
        await reach(lambda: lost(caplog, "Listener"))
    lines = lost(caplog, "")
    assert all(r.trace_tag == "" for r in lines), [(r.getMessage(), r.trace_tag) for r in lines]


def lost(caplog, start: str) -> list[logging.LogRecord]:
    """The "lost Redis" lines of the runtime starting with ``start``."""
    return [r for r in caplog.records if "lost Redis" in r.getMessage() and r.msg.startswith(start)]
