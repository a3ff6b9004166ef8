"""``lightbus monitor``'s command line: its options, its refusals, and what it imports."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT


def _lightbus(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lightbus", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_help_names_every_option_and_loads_no_textual():
    code = (
        "import sys\n"
        "from lightbus import cli\n"
        "try:\n    cli.main(['monitor', '--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'textual', 'redis'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    for option in ("--since", "--max-records", "--readonly", "--redis-url", "--prefix"):
        assert option in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_monitor_is_a_listed_command():
    result = _lightbus("--help")
    assert "monitor" in result.stdout and "watch the bus live" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "10x"], "argument --since: '10x' is not a time or a duration"),
        (["--max-records", "0"], "argument --max-records: must be 1 or more, got 0"),
        (["--max-records", "many"], "argument --max-records: 'many' is not a whole number"),
    ],
)
def test_bad_options_are_refused_with_what_to_write(args, message):
    result = _lightbus("monitor", *args)
    assert result.returncode == 2
    assert message in result.stderr
