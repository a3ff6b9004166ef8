"""What the fault-injection tests share: a jobs API, a worker module, and log readers.

The worker module (:data:`BUS_SOURCE`) is written into a temporary project and run by
real ``lightbus run`` processes. Its handler appends ``start``/``end`` lines to
``handled.log`` in the project folder (``O_APPEND`` writes of one short line are atomic
across processes), so a test can see every attempt of every event, from every process,
even ones that were killed mid-handler. Environment variables shape the handler:

- ``TEST_SLEEP``: seconds each handling takes; ``TEST_SLEEP_FIRST``: seconds the first
  attempt takes (later attempts take ``TEST_SLEEP``);
- ``TEST_SYNC=1``: a plain (threaded) handler instead of ``async def``;
- ``TEST_FAIL=always``: the handler raises; ``TEST_STOP=1``: with ``on_error="stop"``;
- ``TEST_MAX_ATTEMPTS``: the listener's ``max_attempts``.
"""

from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

import lightbus
from lightbus import Api, Event
from lightbus.trace import TraceRecord
from lightbus.traceentries import records_from_fields

# Not imported from conftest: worker processes import this module, and conftest clears
# the LIGHTBUS_* environment (a worker would then fall back to the default Redis URL).
TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


class JobsApi(Api):
    job = Event(parameters=("n",))

    class Meta:
        name = "jobs"

    def echo(self, text: str) -> str:
        return text

    def slow(self, n: int, seconds: float = 0.0) -> int:
        import time

        _note(Path(os.environ.get("TEST_LOG", "/dev/null")), "call", n, os.getpid(), 1)
        time.sleep(seconds)
        return n


BUS_SOURCE = textwrap.dedent(
    """
    import asyncio
    import os
    import time
    from pathlib import Path

    import lightbus
    from faults import JobsApi, _note

    LOG = Path(__file__).with_name("handled.log")
    os.environ["TEST_LOG"] = str(LOG)
    SLEEP = float(os.environ.get("TEST_SLEEP", "0"))
    SLEEP_FIRST = float(os.environ.get("TEST_SLEEP_FIRST", os.environ.get("TEST_SLEEP", "0")))
    FAIL = os.environ.get("TEST_FAIL", "")

    bus = lightbus.create()
    bus.client.register_api(JobsApi())


    def _seconds(event):
        return SLEEP_FIRST if event.attempt == 1 else SLEEP


    async def on_job(event, n):
        _note(LOG, "start", n, os.getpid(), event.attempt)
        await asyncio.sleep(_seconds(event))
        if FAIL == "always":
            raise ValueError(f"job {n} is poison")
        _note(LOG, "end", n, os.getpid(), event.attempt)


    def on_job_sync(event, n):
        _note(LOG, "start", n, os.getpid(), event.attempt)
        time.sleep(_seconds(event))
        _note(LOG, "end", n, os.getpid(), event.attempt)


    @bus.client.on_start()
    def start(**_):
        handler = on_job_sync if os.environ.get("TEST_SYNC") else on_job
        bus.jobs.job.listen(
            handler,
            listener_name="jobs",
            since="0",
            max_attempts=int(os.environ.get("TEST_MAX_ATTEMPTS", "0")) or None,
            on_error="stop" if os.environ.get("TEST_STOP") else "retry",
        )
    """
)


def worker_env(**extra: Any) -> dict[str, str]:
    """Environment for a fault-test worker: the tests folder importable, fast timings."""
    env = {
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(TESTS)]),
        "LIGHTBUS_HEARTBEAT_INTERVAL": "1",
    }
    env.update({key: str(value) for key, value in extra.items()})
    return env


def _note(log: Path, what: str, n: Any, pid: int, attempt: int) -> None:
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{what} {n} {pid} {attempt}\n".encode())
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Line:
    what: str
    n: int
    pid: int
    attempt: int


def read_log(folder: Path) -> list[Line]:
    path = folder / "handled.log"
    if not path.exists():
        return []
    lines = []
    for raw in path.read_text().splitlines():
        what, n, pid, attempt = raw.split()
        lines.append(Line(what, int(n), int(pid), int(attempt)))
    return lines


def ended(folder: Path) -> set[int]:
    return {line.n for line in read_log(folder) if line.what == "end"}


def trace_records(client: Any, step: str | None = None) -> list[TraceRecord]:
    """Every record of the trace stream (optionally of one step), oldest first."""
    records = []
    for entry_id, fields in client.xrange("lightbus:trace"):
        for record in records_from_fields(entry_id.decode(), fields):
            if step is None or record.record == step:
                records.append(record)
    return records


def producer(redis_url: str, **settings: Any) -> lightbus.Bus:
    """A bus that can fire ``jobs.job`` without a worker's published schema."""
    bus = lightbus.create(redis_url=redis_url, **settings)
    bus.client.register_api(JobsApi())
    return bus


def nest(levels: int, leaf: bytes = b"1") -> bytes:
    """JSON text of ``leaf`` inside ``levels`` lists: ``nest(2) == b"[[1]]"``."""
    return b"[" * levels + leaf + b"]" * levels


def raw_message(
    client: Any, kind: str, api: str, name: str, kwargs_json: bytes = b"{}", **fields: Any
) -> bytes:
    """A message as another producer might write it: a real envelope from ``client``, the
    arguments given as JSON text (any depth, any size), other envelope fields overridden."""
    envelope = msgspec.json.decode(client.make_message(kind, api, name).to_json())
    envelope.update(fields, kwargs="@kwargs@")
    return msgspec.json.encode(envelope).replace(b'"@kwargs@"', kwargs_json)
