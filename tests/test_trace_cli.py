"""`lightbus inspect` and `lightbus trace` from a terminal, including bad input."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime

import pytest
from conftest import ROOT
from support import wait_until
from test_trace_reader import KEY, put, record

import lightbus
from lightbus import ids
from lightbus.cli import main as cli
from lightbus.trace import RECORD_VERSION

QUICKSTART = ROOT / "examples" / "quickstart"


@pytest.fixture
def env(monkeypatch, redis_url):
    monkeypatch.setenv("LIGHTBUS_REDIS_URL", redis_url)
    monkeypatch.setenv("COLUMNS", "220")
    return redis_url


def test_inspect_prints_a_table_of_matching_records(env, raw_redis, capsys):
    put(
        raw_redis,
        record("event.fired", api="shop", name="placed", service="sales"),
        record(
            "event.failed",
            api="shop",
            name="placed",
            listener="audit",
            status="error",
            error_type="ValueError",
            error="audit is down",
            duration_ms=3.25,
        ),
        record("rpc.called", api="stock", name="reserve"),
    )
    assert cli(["inspect", "--api", "shop"]) == 0
    out = capsys.readouterr().out
    assert "shop.placed" in out and "stock.reserve" not in out
    row = next(line for line in out.splitlines() if "event.failed" in line)
    for cell in ("audit", "error", "3.2 ms", "ValueError: audit is down"):
        assert cell in row, row
    assert cli(["inspect", "--api", "nothing"]) == 0
    assert "No trace records match." in capsys.readouterr().out


def test_inspect_json_is_one_object_per_line_with_every_field(env, raw_redis, capsys):
    written = [record("rpc.called", api="stock", name=str(n)) for n in range(5)]
    put(raw_redis, *written)
    assert cli(["inspect", "--json", "--limit", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    objects = [json.loads(line) for line in lines]
    assert [o["name"] for o in objects] == ["2", "3", "4"]
    assert objects[0]["id"] == written[2].id
    assert {"v", "record", "ts", "trace_id", "queued_ms", "error", "payload"} <= set(objects[0])


def test_inspect_since_takes_durations_and_iso_times(env, raw_redis, capsys):
    now = int(time.time() * 1000)
    put(raw_redis, record("event.fired", name="old"), at_ms=now - 3 * 3600 * 1000)
    put(raw_redis, record("event.fired", name="recent"), at_ms=now - 60 * 1000)
    assert cli(["inspect", "--json", "--since", "10m"]) == 0
    assert [json.loads(x)["name"] for x in capsys.readouterr().out.splitlines()] == ["recent"]
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now / 1000 - 4 * 3600))
    assert cli(["inspect", "--json", "--since", iso, "--until", "2h"]) == 0
    assert [json.loads(x)["name"] for x in capsys.readouterr().out.splitlines()] == ["old"]


@pytest.mark.parametrize("bad", ["yesterday", "10 minutes", "-5m", "2026-13-01"])
def test_inspect_refuses_a_malformed_since_with_exit_2(env, capsys, bad):
    with pytest.raises(SystemExit) as exit_info:
        cli(["inspect", f"--since={bad}"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --since" in err and "is not a time or a duration" in err
    assert "10m" in err  # says what would be accepted


def test_inspect_refuses_a_negative_limit(env, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli(["inspect", "--limit", "-1"])
    assert exit_info.value.code == 2
    assert "argument --limit" in capsys.readouterr().err


def test_inspect_warns_once_about_newer_records_and_carries_on(env, raw_redis, capsys):
    newer = record("event.fired", api="future")
    newer.v = RECORD_VERSION + 1
    put(raw_redis, newer, newer, record("event.fired", api="today"))
    raw_redis.xadd(KEY, {"something": "else"})
    assert cli(["inspect", "--json"]) == 0
    captured = capsys.readouterr()
    assert [json.loads(x)["api"] for x in captured.out.splitlines()] == ["today"]
    assert "skipped 2 records of a newer format" in captured.err


def run(worker_env, *args, **extra):
    return subprocess.run(
        [sys.executable, "-m", "lightbus", *args],
        env=worker_env(**extra),
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize(
    "args", [["inspect"], ["inspect", "--workers"], ["trace", "4bf92f3577b34da6a3ce929d0e0e4736"]]
)
def test_an_unreachable_redis_is_a_clear_error(worker_env, args):
    started = time.monotonic()
    result = run(
        worker_env,
        *args,
        LIGHTBUS_REDIS_URL="redis://127.0.0.1:1/0",
        LIGHTBUS_CONNECT_TIMEOUT="0.5",
    )
    assert result.returncode == 1
    assert (
        f"lightbus {args[0]}: error: Cannot reach Redis at redis://127.0.0.1:1/0" in result.stderr
    )
    assert "Traceback" not in result.stderr
    assert time.monotonic() - started < 15


def test_trace_of_an_unknown_id_says_so_and_exits_1(env, raw_redis, capsys):
    put(raw_redis, record("event.fired"))
    for unknown in (ids.message_id(), ids.trace_id()):
        assert cli(["trace", unknown]) == 1
        err = capsys.readouterr().err
        assert f"lightbus trace: error: No message or trace {unknown} in the trace stream" in err


def test_trace_refuses_something_that_is_not_an_id(env, capsys):
    assert cli(["trace", "order-17"]) == 2
    assert "'order-17' is not a message or trace id: ids are 32 hex digits (a unique start " in (
        capsys.readouterr().err
    )


def test_inspect_follow_prints_new_records_as_they_come(worker_env, raw_redis):
    proc = subprocess.Popen(
        [sys.executable, "-m", "lightbus", "inspect", "--follow", "--json", "--api", "live"],
        env=worker_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # The follower is connected once its XREAD shows up as a blocked client.
        wait_until(lambda: raw_redis.info("clients")["blocked_clients"] >= 1, timeout=15)
        put(raw_redis, record("event.fired", api="other"), record("event.fired", api="live"))
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert json.loads(line)["api"] == "live"
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_inspect_workers_lists_heartbeats(start_worker, worker_env):
    start_worker(QUICKSTART)
    result = run(worker_env, "inspect", "--workers", "--json")
    assert result.returncode == 0, result.stderr
    [worker] = [json.loads(line) for line in result.stdout.splitlines()]
    assert worker["apis"] == ["example"] and worker["alive"] is True
    assert worker["pid"] > 0 and worker["in_flight"] == 0
    assert worker["version"] == lightbus.__version__
    table = run(worker_env, "inspect", "--workers", COLUMNS="200")
    assert "example" in table.stdout and str(worker["pid"]) in table.stdout


def test_inspect_message_shows_every_record_of_one_message(env, raw_redis, capsys):
    wanted = ids.message_id()
    put(raw_redis, record("event.fired", id=wanted, api="shop"), record("event.fired"))
    put(raw_redis, record("event.handled", id=wanted, api="shop", listener="l"))
    assert cli(["inspect", "--json", "--message", wanted]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [(x["record"], x["id"]) for x in lines] == [
        ("event.fired", wanted),
        ("event.handled", wanted),
    ]
    unknown = ids.message_id()
    assert cli(["inspect", "--message", unknown]) == 1
    assert f"error: No message {unknown} in the trace stream" in capsys.readouterr().err
    assert cli(["inspect", "--message", "nope"]) == 2
    assert "--message: 'nope' is not a message id" in capsys.readouterr().err


def test_inspect_refuses_options_that_do_not_go_together(env, capsys):
    assert cli(["inspect", "--follow", "--until", "1h"]) == 2
    assert "--until cannot be used with --follow" in capsys.readouterr().err
    assert cli(["inspect", "--workers", "--follow"]) == 2
    assert "--workers lists workers" in capsys.readouterr().err


def test_trace_tree_marks_the_asked_message_and_shows_retries(env, raw_redis, capsys):
    tid = ids.trace_id()
    root = record("rpc.called", api="shop", name="place", trace_id=tid, service="web")
    event = record(
        "event.fired",
        api="shop",
        name="placed",
        trace_id=tid,
        causation_id=root.id,
        parent_span_id=root.span_id,
    )
    failure = dict(error_type="OSError", error="smtp down", traceback="Traceback...\nOSError")
    put(
        raw_redis,
        root,
        event,
        record(
            "event.failed",
            id=event.id,
            trace_id=tid,
            api="shop",
            name="placed",
            listener="mail",
            attempt=1,
            status="error",
            **failure,
        ),
        record(
            "event.handled",
            id=event.id,
            trace_id=tid,
            api="shop",
            name="placed",
            listener="mail",
            attempt=2,
            status="ok",
            duration_ms=4.0,
            handled_by="w-1",
        ),
    )
    assert cli(["trace", event.id, "--tracebacks"]) == 0
    out = capsys.readouterr().out
    placed = next(line for line in out.splitlines() if "event shop.placed" in line)
    assert placed.rstrip().endswith("◀")
    assert "listener mail: ok (attempt 2)" in out and "on w-1" in out
    assert "rpc shop.place ok  from web" in out
    assert "(2 messages)" in out


@pytest.mark.parametrize(("option", "value"), [("--status", "failed"), ("--step", "event.broke")])
def test_inspect_refuses_an_unknown_status_or_step(env, capsys, option, value):
    with pytest.raises(SystemExit) as exit_info:
        cli(["inspect", option, value])
    assert exit_info.value.code == 2
    assert f"argument {option}: invalid choice: '{value}'" in capsys.readouterr().err


@pytest.mark.parametrize("width", [80, 120])
def test_inspect_table_stays_readable_on_a_narrow_terminal(env, raw_redis, capsys, monkeypatch,
                                                            width):  # fmt: skip
    monkeypatch.setenv("COLUMNS", str(width))  # what rich's Console(width=...) gets
    written = [
        record("rpc.called", api="shop", name="place_order", service="frontend"),
        record("event.fired", api="shop", name="order_placed", service="sales"),
        record("event.failed", api="shop", name="order_placed", listener="audit",
               status="error", queued_ms=9.0, duration_ms=3.6, service="sales",
               error_type="ValueError", error="audit is down: the database is unreachable"),
        record("event.handled", api="shop", name="order_placed", listener="reserve_stock",
               status="ok", queued_ms=8.0, duration_ms=41.2, service="sales"),
        record("rpc.handled", api="warranty", name="check_serial", status="ok",
               queued_ms=14.0, duration_ms=25.7, service="warranty"),
    ]  # fmt: skip
    put(raw_redis, *written)
    assert cli(["inspect"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert all(len(line) <= width for line in lines)
    header = lines[0]
    for title in ("time", "step", "api.name", "message"):
        assert title in header
    rows = [line for line in lines if line[:2].isdigit()]  # the first line of each record
    assert len(rows) == len(written)  # one line each, but for the error
    for row, rec in zip(rows, written, strict=True):
        # Each key value whole, on the record's own line: not cut, not folded.
        for value in (time_of(rec), rec.record, f"{rec.api}.{rec.name}", rec.id[-12:]):
            assert value in row, (value, row)
    words = " ".join(lines).split()
    assert "ValueError:" in words and "unreachable" in words  # the error, folded if need be
    if width == 120:
        assert "listener" in header and "status" in header


def time_of(rec) -> str:
    return datetime.fromtimestamp(rec.ts / 1000).strftime("%H:%M:%S.%f")[:-3]
