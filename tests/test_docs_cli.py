"""The CLI reference cannot drift from the CLI: it is generated from its definitions.

docs/reference/commands.md is what tests/clidefs.py renders from the parsers `lightbus`
builds (every entry of lightbus.cli.COMMANDS, each module's add_arguments, subcommands
included). After changing a command, refresh it with
`UPDATE_GOLDEN=1 python -m pytest tests/test_docs_cli.py`.
"""

from __future__ import annotations

import argparse
import os

import clidefs
from conftest import ROOT

PAGE = ROOT / "docs" / "reference" / "commands.md"


def test_the_command_reference_is_generated_from_the_commands_definitions():
    expected = clidefs.reference()
    if os.environ.get("UPDATE_GOLDEN"):
        PAGE.write_text(expected)
    assert PAGE.read_text() == expected, (
        "docs/reference/commands.md differs from the CLI's definitions: refresh it with "
        "UPDATE_GOLDEN=1 python -m pytest tests/test_docs_cli.py"
    )


def test_every_command_and_option_is_in_the_reference():
    page = PAGE.read_text()
    from lightbus.cli import COMMANDS

    names = {command.words[0] for command in clidefs.commands()}
    assert names == set(COMMANDS)
    for command in clidefs.commands():
        assert f"`{command.name}`" in page, command.name
        section = page.split(f"`{command.name}`\n", 1)[1]
        for action in command.arguments:
            for option in action.option_strings:
                assert option in section.split("\n#", 1)[0], f"{command.name} {option}"


def test_a_command_added_later_is_covered_without_a_change_here(monkeypatch):
    import types

    from lightbus import cli

    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--colour", choices=("red", "blue"), help="what to paint")

    module = types.ModuleType("paint_command")
    module.add_arguments = add_arguments  # type: ignore[attr-defined]
    monkeypatch.setitem(__import__("sys").modules, "paint_command", module)
    monkeypatch.setitem(cli.COMMANDS, "paint", ("paint_command", "paint the bus"))
    page = clidefs.reference()
    assert "## `lightbus paint`" in page
    assert "| `--colour {red,blue}` | What to paint. |" in page
    assert clidefs.reference() != PAGE.read_text()  # so the test above would fail
    assert clidefs.check_command("lightbus paint --colour red") == []
    assert clidefs.check_command("lightbus paint --color red") == [
        "'lightbus paint --color red': lightbus paint has no --color"
    ]
