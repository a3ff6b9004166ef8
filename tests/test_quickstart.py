"""The README's and the seed's quick start, verbatim, against a real worker process."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from conftest import ROOT

QUICKSTART = ROOT / "examples" / "quickstart"

PROMPT_SESSION = textwrap.dedent(
    """
    import time
    import lightbus

    bus = lightbus.create()
    print(repr(bus.example.hello_world()))

    received = []
    def callback(event, **kwargs):
        received.append(event)

    bus.example.my_event.listen(callback)
    sent = bus.example.my_event.fire()
    deadline = time.monotonic() + 10
    while not received and time.monotonic() < deadline:
        time.sleep(0.02)
    print("handled", received[0].id == sent.id, received[0].api, received[0].name)
    """
)


def test_quickstart_works_as_written(start_worker, worker_env):
    start_worker(QUICKSTART)
    result = subprocess.run(
        [sys.executable, "-c", PROMPT_SESSION],
        cwd=QUICKSTART,
        env=worker_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "'Hello world'"
    assert lines[1] == "handled True example my_event"


def test_worker_prints_what_it_serves(start_worker):
    worker = start_worker(QUICKSTART)
    line = next(x for x in worker.lines if x.startswith("lightbus: serving"))
    assert "APIs example (1 RPCs, 1 events)" in line
