"""docs/tutorial/fix-and-replay.md as a newcomer follows it: a real worker, the page's commands.

In an empty folder: the till (docs/snippets/till.py) saved as till.py, the page's Redis
and worker started as its `sh` block says, each console block run and its output compared
(ids and times aside), the handler fixed with the page's snippet and the worker restarted
as a reader would, the sale replayed by id to one listener, the second fix, the dead
letters redriven once, and the stop.
"""

from __future__ import annotations

import signal
import subprocess
import sys

import devtools
from conftest import ROOT
from docblocks import fenced, numbered_section
from support import wait_until
from transcript import run_console

PAGE = ROOT / "docs" / "tutorial" / "fix-and-replay.md"
SNIPPETS = ROOT / "docs" / "snippets"


def section(number: str) -> str:
    return numbered_section(PAGE, number)


def part(text: str, name: str) -> str:
    return text.split(f"# --8<-- [start:{name}]\n", 1)[1].split(f"# --8<-- [end:{name}]", 1)[0]


def apply_fix(till: str, name: str) -> str:
    """Replace the part of till.py that the page's fix replaces, as the reader does."""
    fixed = part((SNIPPETS / "till_fix.py").read_text(), name)
    return till.replace(part(till, name), fixed)


def test_the_fix_and_replay_tutorial_runs_as_written(tmp_path):
    # Fast retries: the output is the same, the three attempts take less time.
    env = devtools.dev_env(COLUMNS="200", LIGHTBUS_RETRY_BACKOFF="0.05")

    def command(line: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", *line.split()],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30,
        )  # fmt: skip

    def console(number: str, index: int | None = None) -> None:
        found = fenced(section(number), "console")
        for block in found if index is None else [found[index]]:
            problem = run_console(block, cwd=tmp_path, env=env, seen=ids)
            assert problem is None, problem

    def start() -> devtools.WorkerProcess:
        worker = devtools.lightbus(tmp_path, *run_line.split()[1:], LIGHTBUS_RETRY_BACKOFF="0.05")
        workers.append(worker)
        worker.wait_for("lightbus: serving", timeout=20)
        return worker

    def restart(worker: devtools.WorkerProcess) -> devtools.WorkerProcess:
        worker.proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert worker.wait() == 0, worker.output
        return start()

    assert '--8<-- "docs/snippets/till.py"' in section("1.")
    till = tmp_path / "till.py"
    till.write_text((SNIPPETS / "till.py").read_text())
    workers: list[devtools.WorkerProcess] = []
    ids: dict[str, str] = {}  # ids the page shows -> the ones this run printed
    try:
        # 2. The Redis and the worker.
        [lines] = fenced(section("2."), "sh")
        embedded_line, run_line = lines.splitlines()
        assert command(embedded_line).returncode == 0
        worker = start()
        assert "listeners: record_sale, count_stock" in worker.output
        # 3. The sale fails; its dead letter, listed and shown.
        console("3.")
        assert "KeyError: 'kettle-1'" in worker.output
        # 4. The fixed handler, the worker restarted.
        assert '--8<-- "docs/snippets/till_fix.py:handler"' in section("4.")
        assert f"`{run_line}`" in section("4.")
        till.write_text(apply_fix(till.read_text(), "handler"))
        worker = restart(worker)
        # 5. The replay to record_sale only; the letter purged.
        console("5.", 0)
        wait_until(lambda: "sold 2 x kettle-1: 50.00 EUR (replay of" in worker.output)
        assert "stock:" not in worker.output  # count_stock did not get the replay
        console("5.", 1)
        # 6. A second failure, the price list fixed, the dead letters redriven once.
        console("6.", 0)
        assert '--8<-- "docs/snippets/till_fix.py:prices"' in section("6.")
        till.write_text(apply_fix(till.read_text(), "prices"))
        worker = restart(worker)
        console("6.", 1)
        wait_until(lambda: "sold 1 x DESCALER: 6.50 EUR (replay of" in worker.output)
        console("6.", 2)  # the redriven count, and a second redrive that sends nothing
        assert worker.output.count("sold 1 x DESCALER") == 1
        # 7. Stop.
        worker.proc.send_signal(signal.SIGINT)
        assert worker.wait() == 0, worker.output
        assert fenced(section("7."), "sh") == ["lightbus embedded stop\n"]
        assert command("lightbus embedded stop").returncode == 0
        assert devtools.state(tmp_path) is None
    finally:
        for started in workers:
            started.stop()
        if devtools.state(tmp_path) is not None:
            command("lightbus embedded stop")
