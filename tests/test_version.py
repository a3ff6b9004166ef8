"""The version is defined once: lightbus.__version__, which the package metadata reads."""

from __future__ import annotations

import subprocess

from conftest import ROOT

import lightbus


def test_no_other_file_spells_the_version():
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    spelled = []
    for name in files:
        path = ROOT / name
        if name.startswith("tests/data/") or not path.is_file():
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        if lightbus.__version__ in text:
            spelled.append(name)
    assert spelled == ["lightbus/__init__.py"], "the version is also written in these files"
