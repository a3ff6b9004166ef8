"""docs/how-to/background-work.md: its snippet file (docs/snippets/background_work.py)
runs as a worker and does what the page says."""

from __future__ import annotations

import re
import time

from conftest import ROOT
from support import run_python, wait_until

SNIPPETS = ROOT / "docs" / "snippets"

FIRE = """
import asyncio, datetime as dt, time
import background_work as b

started = time.time()
b.remind_in(2.0)
b.remind_at(dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=0.5))
asyncio.run(b.remind_many_async())
b.bus.billing.payment_received.fire_many(
    [{"account": "acme", "amount": n} for n in range(10)]
)
print(started)
"""


def test_the_background_work_snippet_runs_as_a_worker(start_worker, worker_env):
    worker = start_worker(SNIPPETS, "--bus", "background_work")
    serving = next(line for line in worker.lines if line.startswith("lightbus: serving"))
    assert "listeners: reminders, ledger" in serving
    for name in ("morning_report", "hourly_rollup", "weekly_cleanup", "refresh_exchange_rates"):
        assert f"background_work.{name}" in serving
    worker.wait_for("exchange rates refreshed")  # also_run_immediately
    worker.wait_for("watching the mailbox")  # the background task
    fired_at = float(run_python(FIRE, cwd=SNIPPETS, env=worker_env()).strip())
    for invoice in ("INV-7", "INV-8", "INV-9", "INV-10"):
        worker.wait_for(f"reminder sent for {invoice}")
    assert time.time() >= fired_at + 2.0
    wait_until(lambda: worker.output.count("ledger: acme") == 10)
    # (Searched in the whole output: prints from handler threads may share a line.)
    ledger = re.findall(r"ledger: acme (\d+)", worker.output)
    assert ledger == [str(n) for n in range(10)]  # concurrency=1: in order
    # The delayed reminders arrive when they fall due, not in the order fired.
    reminders = re.findall(r"reminder sent for (INV-\d+)", worker.output)
    assert reminders.index("INV-8") < reminders.index("INV-7")
    assert sorted(reminders) == ["INV-10", "INV-7", "INV-8", "INV-9"]
