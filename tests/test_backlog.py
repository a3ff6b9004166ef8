"""Consumer-group backlog, dead letters and original messages, read through the public
modules (``lightbus.groups``, ``lightbus.deadletters``, ``lightbus.messages``) and shown by
``lightbus inspect --backlog``, against a real Redis with real pending and dead-lettered
entries. The monitor's source reads the same figures."""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import subprocess
import sys
import threading

import pytest
from conftest import ROOT
from support import wait_until

from lightbus import Api, Event, deadletters, groups, ids, messages, workers
from lightbus_tools.monitor.source import Source


class JobsApi(Api):
    job = Event(parameters=("n", "secret"))

    class Meta:
        name = "jobs"

    def echo(self, text: str) -> str:
        return text


WORKER_MODULE = """
import lightbus
from lightbus import Api, Event


class JobsApi(Api):
    job = Event(parameters=("n", "secret"))

    class Meta:
        name = "jobs"


bus = lightbus.create()
bus.client.register_api(JobsApi())


@bus.client.on_start()
def listen(**_):
    bus.jobs.job.listen(lambda event, n, secret: None, listener_name="audit")
"""

JOBS = "default.jobs"
AUDIT = "default.audit"


@pytest.fixture
def held(bus_factory, raw_redis):
    """A bus whose ``jobs`` listener dead-lettered job 1, and holds job 2 on its second
    attempt (pending, delivered twice); the ``audit`` listener stopped before either was
    fired (its group lags by both)."""
    audit = bus_factory()
    audit.client.register_api(JobsApi())
    audit.jobs.job.listen(lambda event, n, secret: None, listener_name="audit")
    wait_until(lambda: AUDIT in _group_names(raw_redis))
    audit.close()

    bus = bus_factory(retry_backoff=0.01)
    bus.client.register_api(JobsApi())
    release = threading.Event()
    holding = threading.Event()

    def handler(event, n, secret):
        if n == 1:
            raise ValueError("job 1 is poison")
        if event.attempt == 1:
            raise ValueError("job 2 fails once")
        holding.set()
        release.wait(30)

    bus.jobs.job.listen(handler, listener_name="jobs", max_attempts=2)
    wait_until(lambda: JOBS in _group_names(raw_redis))
    poison = bus.jobs.job.fire(n=1, secret="")
    wait_until(lambda: raw_redis.xlen("lightbus:dead:jobs.job") == 1)
    slow = bus.jobs.job.fire(n=2, secret="kept whole")
    assert holding.wait(10)
    yield bus, poison, slow
    release.set()


def _group_names(raw_redis) -> set[str]:
    if not raw_redis.exists("lightbus:event:jobs.job"):
        return set()
    return {g["name"].decode() for g in raw_redis.xinfo_groups("lightbus:event:jobs.job")}


def run(redis_url: str, *command: str) -> subprocess.CompletedProcess[str]:
    """``command`` in a fresh process, on the test's Redis, with a wide terminal."""
    env = {**os.environ, "LIGHTBUS_REDIS_URL": redis_url, "COLUMNS": "200"}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, cwd=ROOT)


def inspect(redis_url: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    return run(redis_url, sys.executable, "-m", "lightbus", "inspect", *arguments)


def backlog_of(bus, *args):
    return {row.group: row for row in bus.run(groups.backlog(bus, *args), "backlog")}


def test_backlog_counts_lag_pending_attempts_and_dead_letters(held):
    bus, _, _ = held
    rows = backlog_of(bus)
    jobs, audit = rows[JOBS], rows[AUDIT]
    assert (jobs.api, jobs.name, jobs.length) == ("jobs", "job", 2)
    assert (jobs.lag, jobs.pending, jobs.highest_attempt, jobs.dead_letters) == (0, 1, 2, 1)
    assert jobs.oldest_pending_age is not None and jobs.oldest_pending_age >= 0
    assert (audit.lag, audit.pending, audit.highest_attempt, audit.dead_letters) == (2, 0, 0, 0)
    assert audit.oldest_pending_age is None
    assert set(backlog_of(bus, "jobs", "job")) == {JOBS, AUDIT}
    assert backlog_of(bus, "nothing") == {}


def test_inspect_backlog_prints_the_same_figures_as_json_lines_and_a_table(held, redis_url):
    bus, _, _ = held
    result = inspect(redis_url, "--backlog", "--output", "json")
    assert result.returncode == 0, result.stderr
    printed = {row["group"]: row for row in map(json.loads, result.stdout.splitlines())}
    expected = backlog_of(bus)
    figures = ("length", "lag", "pending", "highest_attempt", "dead_letters", "oldest_pending_ms")
    for group, row in expected.items():
        assert {f: printed[group][f] for f in figures} == {f: getattr(row, f) for f in figures}
    assert printed[JOBS]["oldest_pending_age"] >= 0 and printed[AUDIT]["oldest_pending_age"] is None

    table = inspect(redis_url, "--backlog")
    assert table.returncode == 0, table.stderr
    header = next(line for line in table.stdout.splitlines() if "highest attempt" in line)
    assert "dead letters" in header and "oldest pending" in header
    line = next(line for line in table.stdout.splitlines() if JOBS in line)
    cells = [cell.strip() for cell in line.split("│")]
    assert cells[:5] == ["jobs.job", JOBS, "2", "0", "1"]
    assert cells[5].endswith(("s", "m")) and cells[6:] == ["2", "1"]


def test_the_monitor_reads_the_same_backlog(held, redis_url):
    bus, _, _ = held

    async def read():
        source = Source(redis_url=redis_url)
        try:
            return await source.groups(), await source.dead_letters()
        finally:
            await source.close()

    states, letters = asyncio.run(read())
    expected = backlog_of(bus)
    for state in states:
        row = expected[state.group]
        assert (state.length, state.lag, state.pending) == (row.length, row.lag, row.pending)
        assert state.deliveries == row.attempts
        assert state.oldest_pending_ms == row.oldest_pending_ms
    assert [(letter.group, letter.payload) for letter in letters] == [
        (JOBS, '{"n": 1, "secret": ""}')
    ]


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        (["--backlog", "--follow"], "takes no --follow"),
        (["--backlog", "--step", "event.fired"], "takes no --step"),
        (["--backlog", "--workers"], "choose one of --backlog and --workers"),
        (["--backlog", "--name", "job"], "--name needs --api"),
        (["--backlog", "--output", "yaml"], "invalid choice: 'yaml'"),
    ],
)
def test_inspect_backlog_refuses_options_it_cannot_honour(redis_url, arguments, complaint):
    result = inspect(redis_url, *arguments)
    assert result.returncode == 2 and complaint in result.stderr, result.stderr


def test_inspect_backlog_with_no_groups_says_so(redis_url):
    result = inspect(redis_url, "--backlog")
    assert result.returncode == 0 and "No consumer groups" in result.stdout


def test_dead_letters_are_listed_read_and_counted(held):
    bus, poison, _ = held
    run = bus.run
    assert run(deadletters.events(bus), "events") == [("jobs", "job")]
    assert run(deadletters.count(bus), "count") == 1
    assert run(deadletters.count(bus, "jobs", "job"), "count") == 1
    (letter,) = run(deadletters.read(bus), "read")
    assert (letter.message_id, letter.group, letter.attempts) == (poison.id, JOBS, 2)
    assert letter.error == "job 1 is poison" and letter.message().kwargs == {"n": 1, "secret": ""}
    same = run(deadletters.get(bus, "jobs", "job", letter.stream_id), "get")
    assert same is not None and same.raw == letter.raw
    assert run(deadletters.get(bus, "jobs", "job", "1-1"), "get") is None
    assert [x.stream_id for x in run(deadletters.find(bus, poison.id), "find")] == [
        letter.stream_id
    ]
    with pytest.raises(ValueError, match="give both api and name"):
        run(deadletters.read(bus, "jobs"), "read")


def test_the_original_message_comes_whole_from_its_stream(held, raw_redis):
    bus, _, slow = held
    found = bus.run(messages.original(bus, slow.id), "original")
    assert found.where == "stream" and found.message.id == slow.id
    assert found.message.kwargs == {"n": 2, "secret": "kept whole"}  # not redacted
    stored = raw_redis.xrange("lightbus:event:jobs.job", found.entry_id, found.entry_id)
    assert stored[0][1][b"m"] == found.raw  # byte for byte
    dashed = f"{slow.id[:8]}-{slow.id[8:12]}-{slow.id[12:16]}-{slow.id[16:20]}-{slow.id[20:]}"
    assert bus.run(messages.original(bus, dashed, "jobs", "job"), "original").raw == found.raw


def test_the_original_comes_from_the_dead_letters_once_trimmed(held, raw_redis):
    bus, poison, slow = held
    raw_redis.xtrim("lightbus:event:jobs.job", maxlen=0)
    found = bus.run(messages.original(bus, poison.id), "original")
    assert found.where == "dead_letters" and found.message.kwargs == {"n": 1, "secret": ""}
    assert found.dead_letter is not None and found.dead_letter.group == JOBS
    raw_redis.xadd("lightbus:event:jobs.job", {"m": b"{}"})  # the stream lives on, past both
    with pytest.raises(messages.MessageNotFound, match="trimmed away") as caught:
        bus.run(messages.original(bus, slow.id), "original")
    assert caught.value.trimmed and caught.value.message_id == slow.id
    copy = pickle.loads(pickle.dumps(caught.value))
    assert (str(copy), copy.trimmed) == (str(caught.value), True)


def test_an_unknown_or_malformed_id_is_a_clear_error(held):
    bus, _, _ = held
    unknown = ids.message_id()
    with pytest.raises(messages.MessageNotFound, match="No event message") as caught:
        bus.run(messages.original(bus, unknown), "original")
    assert not caught.value.trimmed
    with pytest.raises(ValueError, match="not a Lightbus message id"):
        bus.run(messages.original(bus, "1234"), "original")
    with pytest.raises(ValueError, match="give both api and name"):
        bus.run(messages.original(bus, unknown, api="jobs"), "original")


def test_an_rpc_call_is_not_kept(bus_factory, serve_in_thread):
    serve_in_thread(JobsApi())
    bus = bus_factory()
    bus.client.register_api(JobsApi())
    bus.jobs.echo(text="hi")
    (called,) = [r for r in bus.run(_records(bus, "rpc.called"), "trace") if r.name == "echo"]
    with pytest.raises(messages.MessageNotFound, match="is an RPC call"):
        bus.run(messages.original(bus, called.id), "original")


async def _records(bus, step):
    from lightbus import tracing

    return [r async for r in tracing.read_trace(bus, step=step)]


def test_the_reference_example_reports_backlog_workers_and_dead_letters(held, redis_url):
    """docs/snippets/backlog_report.py, as docs/reference/python-api.md shows it."""
    result = run(redis_url, sys.executable, str(ROOT / "docs" / "snippets" / "backlog_report.py"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f"jobs.job {JOBS}: lag 0, pending 1, highest attempt 2, dead letters 1" in lines
    assert f"jobs.job {AUDIT}: lag 2, pending 0, highest attempt 0, dead letters 0" in lines
    (dead,) = [line for line in lines if line.startswith("dead: ")]
    assert "{'n': 1, 'secret': ''} (job 1 is poison)" in dead


def test_inspect_backlog_on_an_unreachable_redis_is_a_clear_error():
    env = {
        **os.environ,
        "LIGHTBUS_REDIS_URL": "redis://127.0.0.1:1/0",
        "LIGHTBUS_CONNECT_TIMEOUT": "0.5",
    }
    result = subprocess.run(
        [sys.executable, "-m", "lightbus", "inspect", "--backlog"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 1, result.stderr
    assert "lightbus inspect: error: Cannot reach Redis at redis://127.0.0.1:1/0" in result.stderr
    assert "Traceback" not in result.stderr


def test_workers_are_listed_with_their_listener_groups(project, start_worker, bus_factory):
    start_worker(project(WORKER_MODULE), LIGHTBUS_HEARTBEAT_INTERVAL="0.2")
    bus = bus_factory()

    def listening():
        found = bus.run(workers.list_workers(bus), "workers")
        return found if found and found[0].listeners else None

    (worker,) = wait_until(listening)  # the first heartbeat can come before on_start
    assert worker.alive and worker.apis == ["jobs"] and worker.listeners == ["audit"]
    assert workers.listener_groups(worker) == {AUDIT}
    assert workers.clashes([worker]) == {}
