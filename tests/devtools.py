"""Helpers for the development-loop tests: environments and processes in a project folder."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from conftest import ROOT, WorkerProcess

from lightbus.embedded import alive


def dev_env(**extra: str) -> dict[str, str]:
    """An environment with no LIGHTBUS_* setting: what a developer's shell has."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIGHTBUS_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def lightbus(cwd: Path, *args: str, **env: str) -> WorkerProcess:
    """Start a `lightbus ...` command in ``cwd``, output collected as it arrives."""
    return WorkerProcess([sys.executable, "-m", "lightbus", *args], cwd, dev_env(**env))


def state(project: Path) -> dict | None:
    """The embedded server's state file, if present and its server alive."""
    try:
        data = json.loads((project / ".lightbus" / "embedded.json").read_text())
    except (OSError, ValueError):
        return None
    return data if alive(data["pid"]) else None
