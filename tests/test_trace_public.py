"""The trace surface is public (import hygiene is checked in test_public_api.py)."""

from __future__ import annotations

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


def test_a_record_read_from_the_stream_writes_back_without_its_stream_id():
    record = TraceRecord(record="event.fired", ts=1, stream_id="5-0")
    assert b"stream_id" not in record.to_fields()["r"]
    assert record.stream_id == "5-0"
