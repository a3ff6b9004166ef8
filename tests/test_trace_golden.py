"""The trace record format is pinned: a change to it must change this golden file,
``RECORD_VERSION`` and ``docs/reference/trace-stream.md`` together."""

from __future__ import annotations

import json
import re

from conftest import ROOT

from lightbus import trace
from lightbus.trace import RECORD_VERSION, TraceRecord

GOLDEN = ROOT / "tests" / "golden" / "trace_record.json"
DOC = ROOT / "docs" / "reference" / "trace-stream.md"

EVERY_FIELD = TraceRecord(
    record="event.failed",
    ts=1795890000123,
    id="019a9f0b5c7b7c3e8f1d2a3b4c5d6e7f",
    kind="event",
    api="shop",
    name="order_placed",
    trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
    span_id="00f067aa0ba902b7",
    parent_span_id="b7ad6b7169203331",
    causation_id="019a9f0b5c6a7d1e9a2b3c4d5e6f7a8b",
    service="sales",
    process="web-1",
    host="box",
    pid=4242,
    sent_at=1795890000100,
    deadline=1795890005100,
    reply_to="lightbus:reply:web-1:0123456789abcdef",
    replay_of="019a9f0a00007000800000000000abcd",
    schema="5d41402abc4b",
    listener="audit",
    handled_by="worker-2",
    attempt=2,
    queued_ms=1.25,
    duration_ms=3.5,
    status="error",
    error_type="ValueError",
    error="audit is down",
    traceback="Traceback (most recent call last):\n  ...\nValueError: audit is down\n",
    payload='{"order_id":"o-1","password":"***"}',
    truncated=True,
    redacted=True,
    detail={"reason": "SIGTERM"},
)


def test_a_record_with_every_field_encodes_exactly_as_the_golden_file():
    fields = EVERY_FIELD.to_fields()
    assert list(fields) == [trace.FIELD]
    golden = json.loads(GOLDEN.read_text())
    assert json.loads(fields[trace.FIELD]) == golden
    # Field order on the wire is pinned too.
    assert list(json.loads(fields[trace.FIELD])) == list(golden)


def test_the_golden_file_decodes_to_the_same_record():
    raw = json.dumps(json.loads(GOLDEN.read_text())).encode()
    decoded = TraceRecord.from_fields("1795890000124-0", {trace.FIELD.encode(): raw})
    assert decoded.v == RECORD_VERSION == 1
    assert decoded.stream_id == "1795890000124-0"
    decoded.stream_id = ""
    assert decoded == EVERY_FIELD


def test_defaults_are_left_out_on_the_wire():
    minimal = TraceRecord(record="worker.started", ts=5)
    assert json.loads(minimal.to_fields()[trace.FIELD]) == {
        "v": RECORD_VERSION,
        "record": "worker.started",
        "ts": 5,
    }


def test_the_reference_page_documents_every_field_and_step():
    text = DOC.read_text()
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", text, flags=re.M))
    wire_fields = set(TraceRecord.__struct_fields__) - {"stream_id"}
    assert wire_fields <= documented, wire_fields - documented
    for step in trace.STEPS:
        assert f"`{step}`" in text, step
    assert f"version {RECORD_VERSION}" in text.lower()
