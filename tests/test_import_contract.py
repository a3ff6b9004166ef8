"""The tools' import contract: ``lightbus_tools/`` and ``examples/`` use only the public
surface of the runtime, the top-level names of ``lightbus`` (its ``__all__``) and the
documented modules (``docs/reference/python-api.md``), and of those only their public
names (each module's ``__all__``).

Every import counts: at module level, inside functions, under ``TYPE_CHECKING``; and so
does ``lightbus.<name>`` reached through an imported ``lightbus``.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT

import lightbus

DOCUMENTED = (
    "cli",
    "deadletters",
    "embedded",
    "groups",
    "messages",
    "redrive",
    "replay",
    "schema",
    "testing",
    "tracing",
    "workers",
)
CHECKED = ("lightbus_tools", "examples")


def public_names(module: str) -> set[str]:
    return set(importlib.import_module(f"lightbus.{module}").__all__)


def violations(path: Path) -> Iterator[str]:
    """What ``path`` uses of ``lightbus`` beyond the public surface, one line each."""
    tree = ast.parse(path.read_text(), str(path))
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
    top = set(lightbus.__all__) | set(DOCUMENTED)
    aliases = set()  # names bound to the lightbus package itself
    for node in ast.walk(tree):
        where = f"{shown}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] != "lightbus":
                    continue
                if len(parts) == 1:
                    aliases.add(alias.asname or "lightbus")
                elif parts[1] not in DOCUMENTED or len(parts) > 2:
                    yield f"{where}: import {alias.name}"
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            parts = node.module.split(".")
            if parts[0] != "lightbus":
                continue
            if len(parts) == 1:
                yield from (
                    f"{where}: from lightbus import {a.name}"
                    for a in node.names
                    if a.name not in top
                )
            elif len(parts) > 2 or parts[1] not in DOCUMENTED:
                yield f"{where}: from {node.module} import ..."
            else:
                allowed = public_names(parts[1])
                yield from (
                    f"{where}: from {node.module} import {a.name} (not in its __all__)"
                    for a in node.names
                    if a.name not in allowed
                )
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and node.attr not in top
        ):
            yield f"{shown}:{node.lineno}: lightbus.{node.attr}"


def checked_files() -> list[Path]:
    return sorted(p for package in CHECKED for p in (ROOT / package).rglob("*.py"))


def test_tools_and_examples_use_only_the_public_surface():
    found = [line for path in checked_files() for line in violations(path)]
    assert found == []


def test_every_documented_module_declares_its_public_names():
    for module in DOCUMENTED:
        names = public_names(module)
        assert names, module
        loaded = importlib.import_module(f"lightbus.{module}")
        assert all(hasattr(loaded, name) for name in names), module


def listed_names(page: str, module: str) -> set[str]:
    """The names in the first column of the tables of ``## `lightbus.<module>```."""
    section = page.split(f"## `lightbus.{module}`", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        cells = line.split("|")
        if line.startswith("|") and len(cells) > 2 and "`" in cells[1]:
            names |= set(re.findall(r"`([A-Za-z_]+)`", cells[1]))
    return names


def test_the_python_api_reference_lists_exactly_each_modules_public_names():
    page = (ROOT / "docs" / "reference" / "python-api.md").read_text()
    for module in DOCUMENTED:
        assert listed_names(page, module) == public_names(module), module


def test_every_public_function_and_class_has_a_docstring():
    for module in DOCUMENTED:
        loaded = importlib.import_module(f"lightbus.{module}")
        assert loaded.__doc__, module
        for name in public_names(module):
            value = getattr(loaded, name)
            if inspect.isfunction(value) or inspect.isclass(value):
                assert inspect.getdoc(value), f"lightbus.{module}.{name}"


@pytest.mark.parametrize(
    ("source", "reported"),
    [
        ("from lightbus.keys import Keys\n", "from lightbus.keys import"),
        ("def f():\n    from lightbus.worker import import_bus\n", "from lightbus.worker import"),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import lightbus.facade\n",
            "import lightbus.facade",
        ),
        ("from lightbus import registry\n", "from lightbus import registry"),
        ("from lightbus.tracing import stream_position\n", "stream_position (not in its __all__)"),
        ("import lightbus as lb\nlb.settings.EMBEDDED\n", "lightbus.settings"),
        ("import lightbus\nlightbus.message.HOST\n", "lightbus.message"),
    ],
)
def test_the_contract_fails_on_a_private_import(source: str, reported: str, tmp_path: Path):
    path = tmp_path / "tool.py"
    path.write_text(source)
    found = list(violations(path))
    assert len(found) == 1 and reported in found[0], found


def test_the_public_surface_passes(tmp_path: Path):
    source = (
        "import lightbus\nfrom lightbus import Api, tracing, groups\n"
        "from lightbus.deadletters import read\nlightbus.create\n"
    )
    path = tmp_path / "tool.py"
    path.write_text(source)
    assert list(violations(path)) == []
