"""Which Redis a development command uses, and the embedded default.

Development commands (``lightbus dev``, ``lightbus run --reload``, ``lightbus shell``, and
any tool that opts in through :func:`development_redis`) decide in this order:

1. ``--embedded`` or ``redis_url = "embedded"`` (``LIGHTBUS_REDIS_URL=embedded``): the
   project's embedded server, started if none is running.
2. Any other ``redis_url`` set in the environment or the config file: that server, and
   only that one. If it cannot be reached the command fails; it never falls back.
3. Nothing set: the project's embedded server if one is already running (its state
   file is in ``.lightbus/``), else the default ``redis://localhost:6379/0`` if something
   listens there, else a new embedded server.

The chosen URL is put in ``LIGHTBUS_REDIS_URL`` for the rest of the command and its child
processes, and the command says which server it uses and where.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from rich.console import Console

from lightbus import BusConnectionError, Settings, embedded
from lightbus.embedded import DEFAULT_REDIS_URL, EMBEDDED, NoServerBinary, redact_url


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--embedded`` and ``--keep``, shared by every development command."""
    parser.add_argument(
        "--embedded",
        action="store_true",
        help="use the project's embedded Redis (start it if needed), whatever the default",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="leave the embedded Redis running after this command ends "
        "(`lightbus embedded stop` stops it)",
    )


def reachable(url: str, timeout: float = 0.5) -> bool:
    """True if something accepts a connection at the URL's address."""
    parts = urlsplit(url)
    try:
        if parts.scheme == "unix":
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(timeout)
                sock.connect(parts.path)
        else:
            address = (parts.hostname or "localhost", parts.port or 6379)
            with socket.create_connection(address, timeout=timeout):
                pass
    except (OSError, ValueError):
        return False
    return True


def configured_url(directory: Path) -> tuple[str | None, str]:
    """The ``redis_url`` set by the environment or the config file, and where it came from."""
    from_env = Settings.from_env()
    if "redis_url" in from_env:
        return str(from_env["redis_url"]), "LIGHTBUS_REDIS_URL"
    from_file = Settings.from_file(directory)
    if "redis_url" in from_file:
        return str(from_file["redis_url"]), "the config file"
    return None, ""


@contextlib.contextmanager
def development_redis(
    console: Console,
    *,
    use_embedded: bool = False,
    keep: bool = False,
    directory: Path | None = None,
) -> Iterator[str]:
    """Choose the Redis of a development command (see the module docstring); yield its URL."""
    directory = (directory or Path.cwd()).resolve()
    explicit, source = configured_url(directory)
    lease: embedded.Lease | None = None
    if use_embedded or explicit == EMBEDDED:
        lease = acquire(directory, keep)
    elif explicit:
        if not reachable(explicit):
            raise BusConnectionError(
                f"Cannot reach Redis at {redact_url(explicit)} (set by {source}). An embedded "
                f"server is only started for the default URL, for LIGHTBUS_REDIS_URL=embedded "
                f"or with --embedded.",
                url=redact_url(explicit),
            )
    elif embedded.read_state(directory) is not None or not reachable(DEFAULT_REDIS_URL):
        lease = acquire(directory, keep)
    url = lease.url if lease is not None else (explicit or DEFAULT_REDIS_URL)
    if lease is None:
        console.print(f"lightbus: using Redis at {redact_url(url)}", highlight=False)
    else:
        announce(console, lease)
    previous = os.environ.get("LIGHTBUS_REDIS_URL")
    os.environ["LIGHTBUS_REDIS_URL"] = url
    try:
        yield url
    finally:
        if previous is None:
            os.environ.pop("LIGHTBUS_REDIS_URL", None)
        else:
            os.environ["LIGHTBUS_REDIS_URL"] = previous
        if lease is not None:
            lease.release()


def acquire(directory: Path, keep: bool) -> embedded.Lease:
    try:
        return embedded.acquire(directory, keep=keep)
    except (embedded.EmbeddedError, NoServerBinary, OSError) as exc:
        raise BusConnectionError(
            f"Could not start the embedded Redis in {directory}: {exc}",
            url=DEFAULT_REDIS_URL,
        ) from None


def announce(console: Console, lease: embedded.Lease) -> None:
    state = lease.state
    where = os.path.relpath(embedded.state_path(lease.directory))
    verb = "started" if lease.started else "joined"
    if state.keep:
        lifetime = "kept running after exit; `lightbus embedded stop` stops it"
    else:
        lifetime = "stops when the last development command using it ends"
    console.print(
        f"lightbus: embedded Redis in use ({verb}): {state.server} at {state.url}, "
        f"pid {state.pid}; state file {where}; {lifetime}",
        highlight=False,
        soft_wrap=True,
    )
