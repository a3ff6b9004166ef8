"""Redis Sentinel: ``redis+sentinel://`` URLs, and a failover under a running producer and
``lightbus run`` worker (one master, one replica, three sentinels on loopback)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
import redis
from faults import BUS_SOURCE, ended, producer, read_log, worker_env
from sentinels import SentinelSetup
from support import wait_until

import lightbus
from lightbus.errors import ConfigError
from lightbus.sentinel import parse_sentinel_url
from lightbus.settings import redact_url


@pytest.fixture
def sentinels() -> Iterator[SentinelSetup]:
    setup = SentinelSetup()
    try:
        yield setup.start()
    finally:
        setup.stop()


def test_a_sentinel_url_names_the_sentinels_the_service_and_the_master_s_credentials():
    url = "redis+sentinel://app:p%2Fw@10.0.0.1:26379,[::1]:26380/mymaster/2?wait_replicas=1"
    config = parse_sentinel_url(url)
    assert config.sentinels == (("10.0.0.1", 26379), ("::1", 26380))
    assert (config.service, config.db, config.username, config.password) == (
        "mymaster",
        2,
        "app",
        "p/w",
    )
    assert (config.wait_replicas, config.wait_timeout, config.sentinel_password) == (1, 1000, None)
    assert lightbus.create(redis_url=url).client.settings.redis_url == url
    hidden = redact_url(url + "&sentinel_password=s3cret")
    assert "p%2Fw" not in hidden and "s3cret" not in hidden and "mymaster" in hidden


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("redis+sentinel://127.0.0.1:26379", "it names no service"),
        ("redis+sentinel://127.0.0.1:26379/", "it names no service"),
        ("redis+sentinel:///mymaster", "each sentinel needs a host and a port"),
        ("redis+sentinel://127.0.0.1/mymaster", "each sentinel needs a host and a port"),
        ("redis+sentinel://h:1,h/mymaster", "each sentinel needs a host and a port"),
        ("redis+sentinel://h:port/mymaster", "is not a port number"),
        ("redis+sentinel://h:99999/mymaster", "is not a port number"),
        ("redis+sentinel://:p/w@h:1/mymaster", "an '@' comes after"),
        ("redis+sentinel://h:1/mymaster/zero", "database after the service name"),
        ("redis+sentinel://h:1/mymaster?wait=1", "unknown option 'wait'"),
        ("redis+sentinel://h:1/mymaster?wait_replicas=-1", "wait_replicas must be a whole"),
        ("redis+sentinel://:pw#x@h:1/mymaster", "holds a '#'"),
    ],
)
def test_a_bad_sentinel_url_is_a_config_error_saying_what_is_wrong(url, complaint):
    with pytest.raises(ConfigError, match="malformed sentinel URL") as info:
        lightbus.create(redis_url=url)
    assert complaint in str(info.value)
    assert info.value.key == "redis_url"
    assert "pw" not in str(info.value)  # the URL, which may hold a password, is not shown


@pytest.mark.reliability
@pytest.mark.timeout(90)
def test_a_failover_under_a_producer_and_a_worker_loses_no_acknowledged_event(
    project, start_worker, sentinels
):
    _, url, fired, _ = _produce_through(project, start_worker, sentinels, _failover)
    # The tools read through the sentinels too: the last event, from the new master.
    env = {**os.environ, **worker_env(LIGHTBUS_REDIS_URL=url)}
    shown = subprocess.run(
        [sys.executable, "-m", "lightbus", "inspect", "--json", "--message", fired[-1][1]],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert shown.returncode == 0, shown.stderr
    steps = [json.loads(line)["record"] for line in shown.stdout.splitlines()]
    assert "event.fired" in steps and "event.handled" in steps


@pytest.mark.reliability
@pytest.mark.timeout(90)
def test_the_master_killed_under_a_producer_and_a_worker_loses_no_acknowledged_event(
    project, start_worker, sentinels
):
    _produce_through(project, start_worker, sentinels, _kill_master)


def _failover(sentinels: SentinelSetup) -> None:
    sentinels.failover()


def _kill_master(sentinels: SentinelSetup) -> None:
    sentinels.master.kill()
    # Once the sentinels have promoted the replica, the old master comes back (empty, no
    # persistence here) and the sentinels make it a replica of the new one: until then no
    # replica confirms a write (wait_replicas=1), and fires are refused, never lost.
    wait_until(lambda: sentinels.master_port() == sentinels.replica.port, timeout=30)
    sentinels.master.start()


def _produce_through(project, start_worker, sentinels, disrupt):
    """Fire every 10 ms at a ``lightbus run`` worker while ``disrupt`` makes the replica
    the master; every fire that returned is handled, by the same worker process."""
    url = sentinels.url("?wait_replicas=1")
    folder = project(BUS_SOURCE)
    worker = start_worker(
        folder, **worker_env(LIGHTBUS_REDIS_URL=url, LIGHTBUS_PROCESS_NAME="survivor")
    )
    bus = producer(url, connect_timeout=2.0)
    fired: list[tuple[int, str]] = []
    refused: list[str] = []
    stop = threading.Event()

    def produce() -> None:
        n = 0
        while not stop.is_set():
            try:
                fired.append((n, bus.jobs.job.fire(n=n).id))
            except lightbus.BusConnectionError as exc:
                refused.append(str(exc))
            n += 1
            time.sleep(0.01)

    thread = threading.Thread(target=produce)
    thread.start()
    try:
        wait_until(lambda: len(ended(folder)) > 20, timeout=20)
        disrupt(sentinels)
        wait_until(lambda: sentinels.master_port() == sentinels.replica.port, timeout=30)
        accepted = len(fired)
        wait_until(lambda: len(fired) > accepted + 30, timeout=40)
    finally:
        stop.set()
        thread.join(10)
    numbers = {n for n, _ in fired}
    wait_until(lambda: numbers <= ended(folder), timeout=30)

    # The new master holds the events: the producer wrote there, the worker read there.
    with redis.Redis(port=sentinels.replica.port) as new_master:
        assert new_master.xlen("lightbus:event:jobs.job") >= len(fired)
    # One worker process, never restarted, handled every acknowledged fire, after losing
    # its connections to the old master. An event may run twice (at least once): an
    # acknowledgement lost with the old master, or a write sent again after the switch.
    assert worker.proc.poll() is None
    log = read_log(folder)
    assert {line.pid for line in log} == {worker.proc.pid}
    assert "lost Redis" in worker.output
    bus.close()
    worker.proc.terminate()
    assert worker.wait() == 0, worker.output
    handled = [line.n for line in log if line.what == "end"]
    print(
        f"fired {len(fired)}, refused {len(refused)}, "
        f"handled twice {len(handled) - len(set(handled))}"
    )
    return folder, url, fired, worker
