"""The Redis the company runs on: the project's embedded server of the development loop
(:mod:`lightbus.embedded`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lightbus import embedded as _embedded


@dataclass(frozen=True)
class Server:
    url: str
    description: str


@contextlib.contextmanager
def embedded_redis(directory: Path, *, keep: bool = False) -> Iterator[Server]:
    """The embedded server of ``directory`` (started if none runs), while the block runs."""
    lease = _embedded.acquire(directory, keep=keep)
    state = lease.state
    where = os.path.relpath(_embedded.state_path(lease.directory))
    verb = "started" if lease.started else "joined"
    until = "kept after exit: `lightbus embedded stop` stops it" if state.keep else "stops on exit"
    try:
        yield Server(
            url=lease.url,
            description=f"{state.server} at {lease.url} ({verb}; state file {where}; {until})",
        )
    finally:
        lease.release()
