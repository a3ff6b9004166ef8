"""Times given on the command line: ``10m``, ``2h``, ``1d``, ``90s`` ago, or an ISO time.

Used by ``lightbus inspect --since/--until`` (and any tool that takes a time). A bad
value raises ``argparse.ArgumentTypeError`` so argparse reports it and exits with 2.
"""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_AGO = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$")

EXAMPLES = "e.g. 30s, 10m, 2h, 1d, or an ISO time such as 2026-11-28T14:05:00Z"


def parse_time(text: str, *, now: datetime | None = None) -> datetime:
    """A point in time: a duration before ``now`` (``10m``) or an ISO 8601 time.

    An ISO time without a zone is local time. The result is timezone-aware.
    """
    value = text.strip()
    now = now or datetime.now(UTC)
    match = _AGO.match(value.lower())
    if match:
        amount, unit = float(match.group(1)), match.group(2)
        return now - timedelta(seconds=amount * _UNITS[unit])
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time or a duration ({EXAMPLES})"
        ) from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # naive: the local time of this machine
    return moment
