"""Every id a tool prints works in every tool that takes an id.

`lightbus inspect` shortens ids; `lightbus trace` and `lightbus inspect --trace/--message`
take them back: a unique start or end is enough, an ambiguous one is refused with the
candidates, and one that matches nothing is an error (never an empty answer).
"""

from __future__ import annotations

import json

import pytest
from test_trace_reader import put, record

import lightbus
from lightbus import AmbiguousId, UnknownId, ids
from lightbus.cli import main as cli


@pytest.fixture
def env(monkeypatch, redis_url):
    monkeypatch.setenv("LIGHTBUS_REDIS_URL", redis_url)
    monkeypatch.setenv("COLUMNS", "220")
    return redis_url


def a_trace(raw_redis) -> tuple[str, str, str]:
    """An event and the RPC its handler called, in one trace, among other records."""
    trace_id, event, call = ids.trace_id(), ids.message_id(), ids.message_id()
    put(
        raw_redis,
        record("event.fired", id=event, trace_id=trace_id, api="shop", name="placed"),
        record("event.fired", api="other", name="noise"),
        record("rpc.called", id=call, trace_id=trace_id, causation_id=event, api="stock",
               name="reserve"),
        record("event.handled", id=event, trace_id=trace_id, api="shop", name="placed",
               listener="audit"),
    )  # fmt: skip
    return trace_id, event, call


def json_out(capsys) -> list:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_the_ids_inspect_prints_work_in_trace_and_inspect(env, raw_redis, capsys):
    trace_id, event, call = a_trace(raw_redis)
    assert cli(["inspect", "--api", "stock"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if "rpc.called" in line)
    shown_message, shown_trace = call[-12:], trace_id[:12]
    assert shown_message in row and shown_trace in row

    assert cli(["trace", "--json", shown_message]) == 0
    [tree] = json_out(capsys)
    assert (tree["trace_id"], tree["focus"]) == (trace_id, call)
    assert [root["id"] for root in tree["roots"]] == [event]
    assert cli(["trace", "--json", shown_trace]) == 0
    assert json_out(capsys)[0]["trace_id"] == trace_id

    assert cli(["inspect", "--json", "--trace", shown_trace]) == 0
    assert {(r["id"], r["trace_id"]) for r in json_out(capsys)} == {
        (event, trace_id),
        (call, trace_id),
    }
    assert cli(["inspect", "--json", "--message", shown_message]) == 0
    assert [r["id"] for r in json_out(capsys)] == [call]
    # A start works as well as an end, and so does a whole id with a UUID's dashes.
    assert cli(["inspect", "--json", "--message", call[:16]]) == 0
    assert [r["id"] for r in json_out(capsys)] == [call]
    dashed = f"{call[:8]}-{call[8:12]}-{call[12:16]}-{call[16:20]}-{call[20:]}"
    assert cli(["trace", "--json", dashed]) == 0
    assert json_out(capsys)[0]["focus"] == call


def test_an_ambiguous_id_is_refused_with_the_candidates(env, raw_redis, capsys):
    first, second = (ids.message_id()[:-4] + "beef" for _ in range(2))
    put(
        raw_redis,
        record("event.fired", id=first, trace_id="1" * 32, api="shop", name="placed"),
        record("rpc.called", id=second, trace_id="2" * 32, api="stock", name="reserve"),
    )
    assert cli(["trace", "beef"]) == 1
    err = capsys.readouterr().err
    assert "lightbus trace: error: beef is the start or end of 2 ids in the trace stream" in err
    assert f"  message {second}  (rpc stock.reserve, " in err
    assert f"  message {first}  (event shop.placed, " in err
    assert cli(["inspect", "--message", "beef"]) == 1
    assert "is the start or end of 2 ids" in capsys.readouterr().err
    # Only traces are candidates for --trace: the messages' "beef" does not count there.
    assert cli(["inspect", "--trace", "beef"]) == 1
    assert "No trace id in the trace stream starts or ends with beef" in capsys.readouterr().err


def test_an_id_that_matches_nothing_is_an_error_not_an_empty_answer(env, raw_redis, capsys):
    a_trace(raw_redis)
    for command in (["inspect", "--trace"], ["inspect", "--message"], ["trace"]):
        assert cli([*command, "abcdef12"]) == 1, command
        err = capsys.readouterr().err
        assert "in the trace stream starts or ends with abcdef12. It may be mistyped" in err
    assert cli(["inspect", "--trace", ids.trace_id()]) == 1
    assert "No trace " in capsys.readouterr().err
    assert cli(["inspect", "--trace", "abc"]) == 2  # fewer than 4 digits
    assert "at least 4" in capsys.readouterr().err


async def test_the_reader_resolves_ids_for_any_tool(redis_url, raw_redis):
    trace_id, event, call = a_trace(raw_redis)
    bus = lightbus.create(redis_url=redis_url)
    reader = lightbus.TraceReader(bus)
    try:
        message = await reader.resolve(event[-10:])
        assert (message.kind, message.id, message.record.record) == ("message", event,
                                                                     "event.fired")  # fmt: skip
        found = await reader.resolve(trace_id[:8], ["trace"])
        assert (found.kind, found.id, found.record) == ("trace", trace_id, None)
        with pytest.raises(UnknownId):
            await reader.resolve(event[-10:], ["trace"])
        with pytest.raises(AmbiguousId) as caught:
            await reader.resolve(event[:4])  # the time at the start of every id
        assert {c[1] for c in caught.value.candidates} >= {event, call}
    finally:
        await bus.client.close()
