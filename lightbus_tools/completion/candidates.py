"""What can come next on a ``lightbus`` command line: the completion candidates.

The words typed so far are walked through the argparse definition of the command they
name (its module's ``add_arguments``, nested subcommands included), which says whether
the word being completed is a command, an option, an option's value or a positional,
and what its choices are. Values that argparse does not know come from the bus
(:class:`~lightbus_tools.completion.names.Names`): the ``api.name`` of ``lightbus call``
(RPCs) and ``lightbus fire`` (events), their ``key=`` parameters, and ``--api`` and
``--name`` of ``lightbus inspect``. Where nothing is known (a file name, a number) there
are no candidates, and the shell falls back to its own (file names).
"""

from __future__ import annotations

import argparse
import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lightbus_tools.send.runtime import COMMANDS

if TYPE_CHECKING:
    from lightbus_tools.completion.names import Names

Candidate = tuple[str, str]  # (value, description)

TOP_OPTIONS = [("--help", "show the commands"), ("--version", "print the version")]
SECTION = {"call": "rpcs", "fire": "events"}  # what a command's API.NAME names


@dataclass
class Position:
    """Where the word being completed stands, after walking the words before it."""

    command: str
    parser: argparse.ArgumentParser
    option: argparse.Action | None = None  # the option whose value is being typed
    positional: argparse.Action | None = None  # the positional being typed
    values: dict[str, list[str]] = field(default_factory=dict)  # by dest, so far
    names: Names | None = None

    def bus(self) -> Names:
        """The bus's names, looked up on first use (with the --bus and --redis-url given)."""
        if self.names is None:
            # Only now: the names need redis-py and the bus module, slow to import.
            from lightbus_tools.completion.names import Names

            self.names = Names(_last(self, "module"), _last(self, "redis_url"))
        return self.names


def complete(words: list[str], names: Names | None = None) -> list[Candidate]:
    """The candidates for the last of ``words`` (the words after ``lightbus``)."""
    *before, current = words or [""]
    if "=" in current:
        return []  # a value of key=value or --option=value: nothing to offer
    command = next((w for w in before if not w.startswith("-")), None)
    if command is None:
        if current.startswith("-"):
            return _matching(TOP_OPTIONS, current)
        return _matching([(name, help_) for name, (_, help_) in COMMANDS.items()], current)
    if command not in COMMANDS:
        return []
    position = walk(command, before[before.index(command) + 1 :])
    position.names = names
    if position.option is not None:
        return _matching(_option_values(position), current)
    if current.startswith("-"):
        return _matching(_options(position.parser), current)
    return _matching(_positional_values(position), current)


def walk(command: str, words: list[str]) -> Position:
    """Walk ``words`` (after the command) through the command's argparse definition."""
    parser = argparse.ArgumentParser(prog=f"lightbus {command}", add_help=True)
    importlib.import_module(COMMANDS[command][0]).add_arguments(parser)
    position = Position(command, parser)
    positionals = _positionals(parser)
    option: argparse.Action | None = None
    waiting = 0  # values still owed to that option
    for word in words:
        if option is not None and waiting:
            waiting -= 1
            position.values.setdefault(option.dest, []).append(word)
            continue
        if word.startswith("-") and len(word) > 1:
            name, equals, _ = word.partition("=")
            action = parser._option_string_actions.get(name)
            if action is not None and not equals and _takes_value(action):
                option, waiting = action, _arity(action)
            continue
        if not positionals:
            continue
        action = positionals[0]
        if isinstance(action, argparse._SubParsersAction):
            chosen = action.choices.get(word)
            if chosen is None:
                positionals = []
                continue
            parser = position.parser = chosen
            positionals = _positionals(chosen)
            continue
        position.values.setdefault(action.dest, []).append(word)
        if action.nargs not in ("*", "+", argparse.REMAINDER):
            positionals.pop(0)
    position.option = option if waiting else None
    position.positional = positionals[0] if positionals else None
    return position


def _positionals(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if not a.option_strings]


def _takes_value(action: argparse.Action) -> bool:
    return action.nargs != 0


def _arity(action: argparse.Action) -> int:
    return action.nargs if isinstance(action.nargs, int) else 1


def _last(position: Position, dest: str) -> str | None:
    given = position.values.get(dest)
    return given[-1] if given else None


def _options(parser: argparse.ArgumentParser) -> list[Candidate]:
    found = []
    for action in parser._actions:
        if not action.option_strings or action.help == argparse.SUPPRESS:
            continue
        long = [o for o in action.option_strings if o.startswith("--")]
        for option in long or action.option_strings:
            found.append((option, _first_line(action.help)))
    return found


def _option_values(position: Position) -> list[Candidate]:
    action = position.option
    assert action is not None
    if action.choices is not None:
        return [(str(choice), "") for choice in action.choices]
    if position.command == "inspect" and action.dest == "api":
        return [(api, "API") for api in position.bus().apis()]
    if position.command == "inspect" and action.dest == "name":
        names = position.bus().names(_last(position, "api"))
        return [(name, "RPC or event") for name in names]
    return []


def _positional_values(position: Position) -> list[Candidate]:
    action = position.positional
    if action is None:
        return []
    if isinstance(action, argparse._SubParsersAction):
        helps = {a.dest: a.help or "" for a in action._choices_actions}
        return [(name, helps.get(name, "")) for name in action.choices]
    if action.choices is not None:
        return [(str(choice), "") for choice in action.choices]
    section = SECTION.get(position.command)
    if section is None:
        return []
    what = "RPC" if section == "rpcs" else "event"
    if action.dest == "target":
        return [(target, what) for target in position.bus().targets(section)]
    if action.dest == "arguments":
        target = _last(position, "target")
        given = {pair.partition("=")[0] for pair in position.values.get("arguments", [])}
        params = position.bus().parameters(section, target) if target else []
        return [(f"{param}=", about) for param, about in params if param not in given]
    return []


def _matching(candidates: list[Candidate], prefix: str) -> list[Candidate]:
    return sorted({c for c in candidates if c[0].startswith(prefix)})


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if text else ""
