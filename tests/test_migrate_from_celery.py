"""The worked example of docs/how-to/migrate-from-celery.md (examples/celery_migration)
runs: tasks as a listener, countdown as delay=, retries, beat as schedules, the result
backend as an RPC."""

from __future__ import annotations

import time

from conftest import ROOT
from support import run_python

EXAMPLE = ROOT / "examples" / "celery_migration"
WEB = (
    "import runpy, sys; sys.argv = ['web.py', *sys.argv[1:]]; "
    "runpy.run_path('web.py', run_name='__main__')"
)


def test_the_celery_migration_example_runs(start_worker, worker_env):
    worker = start_worker(EXAMPLE, "--bus", "bus")
    serving = next(line for line in worker.lines if line.startswith("lightbus: serving"))
    assert "listeners: resize_image" in serving
    assert "bus.nightly_cleanup" in serving and "bus.refresh_index" in serving
    env = worker_env()
    started = time.time()
    url = run_python(WEB, "cat-1", cwd=EXAMPLE, env=env).strip()
    assert url == "https://cdn.example.com/cat-1/thumb.jpg"  # the RPC's result
    worker.wait_for("resized cat-1 to 800px (attempt 1)")  # fired at once
    worker.wait_for("resized cat-1 to 200px (attempt 1)")  # fired with delay=2
    assert time.time() >= started + 2
    run_python(WEB, "busy-2", cwd=EXAMPLE, env=env)
    worker.wait_for("resized busy-2 to 800px (attempt 2)")  # the first attempt raised
