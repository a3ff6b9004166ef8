"""``lightbus monitor`` in a real terminal: tmux runs it, the test types keys and reads the
screen. Skipped where tmux is not installed (the test installs nothing)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from conftest import ROOT
from support import wait_until

from lightbus import Api, Event

TMUX = shutil.which("tmux")
pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed")


class ShopApi(Api):
    order_placed = Event(parameters=("order_id",))

    class Meta:
        name = "shop"


@pytest.fixture
def terminal(tmp_path, worker_env):
    """``run(command)`` starts it in a 100x30 tmux pane; ``screen()`` reads the pane;
    ``keys(...)`` types. The tmux server (on a private socket) is killed afterwards."""
    socket = str(tmp_path / "tmux.sock")
    env = worker_env(TERM="xterm-256color", LANG="C.UTF-8")

    def tmux(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [TMUX, "-S", socket, *args],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        )

    class Terminal:
        def run(self, command: str) -> None:
            started = tmux("new-session", "-d", "-x", "100", "-y", "30", "-s", "t", command)
            assert started.returncode == 0, started.stderr

        def screen(self) -> str:
            return tmux("capture-pane", "-p", "-t", "t").stdout

        def keys(self, *keys: str) -> None:
            tmux("send-keys", "-t", "t", *keys)

        def alive(self) -> bool:
            return tmux("has-session", "-t", "t").returncode == 0

    yield Terminal()
    tmux("kill-server")


def test_the_monitor_runs_in_a_terminal_and_answers_keys(terminal, redis_url, bus_factory):
    term = terminal
    options = "--since now --max-records 3 --readonly"
    term.run(f"{sys.executable} -m lightbus monitor --redis-url {redis_url} {options}")
    wait_until(lambda: "Nothing on this bus yet" in term.screen(), timeout=20)
    screen = term.screen()
    assert "1 Live" in screen and "connected" in screen and "lightbus run" in screen
    assert "read-only" in screen

    bus = bus_factory(service_name="shop")
    bus.client.register_api(ShopApi())
    for order_id in range(5):
        bus.shop.order_placed.fire(order_id=order_id)
    wait_until(lambda: "event.fired" in term.screen() and "shop.order_placed" in term.screen())
    wait_until(lambda: term.screen().count("event.fired") == 3)  # --max-records 3

    term.keys("/")
    # The footer always names "Filter"; the prompt's own line says it is open.
    wait_until(lambda: "enter applies, esc cancels" in term.screen())
    term.keys("kind:rpc")
    wait_until(lambda: "kind:rpc" in term.screen())
    term.keys("Enter")
    wait_until(lambda: "filter: kind:rpc" in term.screen() and "No records match" in term.screen())
    term.keys("Escape")
    wait_until(lambda: "event.fired" in term.screen())

    term.keys("4")
    wait_until(lambda: "No event stream has a consumer group yet" in term.screen())
    term.keys("?")
    wait_until(lambda: "Keys here" in term.screen())
    # (keys after Escape go one by one: a terminal sends alt+key as Escape then the key)
    term.keys("Escape")
    wait_until(lambda: "Keys here" not in term.screen())
    term.keys("1")
    wait_until(lambda: "event.fired" in term.screen())
    term.keys("Enter")
    wait_until(lambda: "event shop.order_placed" in term.screen() and "Payload" in term.screen())

    term.keys("q")
    wait_until(lambda: not term.alive(), timeout=15)
