"""The trace surface is public, sorted, and costs `import lightbus` nothing of the tools."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT

import lightbus
from lightbus.trace import TraceRecord

TRACE_NAMES = {
    "Handling",
    "TraceContext",
    "TraceFilter",
    "TraceLogFilter",
    "TraceNode",
    "TraceReader",
    "TraceRecord",
    "build_tree",
    "current_trace",
    "read_trace",
    "start_trace",
}


def test_trace_names_are_exported_and_all_is_sorted():
    assert lightbus.__all__ == sorted(lightbus.__all__)
    assert set(lightbus.__all__) >= TRACE_NAMES
    for name in lightbus.__all__:
        assert hasattr(lightbus, name), name


def test_importing_lightbus_loads_no_tool_or_ui_module():
    code = (
        "import sys, lightbus; "
        "print(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('rich', 'textual', 'watchfiles', 'lightbus_tools')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_a_record_read_from_the_stream_writes_back_without_its_stream_id():
    record = TraceRecord(record="event.fired", ts=1, stream_id="5-0")
    assert b"stream_id" not in record.to_fields()["r"]
    assert record.stream_id == "5-0"
