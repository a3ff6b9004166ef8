"""``lightbus embedded``: status, start and stop of the project's embedded Redis.

``start`` leaves a server running for the whole session (as ``--keep`` does); ``stop``
stops it whoever uses it; ``status`` (the default) says whether one runs and where.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.console import Console

from lightbus import embedded
from lightbus_tools import devsession


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action",
        nargs="?",
        choices=("status", "start", "stop"),
        default="status",
        help="status (default), start (kept until stopped) or stop",
    )


def main(args: argparse.Namespace) -> int:
    console = Console(highlight=False, soft_wrap=True)
    directory = Path.cwd()
    if args.action == "start":
        lease = devsession.acquire(directory, keep=True)
        devsession.announce(console, lease)
        lease.release()
        return 0
    if args.action == "stop":
        stopped = embedded.stop(directory)
        if stopped is None:
            console.print("lightbus: no embedded Redis runs in this directory")
            return 0
        console.print(f"lightbus: stopped the embedded Redis at {stopped.url}")
        return 0
    state = embedded.read_state(directory)
    if state is None:
        console.print("lightbus: no embedded Redis runs in this directory")
        return 1
    users = ", ".join(str(u) for u in state.users) or "none"
    console.print(
        f"lightbus: embedded {state.server} at {state.url}, pid {state.pid}, up "
        f"{time.time() - state.started_at:.0f}s; used by pids {users}"
        + ("; kept" if state.keep else "")
    )
    return 0
