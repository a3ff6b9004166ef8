"""docs/how-to/replay.md as a reader follows it: a real worker, the page's commands.

The shop of the page (docs/snippets/replay_shop.py) runs in a worker; its invoice handler
fails; each console block is run and its output compared (ids and times aside); the
worker is restarted with the fixed handler; the range replay brings the failed event to
handled, the trace links the replay both ways; the Python snippet replays and redrives.
"""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import ROOT
from support import wait_until
from transcript import run_console

PAGE = ROOT / "docs" / "how-to" / "replay.md"
SHOP = ROOT / "docs" / "snippets" / "replay_shop.py"


def section(number: str) -> str:
    return PAGE.read_text().split(f"\n## {number} ", 1)[1].split("\n## ", 1)[0]


def consoles(text: str) -> list[str]:
    return re.findall(r"```console\n(.*?)```", text, re.S)


def test_the_replay_how_to_runs_as_written(tmp_path, start_worker, worker_env):
    (tmp_path / "replay_shop.py").write_text(SHOP.read_text())
    env = worker_env(COLUMNS="200")
    worker = start_worker(tmp_path, "--bus", "replay_shop", LIGHTBUS_RETRY_BACKOFF="0.05")
    seen: dict[str, str] = {}
    for block in consoles(section("1.")):
        problem = run_console(block, cwd=tmp_path, env=env, seen=seen)
        assert problem is None, problem
    assert "IndexError" in worker.output

    # 2. The fix: the page's fixed handler in place of the buggy one, the worker restarted.
    shop = tmp_path / "replay_shop.py"
    shop.write_text(shop.read_text().replace("listen(invoice,", "listen(invoice_fixed,"))
    worker.stop()
    worker = start_worker(tmp_path, "--bus", "replay_shop", LIGHTBUS_RETRY_BACKOFF="0.05")

    for block in consoles(section("3.")):
        problem = run_console(block, cwd=tmp_path, env=env, seen=seen)
        assert problem is None, problem
    wait_until(lambda: "invoice for o-1: 3 items (replay of" in worker.output)
    assert worker.output.count("invoice for o-1") == 1

    # From Python: one replay to the invoice listener, and a redrive of the dead letter.
    original = next(full for shown, full in seen.items() if shown.startswith("01a2335f"))
    done = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "snippets" / "replay_api.py"), original],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "replayed as" in done.stdout and "redriven: 1" in done.stdout
    wait_until(lambda: worker.output.count("invoice for o-1: 3 items (replay of") == 3)
