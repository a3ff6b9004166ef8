"""The code in the trace pages runs as written: the snippet files the pages include."""

from __future__ import annotations

import asyncio
import json
import os
import runpy
import subprocess
import sys
from typing import Any

from conftest import ROOT
from test_trace_reader import put, record

import lightbus
from lightbus import ids

SNIPPETS = ROOT / "docs" / "snippets"


def snippet(name: str) -> dict[str, Any]:
    """The namespace of docs/snippets/NAME, run as a module (not as __main__)."""
    return runpy.run_path(str(SNIPPETS / name))


async def test_the_reader_example_runs(redis_url, raw_redis, capsys):
    namespace = snippet("trace_reader.py")
    tid = ids.trace_id()
    root = record("rpc.called", api="shop", name="place", trace_id=tid)
    event = record("event.fired", api="shop", name="placed", trace_id=tid, causation_id=root.id)
    failed = record(
        "event.failed",
        id=event.id,
        trace_id=tid,
        api="shop",
        name="placed",
        listener="audit",
        status="error",
        error_type="ValueError",
        error="audit is down",
    )
    put(raw_redis, root, event, failed)
    bus = lightbus.create(redis_url=redis_url)
    try:
        await namespace["recent_failures"](bus)
        await namespace["show_tree"](bus, event.id)
        await namespace["show_tree"](bus, ids.message_id())
    finally:
        await bus.client.close()
    assert capsys.readouterr().out.splitlines() == [
        "event.failed shop placed ValueError audit is down",
        "rpc shop.place ok []",
        "event shop.placed error ['audit']",
        "not in the trace stream",
    ]


def run_snippet(name: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SNIPPETS / name)],
        cwd=SNIPPETS, env={**os.environ, **env}, capture_output=True, text=True, timeout=30,
    )  # fmt: skip


def test_the_logging_setup_of_the_how_to_adds_the_trace():
    result = run_snippet("trace_logging.py")
    lines = result.stderr.splitlines()
    assert result.returncode == 0, result.stderr
    assert lines[0].endswith("INFO myapp: outside")
    assert lines[1].endswith("INFO myapp: inside [trace=4bf92f3577b34da6a3ce929d0e0e4736]")


async def test_the_followed_reader_prints_records_as_they_come(redis_url, raw_redis, capsys):
    bus = lightbus.create(redis_url=redis_url)
    watching = asyncio.create_task(snippet("trace_reader.py")["watch"](bus))
    printed = ""
    try:
        await asyncio.sleep(0.2)  # the reader is blocked in XREAD
        put(raw_redis, record("event.handled", api="shop", name="placed", status="ok"))
        put(raw_redis, record("event.handled", api="other", name="placed"))
        put(raw_redis, record("rpc.failed", api="shop", name="refund", status="error"))
        async with asyncio.timeout(10):
            while printed.count("\n") < 2:
                await asyncio.sleep(0.02)
                printed += capsys.readouterr().out
    finally:
        watching.cancel()
        await bus.client.close()
    assert printed.splitlines() == ["event.handled placed ok", "rpc.failed refund error"]


def test_the_json_formatter_of_the_how_to_carries_the_trace():
    result = run_snippet("json_logging.py")
    assert result.returncode == 0, result.stderr
    line = json.loads(result.stderr)
    assert line["message"] == "placing order o-1"
    assert line["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert line["message_id"] == ""


def test_a_thread_started_through_a_copied_context_keeps_the_trace():
    result = run_snippet("thread_context.py")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['4bf92f3577b34da6a3ce929d0e0e4736', None]"
