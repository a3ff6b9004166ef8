"""``python -m benchmarks [--short] [--json FILE]``: run the suite, print the table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks.report import Report
from benchmarks.suite import Counts, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Each workload against this bus and the raw redis-py floor, as ratios.",
    )
    parser.add_argument(
        "--short", action="store_true", help="small counts and no verdicts (a check for CI)"
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the rows as JSON")
    parser.add_argument("--rounds", type=int, help="override the number of alternating rounds")
    parser.add_argument(
        "--markdown",
        type=Path,
        metavar="JSON",
        help="print the table of an earlier --json run as Markdown, and run nothing",
    )
    args = parser.parse_args(argv)
    if args.markdown:
        print(Report.from_json(args.markdown.read_text()).to_markdown())
        return 0
    counts = Counts.short() if args.short else Counts.full()
    if args.rounds:
        counts = Counts(**{**counts.__dict__, "rounds": args.rounds})

    def log(text: str) -> None:
        print(f"bench: {text}", file=sys.stderr, flush=True)

    report = run(counts, short=args.short, log=log)
    report.print(short=args.short)
    if args.json:
        args.json.write_text(report.to_json() + "\n")
        log(f"wrote {args.json}")
    return 0
