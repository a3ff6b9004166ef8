"""`lightbus shell`: `bus` ready, APIs listed, completion, blocking calls at the prompt."""

from __future__ import annotations

import contextlib
import os
import pty
import select
import subprocess
import sys
import time

import pytest
from conftest import ROOT

import lightbus
from lightbus_tools.shell import ShellBus, live_schemas

QUICKSTART = ROOT / "examples" / "quickstart"

OTHER_API = """
import lightbus
from lightbus import Api, Event


class StockApi(Api):
    low = Event(parameters=("sku",))

    class Meta:
        name = "stock"

    def level(self, sku: str) -> int:
        return 7


bus = lightbus.create()
bus.client.register_api(StockApi())
"""


def test_shell_lists_apis_and_calls_an_rpc(start_worker, worker_env):
    start_worker(QUICKSTART)
    session = (
        "print(bus.example.hello_world())\n"
        "sent = bus.example.my_event.fire()\n"
        "print(len(sent.id))\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "lightbus", "shell", "--plain"],
        cwd=QUICKSTART, env=worker_env(), input=session, capture_output=True, text=True,
        timeout=30,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Hello world" in result.stdout and "32" in result.stdout
    assert "example" in result.stderr and "hello_world" in result.stderr
    assert "my_event" in result.stderr and "local + live" in result.stderr
    assert "`bus` is ready" in result.stderr


def test_shell_without_a_bus_module_still_gives_a_bus(start_worker, worker_env, tmp_path):
    start_worker(QUICKSTART)
    result = subprocess.run(
        [sys.executable, "-m", "lightbus", "shell", "--plain"],
        cwd=tmp_path, env=worker_env(), input="print(bus.example.hello_world())\n",
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Cannot find the bus module 'bus'" in result.stderr
    assert "example" in result.stderr and " live" in result.stderr  # listed from the registry
    assert "Hello world" in result.stdout


def test_tab_completes_bus_api_and_name_in_a_terminal(start_worker, worker_env):
    start_worker(QUICKSTART)
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child becomes the shell
        os.chdir(QUICKSTART)
        os.execve(
            sys.executable, [sys.executable, "-m", "lightbus", "shell", "--plain"], worker_env()
        )
    term = Terminal(fd)
    try:
        assert b"APIs on the bus" in term.expect(b">>> ")
        os.write(fd, b"bus.exa\t")
        term.expect(b"bus.example")
        os.write(fd, b".hel\t")  # an API completes without "(": the dot follows
        term.expect(b"hello_world(")
        os.write(fd, b")\n")
        term.expect(b"'Hello world'")
        term.expect(b">>> ")  # Ctrl-D typed before the prompt reads may be lost
        os.write(fd, b"\x04")  # Ctrl-D
        status = wait_exit(pid, fd)
    finally:
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0


class Terminal:
    """Reads a pseudo-terminal; :meth:`expect` consumes output up to a marker."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""

    def expect(self, wanted: bytes, timeout: float = 15.0) -> bytes:
        deadline = time.monotonic() + timeout
        while wanted not in self.buffer:
            left = deadline - time.monotonic()
            assert left > 0, f"{wanted!r} not seen in {self.buffer.decode(errors='replace')!r}"
            if select.select([self.fd], [], [], left)[0]:
                self.buffer += os.read(self.fd, 4096)
        end = self.buffer.index(wanted) + len(wanted)
        seen, self.buffer = self.buffer[:end], self.buffer[end:]
        return seen


def wait_exit(pid: int, fd: int, timeout: float = 15.0) -> int:
    deadline = time.monotonic() + timeout
    seen = b""
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if select.select([fd], [], [], 0.05)[0]:
            with contextlib.suppress(OSError):
                seen += os.read(fd, 4096)  # keep the terminal drained
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    raise AssertionError(f"the shell did not exit; after the last input it wrote {seen!r}")


def test_completion_covers_apis_live_on_the_bus(project, start_worker, bus_factory):
    start_worker(project(OTHER_API))
    bus = bus_factory()  # defines no API itself
    live = live_schemas(bus)
    assert "stock" in live
    shell_bus = ShellBus(bus, live)
    assert "stock" in dir(shell_bus)
    assert {"level", "low", "call_async", "fire"} <= set(dir(shell_bus.stock))
    assert shell_bus.stock.level(sku="x") == 7  # through the same bus
    assert shell_bus.client is bus.client
    assert type(bus) is lightbus.Bus  # the bus module's object is left as it was


def test_ipython_is_used_when_installed(start_worker, worker_env):
    pytest.importorskip("IPython")
    start_worker(QUICKSTART)
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child becomes the shell
        os.chdir(QUICKSTART)
        os.execve(sys.executable, [sys.executable, "-m", "lightbus", "shell"], worker_env())
    term = Terminal(fd)
    try:
        term.expect(b"In [")
        os.write(fd, b"bus.example.hel\t")
        term.expect(b"hello_world")
        os.write(fd, b"()\r")
        term.expect(b"'Hello world'")
        term.expect(b"In [")
        os.write(fd, b"exit\r")
        status = wait_exit(pid, fd)
    finally:
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
