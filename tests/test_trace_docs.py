"""The code in the trace pages runs as written."""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import ROOT
from test_trace_reader import put, record

import lightbus
from lightbus import ids

DOCS = ROOT / "docs"


def python_blocks(page: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (DOCS / page).read_text(), flags=re.S)


async def test_the_reader_example_runs(redis_url, raw_redis, capsys):
    namespace: dict[str, object] = {}
    exec(python_blocks("reference/trace-stream.md")[0], namespace)
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


def test_the_logging_setup_of_the_how_to_adds_the_trace(tmp_path):
    setup = python_blocks("how-to/join-logs-to-traces.md")[0]
    script = setup + (
        "\nlog = logging.getLogger('myapp')\n"
        "log.info('outside')\n"
        "with lightbus.start_trace('4bf92f3577b34da6a3ce929d0e0e4736'):\n"
        "    log.info('inside')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    lines = result.stderr.splitlines()
    assert result.returncode == 0, result.stderr
    assert lines[0].endswith("INFO myapp: outside")
    assert lines[1].endswith("INFO myapp: inside [trace=4bf92f3577b34da6a3ce929d0e0e4736]")
