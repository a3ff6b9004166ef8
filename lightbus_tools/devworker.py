"""``lightbus run --reload``: a worker restarted in a fresh process when a file changes.

A supervisor (this process) runs the worker as a child process and watches the project
with watchfiles. On a change, debounced, it sends the child SIGTERM: the worker stops
reading, lets in-flight handlers finish within ``shutdown_grace`` and exits; after that
grace (plus a margin) the child is killed. Then a new child starts, with the same
``LIGHTBUS_PROCESS_NAME``, so the consumer groups see the same consumer and its unacked
events come back at once; the new worker writes a ``worker.reloaded`` record (with its
own service and process) when it starts.

A bus module that fails to import is shown as a rich traceback and the supervisor waits
for the next change instead of restarting in a loop. The child runs in its own session,
so a Ctrl-C at the terminal reaches only the supervisor, which stops the child once,
gracefully; a second Ctrl-C kills it.

Run as ``python -m lightbus_tools.devworker MODULE`` this module is the child.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import fnmatch
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.traceback import Traceback
from watchfiles import Change, watch

from lightbus import BusModuleError, Settings
from lightbus.workers import HOST
from lightbus_tools import devsession

IMPORT_FAILED = 3
CONFIG_FILES = frozenset({"lightbus.toml", "pyproject.toml"})
IGNORED_DIRS = frozenset(
    {".git", ".hg", ".svn", ".lightbus", "__pycache__", ".venv", "venv", ".nox", ".tox",
     ".mypy_cache", ".ruff_cache", ".pytest_cache", "node_modules", "site", "build", "dist"}
)  # fmt: skip
KILL_MARGIN = 5.0


def main(args: argparse.Namespace) -> int:
    """``lightbus run --reload`` (run_command dispatches here)."""
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    with devsession.development_redis(
        console, use_embedded=getattr(args, "embedded", False), keep=getattr(args, "keep", False)
    ):
        supervisor = Supervisor.from_args(args, console)
        return supervisor.run()


class Supervisor:
    """Runs the worker child and restarts it on changes."""

    def __init__(
        self,
        module: str,
        console: Console,
        *,
        watch_paths: Iterable[str] = (),
        ignore: Iterable[str] = (),
        debounce_ms: int = 200,
        log_level: str = "INFO",
    ) -> None:
        self.module = module
        self.console = console
        self.root = Path.cwd()
        self.explicit = [Path(p).resolve() for p in watch_paths]
        self.paths = self.explicit or [self.root]
        self.ignore = list(ignore)
        self.debounce_ms = debounce_ms
        self.log_level = log_level
        os.environ.setdefault("LIGHTBUS_PROCESS_NAME", f"{HOST}-dev-{os.getpid()}")
        self.settings = Settings.resolve()
        self.stop_event = threading.Event()
        self.child: subprocess.Popen[bytes] | None = None
        self.reloads = 0
        self._waiting_reported = False
        self._signals = 0

    @classmethod
    def from_args(cls, args: argparse.Namespace, console: Console) -> Supervisor:
        return cls(
            args.module or Settings.resolve().module,
            console,
            watch_paths=args.watch,
            ignore=args.ignore,
            debounce_ms=getattr(args, "debounce", 200),
            log_level=args.log_level,
        )

    # ------------------------------------------------------------ files

    def wanted(self, change: Change, path: str) -> bool:
        """The watch filter: Python and config files, minus ignored globs and folders."""
        file = Path(path)
        if IGNORED_DIRS.intersection(file.parts):
            return False
        try:
            relative = str(file.relative_to(self.root))
        except ValueError:
            relative = path
        if any(fnmatch.fnmatch(relative, g) or fnmatch.fnmatch(file.name, g) for g in self.ignore):
            return False
        if file in self.explicit:
            return True
        return file.suffix == ".py" or file.name in CONFIG_FILES

    # ------------------------------------------------------------ the child

    def start(self, reloaded: dict[str, Any] | None = None) -> None:
        """Start the worker child; ``reloaded`` is the detail of its ``worker.reloaded``
        record, which the child writes itself: only it knows its service."""
        extra = [json.dumps(reloaded)] if reloaded is not None else []
        self.child = subprocess.Popen(
            [sys.executable, "-m", "lightbus_tools.devworker", self.module, self.log_level,
             *extra],
            env=_child_env(),
            preexec_fn=_child_setup,
        )  # fmt: skip
        self._waiting_reported = False

    def stop_child(self, grace: float | None = None) -> None:
        child = self.child
        if child is None:
            return
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
            limit = self.settings.shutdown_grace + KILL_MARGIN if grace is None else grace
            try:
                child.wait(limit)
            except subprocess.TimeoutExpired:
                self.console.print(f"lightbus: worker still running after {limit:g}s, killing it")
                child.kill()
                child.wait(5)
        self.child = None

    def check_child(self) -> None:
        """Report a child that exited by itself; the watcher then waits for a change."""
        child = self.child
        if child is None or self._waiting_reported or child.poll() is None:
            return
        self._waiting_reported = True
        if child.returncode == IMPORT_FAILED:
            what = f"the bus module {self.module!r} failed to import"
        else:
            what = f"the worker exited with code {child.returncode}"
        self.console.print(f"lightbus: {what}; waiting for a change to restart it")

    def reload(self, changes: set[tuple[Change, str]]) -> None:
        changed = sorted({os.path.relpath(path, self.root) for _, path in changes})
        shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if changed[5:] else "")
        self.console.print(f"lightbus: {shown} changed, reloading the worker")
        previous = self.child.pid if self.child is not None else 0
        self.stop_child()
        self.reloads += 1
        self.start(
            {
                "changed": changed[:20],
                "previous_pid": previous,
                "reloads": self.reloads,
                "module": self.module,
            }
        )

    # ------------------------------------------------------------ the loop

    def _on_signal(self, signum: int, frame: object) -> None:
        self._signals += 1
        if self._signals > 1 and self.child is not None:
            self.child.kill()  # a second Ctrl-C: do not wait for handlers
        self.stop_event.set()

    def run(self) -> int:
        """Start the worker and restart it on changes until a signal or ``stop_event``."""
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        watched = ", ".join(os.path.relpath(p, self.root) for p in self.paths)
        self.console.print(
            f"lightbus: reloading worker for {self.module!r} as process "
            f"{self.settings.process_name}; watching {watched}"
        )
        try:
            self.start()
            for changes in watch(
                *self.paths,
                watch_filter=self.wanted,
                debounce=self.debounce_ms,
                step=50,
                stop_event=self.stop_event,
                rust_timeout=250,
                yield_on_timeout=True,
                raise_interrupt=False,
            ):
                if changes:
                    self.reload(changes)
                else:
                    self.check_child()
        finally:
            self.stop_child()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 0


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    # The child must import this very lightbus_tools, whichever checkout the caller uses.
    here = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.getcwd(), here, env.get("PYTHONPATH")]))
    return env


# Sent to the child when the supervisor dies. Not SIGTERM: Linux delivers the death signal
# once per thread of the dying parent, and a worker takes a second SIGTERM as "exit now".
ORPHANED = signal.SIGUSR1


def _child_setup() -> None:  # pragma: no cover - runs in the child before exec
    os.setsid()  # Ctrl-C in the terminal reaches the supervisor only
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, ORPHANED)  # PR_SET_PDEATHSIG


# ------------------------------------------------------------------ the child process


def run_child(module: str, log_level: str, reloaded: dict[str, Any] | None = None) -> int:
    """Import the bus module and serve it; a failed import is shown, not crash-looped."""
    from lightbus.workers import Worker, import_bus, user_frames

    logging.basicConfig(
        level=log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        bus = import_bus(module)
    except BusModuleError as exc:
        console = Console(stderr=True, soft_wrap=True, highlight=False)
        cause = exc.__cause__  # None when the module is not there at all
        if cause is not None:
            tb = user_frames(cause.__traceback__)
            console.print(Traceback.from_exception(type(cause), cause, tb, max_frames=20))
        console.print(f"[bold red]lightbus: {exc}[/]")
        return IMPORT_FAILED

    def orphaned() -> None:
        # The supervisor was killed: stop gracefully, once, but surely. Its embedded Redis
        # is likely gone too, and a stop that cannot reach Redis may otherwise take long.
        if bus.client.stop_reason != "supervisor gone":
            bus.client.request_stop("supervisor gone")
            grace = bus.client.settings.shutdown_grace + 1.0
            asyncio.get_running_loop().call_later(grace, os._exit, 1)

    async def serve() -> int:
        asyncio.get_running_loop().add_signal_handler(ORPHANED, orphaned)
        return await Worker(bus.client, reloaded=reloaded).run()

    return asyncio.run(serve())


if __name__ == "__main__":
    sys.exit(
        run_child(
            sys.argv[1],
            sys.argv[2] if len(sys.argv) > 2 else "INFO",
            json.loads(sys.argv[3]) if len(sys.argv) > 3 else None,
        )
    )
