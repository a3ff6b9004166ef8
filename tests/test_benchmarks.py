"""The benchmark suite's short mode, as CI runs it: it completes and reports every ratio."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from typing import Any

import pytest
from conftest import ROOT

WORKLOADS = (
    "1. RPC round trip p50",
    "1. RPC round trip p99 (all calls)",
    "2. events, sequential fires",
    "3. events, batch fires (fire_many)",
    "3. events, concurrent fires",
    "3. events, batch (both)",
    "4. tracing cost: RPC p50",
    "4. tracing cost: events sequential",
    "4. tracing cost: events concurrent",
    "4. tracing cost: events batch",
    "5. validation cost: RPC p50, 10 fields",
    "6. trace reader",
    "7. import lightbus",
    "7. import lightbus + create()",
    "7. worker start-up to first call",
    "8. monitor intake at 5,000 rec/s",
    "8. monitor event loop busy",
    "8. monitor memory, 10,000 records kept",
)


def _run(env: dict[str, str], module: str, *args: str, timeout: float) -> Any:
    """``python -m module args`` from the project's root; fails the test on a non-zero exit."""
    result = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.mark.timeout(300)
def test_short_run_completes_and_reports_every_ratio(tmp_path, worker_env):
    out = tmp_path / "bench.json"
    result = _run(worker_env(), "benchmarks", "--short", "--json", str(out), timeout=280)
    report = json.loads(out.read_text())
    rows = {row["workload"]: row for row in report["rows"]}
    assert set(WORKLOADS) <= set(rows)
    for name in WORKLOADS:
        row = rows[name]
        for figure in ("baseline", "bus", "ratio"):
            assert math.isfinite(row[figure]), (name, figure, row)
        assert row["bus"] > 0, row
        # An absolute row's baseline may be 0 (the monitor's process can grow by 0 MB).
        assert row["baseline"] > 0 or row["kind"] == "absolute", row
    assert report["meta"]["short"] is True
    assert report["meta"]["machine"]["cpus"] >= 1
    for name in WORKLOADS:  # the table names every workload too
        assert name[:20] in result.stdout
    markdown = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--markdown", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert markdown.returncode == 0, markdown.stderr
    table = markdown.stdout.splitlines()
    assert table[0].startswith("| workload |")
    assert [line.split(" | ")[0].lstrip("| ") for line in table[2:]] == [
        row["workload"] for row in report["rows"]
    ]


def test_bench_refuses_unknown_options():
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--fast"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "unrecognized arguments: --fast" in result.stderr


@pytest.mark.timeout(200)
def test_the_tracing_cost_breakdown_runs_and_names_every_side(worker_env):
    args = ("--rounds", "2", "--calls", "10", "--events", "500")
    result = _run(worker_env(), "benchmarks.tracecost", *args, timeout=180)
    for side in ("neither", "caller only", "worker only", "both"):
        assert f"  {side} " in result.stdout
    assert "tracing on   producer" in result.stdout
    assert "tracing off  producer" in result.stdout
