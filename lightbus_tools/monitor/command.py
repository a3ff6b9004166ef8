"""``lightbus monitor``: parse the options, then start the Textual app.

Importing this module (for ``lightbus monitor --help``) loads neither textual nor
redis-py; the app is imported only when the command runs.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from lightbus_tools.timespec import EXAMPLES, parse_time

DEFAULT_SINCE = "15m"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``lightbus monitor``."""
    from lightbus_tools.monitor.model import DEFAULT_MAX_RECORDS

    parser.add_argument(
        "--since",
        type=_since,
        default=DEFAULT_SINCE,
        metavar="TIME",
        help=f"start with the records written since TIME ({EXAMPLES}; 'now' for none; "
        f"default {DEFAULT_SINCE})",
    )
    parser.add_argument(
        "--max-records",
        type=_max_records,
        default=DEFAULT_MAX_RECORDS,
        metavar="N",
        help=f"keep at most N records for the live feed (default {DEFAULT_MAX_RECORDS:,})",
    )
    parser.add_argument(
        "--readonly",
        action="store_true",
        help="offer no action that changes the bus (no replay, redrive or purge)",
    )
    parser.add_argument("--redis-url", help="the Redis to watch (default: from settings)")
    parser.add_argument("--prefix", help="the bus's key prefix (default: from settings)")


def main(args: argparse.Namespace) -> int:
    settings: dict[str, Any] = {}
    if args.redis_url:
        settings["redis_url"] = args.redis_url
    if args.prefix:
        settings["prefix"] = args.prefix
    from lightbus_tools.monitor.app import MonitorApp
    from lightbus_tools.monitor.model import MonitorModel, Options
    from lightbus_tools.monitor.source import Source

    source = Source(**settings)
    options = Options(
        max_records=args.max_records,
        max_attempts=source.max_attempts,
        ack_timeout=source.ack_timeout,
        readonly=args.readonly,
        where=source.where,
    )
    since_ms = None if args.since is None else int(args.since.timestamp() * 1000)
    MonitorApp(source, MonitorModel(options), since_ms=since_ms, freeze_gc=True).run()
    return 0


def _since(text: str) -> datetime | None:
    """``now`` (no history) or a time; argparse reports a bad one and exits with 2."""
    if text.strip().lower() == "now":
        return None
    return parse_time(text)


def _max_records(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value
