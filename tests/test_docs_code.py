"""Every code block in the docs runs, or is checked against what it names.

- A Python block (``python``, ``pycon``) holds only ``--8<-- "FILE[:SECTION]"`` lines: the
  site includes a file from ``examples/`` or ``docs/snippets/``, and a test runs that file
  (for ``docs/snippets/NAME``, a test file names ``NAME``; for ``examples/X/``, a test file
  names the example's folder).
- A ``lightbus ...`` command, in any block or inline code of the docs and the READMEs,
  names a real command, subcommand and options (tests/clidefs.py asks the CLI's own
  parsers); an option named in a section about a command is one of its options.
- A TOML block is a configuration the bus accepts.

See docs/explanation/documentation.md.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import clidefs
import pytest
from conftest import ROOT
from docblocks import DOCS, PYTHON, blocks, inline_code, pages, prose, sections

import lightbus

SNIPPETS = DOCS / "snippets"
TESTS = sorted((ROOT / "tests").glob("test_*.py"))


def source_of_tests() -> str:
    return "\n".join(path.read_text() for path in TESTS)


def python_block_problems(page: Path, tested: str) -> list[str]:
    """What is wrong with the Python blocks of ``page``; ``tested`` is the tests' text."""
    problems = []
    for block in blocks(page):
        if block.lang not in PYTHON:
            continue
        includes = block.includes()
        if not includes:
            problems.append(
                f"{block.where}: a Python block written in the page; put the code in "
                f"docs/snippets/ (or use an example's file), run it from a test, and include "
                f'it with --8<-- "docs/snippets/NAME"'
            )
        for path, section in includes:
            problems += include_problems(block.where, path, section, tested)
    return problems


def include_problems(where: str, path: str, section: str | None, tested: str) -> list[str]:
    file = ROOT / path
    if not path.startswith(("examples/", "docs/snippets/")):
        return [f"{where}: includes {path}, which is not under examples/ or docs/snippets/"]
    if not file.is_file():
        return [f"{where}: includes {path}, which does not exist"]
    problems = []
    if section and f"--8<-- [start:{section}]" not in file.read_text():
        problems.append(f"{where}: {path} has no section {section!r}")
    if path.startswith("docs/snippets/"):
        if file.name not in tested:
            problems.append(f"{where}: no test names {file.name}, so nothing runs {path}")
    else:
        example = Path(path).parts[1]
        patterns = (f'"examples" / "{example}"', f"examples.{example}", f"examples/{example}")
        if not any(pattern in tested for pattern in patterns):
            problems.append(f"{where}: no test runs examples/{example}")
    return problems


def test_every_python_block_is_included_from_a_file_a_test_runs():
    tested = source_of_tests()
    problems = [p for page in pages() for p in python_block_problems(page, tested)]
    assert problems == [], "\n".join(problems)


def test_the_python_block_check_refuses_code_written_in_a_page(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n```python\nprint('hello')\n```\n\n"
        '```pycon\n--8<-- "docs/snippets/quickstart.pycon"\n```\n\n'
        '```python\n--8<-- "docs/snippets/nothing.py"\n```\n\n'
        '```py\n--8<-- "lightbus/cli.py"\n```\n\n'
        '```python\n--8<-- "examples/company/sales.py:nosuchsection"\n```\n'
    )
    problems = python_block_problems(page, tested="quickstart.pycon examples.company")
    assert [p.split(": ", 1)[1][:30] for p in problems] == [
        "a Python block written in the ",
        "includes docs/snippets/nothing",
        "includes lightbus/cli.py, whic",
        "examples/company/sales.py has ",
    ]
    assert python_block_problems(page, tested="examples.company")[1].endswith(
        "no test names quickstart.pycon, so nothing runs docs/snippets/quickstart.pycon"
    )


def test_every_snippet_is_shown_on_a_page_and_run_by_a_test():
    shown = "\n".join(page.read_text() for page in pages(include_readmes=True))
    tested = source_of_tests()
    for file in sorted(p for p in SNIPPETS.rglob("*") if p.is_file()):
        path = file.relative_to(ROOT).as_posix()
        assert f'"{path}' in shown, f"{path} is on no page"
        assert file.name in tested, f"no test runs {path}"


def command_problems(text: str, known: list[clidefs.Command]) -> list[str]:
    return [p for line in clidefs.command_lines(text) for p in clidefs.check_command(line, known)]


def test_every_lightbus_command_in_the_docs_is_a_real_command_with_real_options():
    known = clidefs.commands()
    problems = []
    for page in pages(include_readmes=True):
        for block in blocks(page):
            if block.lang not in PYTHON:
                problems += [f"{block.where}: {p}" for p in command_problems(block.body, known)]
        for code in inline_code(prose(page)):
            if code.startswith("lightbus "):
                problems += [f"{page.name}: {p}" for p in clidefs.check_command(code, known)]
    assert problems == [], "\n".join(problems)


def test_the_command_check_catches_a_wrong_command_or_option():
    known = clidefs.commands()
    text = "$ lightbus inspect --stepp event.failed\nlightbus frob\nlightbus trace --json x\n"
    assert command_problems(text, known) == [
        "'lightbus inspect --stepp event.failed': lightbus inspect has no --stepp",
        "'lightbus frob': lightbus has no command 'frob'",
    ]


def section_option_problems(page: Path, known: list[clidefs.Command]) -> list[str]:
    """Options in inline code (`--bus MODULE`) under a heading that names commands
    (``## `lightbus run` ``, or a heading above it) must be options of those commands, or
    of a command the section's text names."""
    by_name = {command.name: command for command in known}
    problems = []
    for headings, text in sections(page):
        titles = "\n".join(headings)
        named = {name for name in by_name if re.search(rf"`{re.escape(name)}(?=[ `])", titles)}
        if not named:
            continue
        mentioned = {name for name in by_name if re.search(rf"`{re.escape(name)}(?=[ `])", text)}
        valid = set().union(*(by_name[name].option_strings() for name in named | mentioned))
        for code in inline_code(text + "\n" + "\n".join(headings[-1:])):
            word = code.split()[0].split("=", 1)[0]
            if word.startswith("--") and word not in valid:
                problems.append(f"{page.name} § {headings[-1]}: `{code}` is not an option of "
                                f"{', '.join(sorted(named))}")  # fmt: skip
    return problems


def test_options_in_a_section_about_commands_are_options_of_those_commands():
    known = clidefs.commands()
    problems = [
        p for page in pages(include_readmes=True) for p in section_option_problems(page, known)
    ]
    assert problems == [], "\n".join(problems)


def test_the_section_check_catches_an_option_a_command_does_not_have(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "# Ref\n\n## `lightbus trace`\n\n| `--json` | ok |\n| `--follow` | wrong |\n\n"
        "### Detail\n\n`--tracebacks` is fine, `--bus MODULE` is not.\n\n"
        "## Elsewhere\n\n`--follow` of `lightbus inspect`: not a heading, not checked.\n"
    )
    problems = section_option_problems(page, clidefs.commands())
    assert problems == [
        "page.md § `lightbus trace`: `--follow` is not an option of lightbus trace",
        "page.md § Detail: `--bus MODULE` is not an option of lightbus trace",
    ]


@pytest.mark.parametrize(
    "page", [p for p in pages() if any(b.lang == "toml" for b in blocks(p))], ids=lambda p: p.name
)
def test_toml_blocks_are_configurations_the_bus_accepts(page, tmp_path, monkeypatch):
    for block in blocks(page):
        if block.lang != "toml":
            continue
        tomllib.loads(block.body)
        (tmp_path / "pyproject.toml").write_text(block.body)
        values = lightbus.Settings.from_file(tmp_path)  # a wrong key or type raises ConfigError
        assert values, f"{block.where}: no [tool.lightbus] settings"
        lightbus.Settings(**values)
