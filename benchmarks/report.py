"""Turning samples into the figures the suite prints: rows with a ratio and a target.

Each :class:`Row` compares a baseline (the floor, or the bus with a feature off) with
the bus, gives the ratio the targets of DESIGN.md section 8 are stated in, and says
whether the target holds. The same rows go to the rich table and to the JSON file.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass
class Row:
    """One compared figure.

    ``baseline`` and ``bus`` are medians over the rounds. ``ratio`` is the median of the
    rounds' ``bus / baseline`` (``kind="ratio"``), or the median percentage the bus is
    worse than the baseline (``kind="cost"``: slower latency or lower rate), or just the
    bus figure against an absolute target (``kind="absolute"``).
    """

    workload: str
    unit: str
    baseline_label: str
    baseline: float
    bus_label: str
    bus: float
    kind: str
    ratio: float
    target: str = ""
    passed: bool | None = None
    rounds: int = 1


Figures = tuple[str, list[float]]


def paired(
    baseline: list[float], bus: list[float], measure: Callable[[float, float], float]
) -> float:
    """The median over rounds of ``measure(baseline, bus)``, each round with its own pair.

    Pairing by round keeps a load spike that hits one round out of the comparison; the
    sides ran back to back within a round.
    """
    return median([measure(a, b) for a, b in zip(baseline, bus, strict=True) if a and b])


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def ratio(
        self,
        workload: str,
        unit: str,
        baseline: Figures,
        bus: Figures,
        *,
        target: str = "",
        check: Callable[[float], bool] | None = None,
    ) -> Row:
        value = paired(baseline[1], bus[1], lambda a, b: b / a)
        return self._add(workload, unit, baseline, bus, "ratio", value, target, check)

    def cost(
        self,
        workload: str,
        unit: str,
        baseline: Figures,
        bus: Figures,
        *,
        higher_is_better: bool,
        target: str = "",
        check: Callable[[float], bool] | None = None,
    ) -> Row:
        if higher_is_better:
            value = paired(baseline[1], bus[1], lambda a, b: (a / b - 1) * 100)
        else:
            value = paired(baseline[1], bus[1], lambda a, b: (b / a - 1) * 100)
        return self._add(workload, unit, baseline, bus, "cost", value, target, check)

    def absolute(
        self,
        workload: str,
        unit: str,
        baseline: Figures,
        bus: Figures,
        *,
        target: str,
        check: Callable[[float], bool],
    ) -> Row:
        base = median(baseline[1])
        # A baseline of 0 (e.g. a model measured at 0 MB) has no ratio; the row's check
        # is on the absolute figure anyway.
        ratio = median(bus[1]) / base if base else 0.0
        row = self._add(workload, unit, baseline, bus, "absolute", ratio, target, None)
        row.passed = check(row.bus)
        return row

    def _add(
        self,
        workload: str,
        unit: str,
        baseline: Figures,
        bus: Figures,
        kind: str,
        value: float,
        target: str,
        check: Callable[[float], bool] | None,
    ) -> Row:
        row = Row(
            workload,
            unit,
            baseline[0],
            median(baseline[1]),
            bus[0],
            median(bus[1]),
            kind,
            value,
            target,
            rounds=len(bus[1]),
        )
        if check is not None:
            row.passed = check(value)
        self.rows.append(row)
        return row

    def to_json(self) -> str:
        return json.dumps({"meta": self.meta, "rows": [asdict(r) for r in self.rows]}, indent=2)

    def to_markdown(self) -> str:
        """The table as Markdown (for docs/explanation/performance.md)."""
        lines = [
            "| workload | baseline (median) | bus (median) | ratio | target |",
            "|---|---:|---:|---:|---|",
        ]
        for row in self.rows:
            ratio = f"{row.ratio:+.1f}%" if row.kind == "cost" else f"{row.ratio:.2f}x"
            verdict = row.target
            if row.passed is not None:
                verdict += " ok" if row.passed else " **missed**"
            lines.append(
                f"| {row.workload} | {_fmt(row.baseline)} {row.unit} ({row.baseline_label}) "
                f"| {_fmt(row.bus)} {row.unit} ({row.bus_label}) | {ratio} | {verdict} |"
            )
        return "\n".join(lines)

    @classmethod
    def from_json(cls, text: str) -> Report:
        data = json.loads(text)
        return cls(rows=[Row(**row) for row in data["rows"]], meta=data["meta"])

    def print(self, *, short: bool) -> None:
        from rich.console import Console
        from rich.table import Table

        table = Table(title="Lightbus against the raw redis-py floor (same run)")
        for column in ("workload", "baseline (median)", "bus (median)", "ratio", "target"):
            table.add_column(column, justify="left" if column == "workload" else "right")
        for row in self.rows:
            ratio = f"{row.ratio:+.1f}%" if row.kind == "cost" else f"{row.ratio:.2f}x"
            if short or row.passed is None:
                verdict = row.target
            else:
                verdict = f"{row.target} {'[green]ok' if row.passed else '[red]MISSED'}"
            table.add_row(
                row.workload,
                f"{_fmt(row.baseline)} {row.unit} [dim]({row.baseline_label})",
                f"{_fmt(row.bus)} {row.unit} [dim]({row.bus_label})",
                ratio,
                verdict,
            )
        console = Console(width=max(Console().width, 132))
        console.print(table)
        console.print(
            "[dim]ratio: median over rounds of each round's bus/baseline; cost: how much "
            "worse with the feature on (latency up or rate down)"
        )
        if short:
            console.print("[dim]--short: small counts, targets not judged")


def _fmt(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3f}"


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        load = os.getloadavg()
    except OSError:
        load = (0.0, 0.0, 0.0)
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "load_before": [round(x, 2) for x in load],
        "commit": _git_commit(),
    }


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
