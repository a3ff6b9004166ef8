"""The `lightbus` command's own definitions, for the docs: every command, subcommand and option.

The parsers are built as ``lightbus.cli.main`` builds them: one per entry of
``lightbus.cli.COMMANDS``, filled by that command module's ``add_arguments``, so a command
added later is covered without a change here. From them:

- :func:`reference` renders docs/reference/commands.md (tests/test_docs_cli.py keeps the
  page equal to it);
- :func:`check_command` says what is wrong with a ``lightbus ...`` line written in the
  docs: an unknown command or subcommand, an option the command does not have.
"""

from __future__ import annotations

import argparse
import importlib
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass

from lightbus.cli import COMMANDS

# Commands the design promises that do not exist yet; tests/test_docs.py holds their
# mentions to "not available yet". Lines naming them are not checked against a parser.
PLANNED: tuple[str, ...] = ()
GLOBAL_OPTIONS = ("--version", "--help", "-h")


@dataclass(frozen=True)
class Command:
    words: tuple[str, ...]  # ("schema", "check")
    parser: argparse.ArgumentParser
    help: str

    @property
    def name(self) -> str:
        return " ".join(("lightbus", *self.words))

    @property
    def arguments(self) -> list[argparse.Action]:
        return [
            action
            for action in self.parser._actions
            if not isinstance(action, argparse._HelpAction | argparse._SubParsersAction)
        ]

    def subcommands(self) -> dict[str, argparse.ArgumentParser]:
        for action in self.parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                return dict(action.choices)
        return {}

    def option_strings(self) -> set[str]:
        return set(self.parser._option_string_actions)


def commands() -> list[Command]:
    """Every command and subcommand, in the order of ``COMMANDS``."""
    found: list[Command] = []
    for name, (module_name, help_text) in COMMANDS.items():
        parser = argparse.ArgumentParser(prog=f"lightbus {name}", description=help_text)
        importlib.import_module(module_name).add_arguments(parser)
        found.extend(_walk(Command((name,), parser, help_text)))
    return found


def _walk(command: Command) -> Iterator[Command]:
    yield command
    helps = {}
    for action in command.parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
    for word, parser in command.subcommands().items():
        yield from _walk(Command((*command.words, word), parser, helps.get(word, "")))


# ------------------------------------------------------------------ the reference page

HEADER = """\
# Every command and option

<!-- Generated from the command's own definitions (lightbus/cli.py COMMANDS and each
command module's add_arguments) by tests/clidefs.py; tests/test_docs_cli.py fails when
this page differs. Refresh: UPDATE_GOLDEN=1 python -m pytest tests/test_docs_cli.py -->

This page is generated from the definitions the `lightbus` command itself parses, so it
lists every command and every option of this version, with the help text that
`lightbus COMMAND --help` prints. What the commands do, with examples, is in
[the command line](cli.md), [`inspect` and `trace`](cli-inspect.md) and
[`call` and `fire`](cli-send.md).

Every command takes `-h`/`--help`. `lightbus --version` prints the installed version.
"""


def reference() -> str:
    parts = [HEADER]
    for command in commands():
        level = "#" * (1 + len(command.words))
        parts.append(f"\n{level} `{command.name}`\n\n{_sentence(command.help)}\n")
        parts.append(f"\n```text\n{usage(command)}\n```\n")
        rows = [_row(action) for action in command.arguments]
        if rows:
            parts.append("\n| argument | meaning | default |\n|---|---|---|\n")
            parts.append("".join(rows))
        subcommands = command.subcommands()
        if subcommands:
            names = ", ".join(f"`{word}`" for word in subcommands)
            parts.append(f"\nSubcommands: {names}.\n")
    return "".join(parts)


def usage(command: Command) -> str:
    """``lightbus NAME [options] POSITIONALS``, wrapped at 88 columns."""
    words: list[str] = []
    grouped = {
        id(action): group
        for group in command.parser._mutually_exclusive_groups
        for action in group._group_actions
    }
    shown: set[int] = set()
    for action in command.arguments:
        group = grouped.get(id(action))
        if group is not None:
            if id(group) in shown:
                continue
            shown.add(id(group))
            words.append("[" + " | ".join(_synopsis(a) for a in group._group_actions) + "]")
        elif action.option_strings:
            words.append(f"[{_synopsis(action)}]")
        else:
            words.append(_synopsis(action))
    if command.subcommands():
        words.append("SUBCOMMAND ...")
    lines = [command.name]
    for word in words:
        if len(lines[-1]) + 1 + len(word) > 88:
            lines.append(" " * len(command.name))
        lines[-1] += " " + word
    return "\n".join(lines)


def _synopsis(action: argparse.Action) -> str:
    if action.option_strings:
        flag = max(action.option_strings, key=len)
        return flag if action.nargs == 0 else f"{flag} {_metavar(action)}"
    metavar = _metavar(action)
    if action.nargs == "?":
        return f"[{metavar}]"
    if action.nargs == "*":
        return f"[{metavar} ...]"
    if action.nargs == "+":
        return f"{metavar} [{metavar} ...]"
    return metavar


def _metavar(action: argparse.Action) -> str:
    if action.metavar is not None:
        return str(action.metavar)
    if action.choices is not None:
        return "{" + ",".join(map(str, action.choices)) + "}"
    return action.dest.upper() if action.option_strings else action.dest


def _row(action: argparse.Action) -> str:
    if action.option_strings:
        names = ", ".join(sorted(action.option_strings, key=len))
        cell = names if action.nargs == 0 else f"{names} {_metavar(action)}"
    else:
        cell = _metavar(action)
    meaning = _sentence((action.help or "") % {"default": action.default, "prog": ""})
    if action.choices is not None and action.metavar is not None:
        meaning += " One of " + ", ".join(f"`{c}`" for c in action.choices) + "."
    if isinstance(action, argparse._AppendAction) and "repeatable" not in meaning.lower():
        meaning += " Repeatable."
    default = ""
    if action.default not in (None, False, [], "", argparse.SUPPRESS) and action.nargs != 0:
        default = f"`{action.default}`"
    return f"| `{_escape(cell)}` | {_escape(meaning)} | {default} |\n"


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return (text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")) if text else ""


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


# ------------------------------------------------------------------ lines written in docs

COMMAND_START = re.compile(r"(?:^|\$ |\$\(|&& |; |\| )((?:python -m )?lightbus(?: [^|;&)]*)?)")


def command_lines(text: str) -> list[str]:
    """The ``lightbus ...`` commands in a block of shell or console text, one per command."""
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("#"):
            continue
        for match in COMMAND_START.finditer(line):
            command = match.group(1).split(" #", 1)[0].split(" > ", 1)[0].strip()
            found.append(command.removeprefix("python -m "))
    return found


def check_command(line: str, known: list[Command] | None = None) -> list[str]:
    """What is wrong with ``lightbus ...`` as written in the docs ([] if nothing).

    Placeholders (``<id>``, ``API.NAME``), optional parts in brackets and ``...`` are fine:
    only the command, its subcommands and the option names are checked.
    """
    known = commands() if known is None else known
    by_words = {command.words: command for command in known}
    words = _words(line)
    if words[:1] != ["lightbus"]:
        return []
    rest = words[1:]
    while rest and rest[0] in GLOBAL_OPTIONS:
        rest = rest[1:]
    if not rest or not re.fullmatch(r"[a-z][a-z-]*", rest[0]):
        return []  # `lightbus --version`, or output such as "lightbus trace: error: ..."
    if rest[0] in PLANNED:
        return []
    if (rest[0],) not in by_words:
        return [f"{line!r}: lightbus has no command {rest[0]!r}"]
    chosen = (rest[0],)
    problems = []
    positionals: list[str] = []
    words_left = iter(rest[1:])
    for word in words_left:
        command = by_words[chosen]
        if word.startswith("-") and word != "-" and not re.fullmatch(r"-\d.*", word):
            for option in word.split("=", 1)[0].split("/"):
                action = _option(known, chosen, option)
                if action is None:
                    problems.append(f"{line!r}: {command.name} has no {option}")
                elif action.nargs != 0 and "=" not in word and "/" not in word:
                    next(words_left, None)  # the option's value
        elif (*chosen, word) in by_words:
            chosen = (*chosen, word)
            positionals = []
        elif command.subcommands() and not positionals:
            if re.fullmatch(r"[a-z][a-z-]*", word):
                problems.append(f"{line!r}: {command.name} has no subcommand {word!r}")
            positionals.append(word)
        else:
            choices = _positional_choices(command, len(positionals))
            if choices and re.fullmatch(r"[a-z][a-z-]*", word) and word not in choices:
                problems.append(f"{line!r}: {command.name} takes one of {sorted(choices)}")
            positionals.append(word)
    return problems


def _option(known: list[Command], chosen: tuple[str, ...], option: str) -> argparse.Action | None:
    """The action of ``option`` in the chosen command or one of its parents."""
    for command in known:
        if command.words == chosen[: len(command.words)]:
            action = command.parser._option_string_actions.get(option)
            if action is not None:
                return action
    return None


def _positional_choices(command: Command, index: int) -> list[str]:
    positional = [a for a in command.arguments if not a.option_strings]
    if index < len(positional) and positional[index].choices is not None:
        return [str(choice) for choice in positional[index].choices]
    return []


def _words(line: str) -> list[str]:
    cleaned = re.sub(r"\.\.\.|[\[\]{}]", " ", line)
    try:
        return shlex.split(cleaned)
    except ValueError:
        return cleaned.split()
