"""The docs stay true to the code."""

from __future__ import annotations

import dataclasses
import re

from clidefs import PLANNED
from conftest import ROOT

import lightbus
from lightbus import Settings


def setting_rows() -> dict[str, list[str]]:
    """The rows of the settings table of docs/reference/configuration.md, by setting."""
    page = (ROOT / "docs" / "reference" / "configuration.md").read_text()
    rows = {}
    for line in page.splitlines():
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
        if len(cells) == 5 and re.fullmatch(r"`[a-z_]+`", cells[0]):
            rows[cells[0].strip("`")] = cells
    return rows


# Defaults the dataclass computes when the process starts, shown in the docs as their form.
COMPUTED_DEFAULTS = {"process_name": "'<host>-<pid>'"}


def test_every_setting_is_documented_with_its_variable_type_and_default():
    rows = setting_rows()
    fields = dataclasses.fields(Settings)
    assert list(rows) == [field.name for field in fields], "the table lists other settings"
    for field in fields:
        _, env, kind, default, meaning = rows[field.name]
        assert env == f"`LIGHTBUS_{field.name.upper()}`", field.name
        assert kind == f"`{field.type}`", field.name
        if field.default_factory is not dataclasses.MISSING:
            value = repr(field.default_factory())
        else:
            value = COMPUTED_DEFAULTS.get(field.name, repr(field.default))
        assert default == f"`{value}`", field.name
        assert meaning, f"{field.name} has no meaning in the table"


def test_the_settings_check_reads_the_table_it_checks():
    rows = setting_rows()
    assert rows["redis_url"][:4] == [
        "`redis_url`", "`LIGHTBUS_REDIS_URL`", "`str`", "`'redis://localhost:6379/0'`"
    ]  # fmt: skip
    assert Settings().process_name != "<host>-<pid>"  # computed, hence COMPUTED_DEFAULTS


def test_every_error_is_documented():
    page = (ROOT / "docs" / "reference" / "errors.md").read_text()
    for name in lightbus.__all__:
        value = getattr(lightbus, name)
        if isinstance(value, type) and issubclass(value, lightbus.LightbusError):
            assert f"`{name}`" in page, name


def test_readme_quick_start_has_two_command_lines():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```sh\n(.*?)```", section, re.S)
    lines = [line for block in commands for line in block.strip().splitlines()]
    assert len(lines) == 2, lines
    ci = (ROOT / ".ci" / "run").read_text()
    assert lines[1] in ci  # CI runs the README's test line as written


def test_readme_example_is_the_quickstart_module():
    readme = (ROOT / "README.md").read_text()
    example = (ROOT / "examples" / "quickstart" / "bus.py").read_text()
    block = re.findall(r"```python\n(.*?)```", readme, re.S)[0]
    code = [line for line in block.splitlines() if line.strip()]
    body = [line for line in example.splitlines() if line.strip()]
    for line in code:
        assert line in body, line


def test_every_page_is_in_the_navigation():
    nav = (ROOT / "mkdocs.yml").read_text()
    for page in (ROOT / "docs").rglob("*.md"):
        relative = page.relative_to(ROOT / "docs").as_posix()
        assert relative in nav, f"{relative} is not in mkdocs.yml's nav"


# Commands the design promises that do not exist yet (tests/clidefs.py): when one lands,
# take it off that list and off the "Not available yet" notes.
TOOL_MENTION = {
    "monitor": r"\bmonitor\b",
    "replay": r"\blightbus replay\b|\band replay\b|\breplay (?:reads?|all)\b",
}


def test_the_docs_say_which_commands_do_not_exist_yet():
    from lightbus.cli import COMMANDS

    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    for page in pages:
        text = " ".join(page.read_text().split())  # mentions may span lines
        for name in re.findall(r"`lightbus ([a-z]+)", text):
            assert name in COMMANDS or name in PLANNED, f"{page.name}: lightbus {name}"
        for name in PLANNED:
            assert name not in COMMANDS, f"lightbus {name} exists: drop it from PLANNED"
            if re.search(TOOL_MENTION[name], text):
                assert "not available yet" in text.lower(), f"{page.name} mentions {name}"
    reference = (ROOT / "docs" / "reference" / "cli.md").read_text()
    if PLANNED:
        notes = reference.split("## Not available yet", 1)[1].split("\n## ", 1)[0]
        assert all(f"`lightbus {name}`" in notes for name in PLANNED)
    else:
        assert "## Not available yet" not in reference


def test_the_delivery_page_names_every_reliability_test_and_only_tests_that_exist():
    page = (ROOT / "docs" / "explanation" / "delivery.md").read_text()
    named = set(re.findall(r"`(test_[a-z0-9_]+)`", page))
    defined: dict[str, set[str]] = {}
    for path in (ROOT / "tests").glob("test_*.py"):
        found = set(re.findall(r"^(?:async )?def (test_[a-z0-9_]+)", path.read_text(), re.M))
        defined[path.name] = found
    every = set().union(*defined.values())
    assert named - every == set(), "named on the page but not defined"
    reliability = set().union(
        *(tests for name, tests in defined.items() if name.startswith("test_reliability_"))
    )
    assert reliability - named == set(), "reliability tests the page does not name"


def test_a_pipe_in_code_in_a_table_cell_shows_without_its_escape():
    import runpy

    hook = runpy.run_path(str(ROOT / "docs" / "hooks" / "table_pipes.py"))["on_page_content"]
    cell = "<td><code>--schema FILE\\|DIR</code> or <code>X \\| None</code></td>"
    block = '<pre><code>grep "a\\|b"</code></pre>'  # outside a table: left as written
    assert (
        hook(cell + block)
        == "<td><code>--schema FILE|DIR</code> or <code>X | None</code></td>" + block
    )
