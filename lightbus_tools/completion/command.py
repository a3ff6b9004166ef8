"""``lightbus completion SHELL`` and the ``lightbus __complete`` entry its scripts call.

``lightbus __complete [--] WORD...`` takes the words after ``lightbus``, the last one
being the word under the cursor (empty at a new word); ``lightbus __complete --line
LINE`` takes the command line up to the cursor instead (bash, whose own words are split
at ``=`` and ``:``). It prints one candidate per line, ``value<TAB>description``, and
always exits 0: a completion never prints an error into the user's prompt.
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import sys

from lightbus_tools.completion import candidates
from lightbus_tools.completion.scripts import SCRIPTS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "shell",
        choices=sorted(SCRIPTS),
        help="the shell to print the script for (see docs/how-to/shell-completion.md)",
    )


def main(args: argparse.Namespace) -> int:
    sys.stdout.write(SCRIPTS[args.shell])
    return 0


def complete(argv: list[str]) -> int:
    """Print the candidates for the words in ``argv`` (see the module's description)."""
    if argv[:1] == ["--line"]:
        words = split_line(argv[1] if len(argv) > 1 else "")[1:]  # without `lightbus`
    else:
        words = argv[1:] if argv[:1] == ["--"] else argv
    found: list[candidates.Candidate] = []
    with contextlib.suppress(Exception, SystemExit):  # a completion that fails offers nothing
        found = candidates.complete(words)
    for value, description in found:
        sys.stdout.write(f"{value}\t{description}\n" if description else f"{value}\n")
    return 0


def split_line(line: str) -> list[str]:
    """The words of a command line as the shell will pass them; the last one is the word
    under the cursor ("" after a space)."""
    try:
        words = shlex.split(line)
    except ValueError:  # an open quote: the cursor is inside it
        words = line.split()
    if not line or line[-1].isspace():
        words.append("")
    return words
