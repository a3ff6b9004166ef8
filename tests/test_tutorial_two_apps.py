"""docs/tutorial/two-apps.md as a newcomer follows it: real workers, real commands.

Every step runs as the page writes it: the shell lines that start the Redis and the two
workers, each console block (its commands run, their output compared, ids and times
aside), the prompt session, warranty stopped and started again, and the stop.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys

import devtools
from conftest import ROOT
from docblocks import fenced, numbered_section
from transcript import run_console

PAGE = ROOT / "docs" / "tutorial" / "two-apps.md"
SNIPPETS = ROOT / "docs" / "snippets"


def section(number: str) -> str:
    return numbered_section(PAGE, number)


def test_the_two_apps_tutorial_runs_as_written(tmp_path):
    env = devtools.dev_env(COLUMNS="200")  # wide enough that trees do not wrap

    def command(line: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", *line.split()],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30,
        )  # fmt: skip

    def start(line: str) -> devtools.WorkerProcess:
        assert line.startswith("lightbus run --bus examples.company."), line
        worker = devtools.lightbus(tmp_path, *line.split()[1:], COLUMNS="200")
        workers.append(worker)
        worker.wait_for("lightbus: serving", timeout=20)
        return worker

    workers: list[devtools.WorkerProcess] = []
    ids: dict[str, str] = {}  # ids the page shows -> the ones this run printed
    try:
        # 1. A Redis and the two apps, in the page's terminals.
        first, second = (block.splitlines() for block in fenced(section("1."), "sh"))
        assert first[0] == "lightbus embedded start"
        started = command(first[0])
        assert started.returncode == 0, started.stderr
        [sales_line] = first[1:]
        [warranty_line] = second
        start(sales_line)
        warranty = start(warranty_line)
        # 4. An order, its trace, the question to warranty.
        for block in fenced(section("4."), "console"):
            assert (problem := run_console(block, cwd=tmp_path, env=env, seen=ids)) is None, problem
        # 5. The same from Python.
        assert '--8<-- "docs/snippets/two_apps.pycon"' in section("5.")
        runner, session = ROOT / "tests" / "transcript.py", SNIPPETS / "two_apps.pycon"
        prompt = subprocess.run(
            [sys.executable, str(runner), str(session)],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert prompt.returncode == 0, prompt.stderr
        # 6. Warranty down: the order's event waits; warranty back: the serial is registered.
        down, back = fenced(section("6."), "console")
        warranty.proc.send_signal(signal.SIGINT)
        assert warranty.wait() == 0
        assert (problem := run_console(down, cwd=tmp_path, env=env, seen=ids)) is None, problem
        assert f"`{warranty_line}`" in section("6.")
        restarted = start(warranty_line)
        assert (problem := run_console(back, cwd=tmp_path, env=env, seen=ids)) is None, problem
        assert "its deadline passed" in restarted.output
        assert re.search(r"order 42: SN-3 registered until", restarted.output)
        # 7. Stop.
        for worker in workers:
            if worker.proc.poll() is None:
                worker.proc.send_signal(signal.SIGINT)
                assert worker.wait() == 0, worker.output
        assert fenced(section("7."), "sh") == ["lightbus embedded stop\n"]
        assert command("lightbus embedded stop").returncode == 0
        assert devtools.state(tmp_path) is None
    finally:
        for worker in workers:
            worker.stop()
        if devtools.state(tmp_path) is not None:
            command("lightbus embedded stop")


def test_the_console_check_fails_on_other_output_and_carries_ids_between_commands(tmp_path):
    import transcript

    import lightbus

    env = devtools.dev_env()
    right = f"$ lightbus --version\nlightbus {lightbus.__version__}\n"
    assert run_console(right, cwd=tmp_path, env=env) is None
    wrong = run_console("$ lightbus --version\nlightbus 0.0.1\n", cwd=tmp_path, env=env)
    assert wrong is not None and wrong.endswith(f"got:\nlightbus {lightbus.__version__}")
    # What varies between runs matches; what the page shows of an id is carried over.
    want = (
        "message 01a233210d917ae88ffb68e2f5eb04d1  trace 09ca7cc0d7b16da5cdc63e0bb289bb39  19.4 ms"
    )
    got = "message 01a2332162437740bc564fe107b19dcb  trace 7eee632f9ea32612cbc31ddc508d6e81  3 ms"
    found = re.fullmatch(transcript._pattern(want), got)
    assert found is not None and found.groups()[0] == "01a2332162437740bc564fe107b19dcb"
    seen = {"01a233210d917ae88ffb68e2f5eb04d1": "01a2332162437740bc564fe107b19dcb"}
    assert transcript._swap("68e2f5eb04d1", seen) == "40bc564fe107b19dcb"[-12:]
    assert re.fullmatch(transcript._pattern("covered: true"), "covered: false") is None
