"""The README's and the seed's quick start, verbatim, against a real worker process."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import devtools
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


# ------------------------------------------------------------ the tutorial page, as written

TUTORIAL = ROOT / "docs" / "tutorial" / "quickstart.md"
SNIPPETS = ROOT / "docs" / "snippets"


def shell_lines(section: str) -> list[str]:
    """The lines of the ``sh`` blocks of the tutorial's section starting with ``section``."""
    text = TUTORIAL.read_text().split(f"\n## {section}", 1)[1].split("\n## ", 1)[0]
    return [
        line for block in re.findall(r"```sh\n(.*?)```", text, re.S) for line in block.splitlines()
    ]


def run_python(cwd: Path, *args: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *map(str, args)],
        cwd=cwd, env=devtools.dev_env(), capture_output=True, text=True, timeout=40,
    )  # fmt: skip


def test_the_quickstart_tutorial_runs_as_written_on_an_embedded_redis(tmp_path):
    """Steps 2 to 5 in a copy of the example's folder, with nothing configured: the
    embedded Redis is found through its state file by the worker, the prompt and the
    async snippet alike."""
    (tmp_path / "examples" / "quickstart").mkdir(parents=True)
    shutil.copy(QUICKSTART / "bus.py", tmp_path / "examples" / "quickstart" / "bus.py")
    cwd = tmp_path
    worker = None
    try:
        for line in shell_lines("2."):
            command, *args = line.split()
            if command == "cd":
                cwd = cwd / args[0]
            elif args == ["run"]:
                worker = devtools.lightbus(cwd, "run")
                worker.wait_for("lightbus: serving", timeout=20)
            else:
                assert command == "lightbus", line
                done = subprocess.run(
                    [sys.executable, "-m", "lightbus", *args],
                    cwd=cwd, env=devtools.dev_env(), capture_output=True, text=True, timeout=30,
                )  # fmt: skip
                assert done.returncode == 0, done.stdout + done.stderr
        assert worker is not None and "redis redis://127.0.0.1:" in worker.output
        prompt = run_python(cwd, ROOT / "tests" / "transcript.py", SNIPPETS / "quickstart.pycon")
        assert prompt.returncode == 0, prompt.stdout + prompt.stderr
        twins = run_python(cwd, SNIPPETS / "quickstart_async.py")
        assert (twins.returncode, twins.stdout) == (0, "Hello world my_event\n"), twins.stderr
        worker.proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert worker.wait() == 0, worker.output
        assert shell_lines("5.") == ["lightbus embedded stop"]
        stop = subprocess.run(
            [sys.executable, "-m", "lightbus", "embedded", "stop"],
            cwd=cwd, env=devtools.dev_env(), capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert stop.returncode == 0, stop.stderr
        assert devtools.state(cwd) is None
    finally:
        if worker is not None:
            worker.stop()
        if devtools.state(cwd) is not None:
            subprocess.run([sys.executable, "-m", "lightbus", "embedded", "stop"], cwd=cwd,
                           env=devtools.dev_env(), timeout=30)  # fmt: skip


def test_the_tutorial_transcript_fails_when_the_output_differs(start_worker, worker_env, tmp_path):
    start_worker(QUICKSTART)
    wrong = (SNIPPETS / "quickstart.pycon").read_text().replace("'Hello world'", "'Hello'")
    (tmp_path / "wrong.pycon").write_text(wrong)
    ran = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "transcript.py"), str(tmp_path / "wrong.pycon"), "1"],
        cwd=QUICKSTART, env=worker_env(), capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert ran.returncode == 1
    assert "expected:\n'Hello'\ngot:\n'Hello world'" in ran.stderr
