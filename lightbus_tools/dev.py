"""``lightbus dev``: the whole development loop in one terminal.

It chooses the Redis as every development command does (the embedded server when
needed, see :mod:`lightbus_tools.devsession`), runs the reloading worker for the
project's bus module (:mod:`lightbus_tools.devworker`) and prints the live trace feed
(:mod:`lightbus_tools.feed`) beside the worker's own output. Ctrl-C stops it all;
``--duration`` stops it after that many seconds.
"""

from __future__ import annotations

import argparse
import os
import threading

from rich.console import Console

from lightbus import Settings
from lightbus_tools import devsession
from lightbus_tools.devworker import Supervisor
from lightbus_tools.feed import TraceFeed


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bus",
        dest="module",
        metavar="MODULE",
        help="the bus module to run (default: LIGHTBUS_MODULE or 'bus')",
    )
    parser.add_argument(
        "--watch",
        action="append",
        default=[],
        metavar="PATH",
        help="a path to watch (repeatable; default: the current directory)",
    )
    parser.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="GLOB",
        help="a glob of paths not to watch (repeatable)",
    )
    parser.add_argument(
        "--debounce", type=int, default=200, metavar="MS", help="quiet time before a reload"
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=0,
        metavar="SECONDS",
        help="stop after this many seconds (default: run until Ctrl-C)",
    )
    parser.add_argument(
        "--log-level",
        default=os.environ.get("LIGHTBUS_LOG_LEVEL", "WARNING"),
        help="the worker's logging level (default WARNING: the feed shows the steps)",
    )
    devsession.add_arguments(parser)


def main(args: argparse.Namespace) -> int:
    console = Console(highlight=False, soft_wrap=True)
    with devsession.development_redis(console, use_embedded=args.embedded, keep=args.keep) as url:
        settings = Settings.resolve()
        supervisor = Supervisor(
            args.module or settings.module,
            console,
            watch_paths=args.watch,
            ignore=args.ignore,
            debounce_ms=args.debounce,
            log_level=args.log_level,
        )
        feed = TraceFeed(url, console, prefix=settings.prefix).start()
        timer = None
        if args.duration > 0:
            timer = threading.Timer(args.duration, supervisor.stop_event.set)
            timer.daemon = True
            timer.start()
        console.print(
            "lightbus: live trace feed below; `lightbus shell` in another terminal of this "
            "folder gives a prompt on this bus; Ctrl-C stops",
            style="dim",
        )
        try:
            return supervisor.run()
        finally:
            if timer is not None:
                timer.cancel()
            feed.stop()
