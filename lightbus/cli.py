"""The ``lightbus`` command.

``lightbus run`` is part of the runtime. Every other command lives in ``lightbus_tools``
and is imported only when it is the one being run, so ``lightbus run`` never loads the
TUI or the file watcher. A tool module provides ``add_arguments(parser)`` and
``main(args) -> int``; one whose positional list may continue after options (``lightbus
call a.b --timeout 3 n=5``) names that list in ``EXTRA_ARGUMENTS``.

``lightbus __complete WORD...`` is the shell completion's entry (``lightbus completion``
prints the scripts that call it); it is not listed in the help.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any

from lightbus import __version__
from lightbus.errors import LightbusError

__all__ = ["COMMANDS", "main"]

# name -> (module providing add_arguments/main, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("lightbus.run_command", "run a worker: serve RPCs, listeners and schedules"),
    "dev": ("lightbus_tools.dev", "development loop: embedded Redis, reloading worker, live feed"),
    "monitor": ("lightbus_tools.monitor.command", "watch the bus live in a terminal UI"),
    "inspect": ("lightbus_tools.inspect", "query the trace stream"),
    "trace": ("lightbus_tools.tracetree", "show the causal tree of one message or trace"),
    "replay": ("lightbus_tools.replay", "re-send a recorded message, or a range, linked to it"),
    "deadletters": ("lightbus_tools.deadletters", "list, show, redrive or purge dead letters"),
    "call": ("lightbus_tools.send.call", "call an RPC and print its result"),
    "fire": ("lightbus_tools.send.fire", "fire an event; --wait for its listeners' outcome"),
    "dumpschema": ("lightbus_tools.dumpschema", "print the schema of local and live APIs"),
    "schema": ("lightbus_tools.schemacheck", "compare two schemas: breaking or compatible"),
    "shell": ("lightbus_tools.shell", "a Python prompt with `bus` ready"),
    "embedded": ("lightbus_tools.embedded_command", "status, start or stop the embedded Redis"),
    "completion": ("lightbus_tools.completion.command", "print a shell completion script"),
}
COMPLETE = "__complete"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lightbus`` command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == [COMPLETE]:
        code: int = _load("lightbus_tools.completion.command").complete(argv[1:])
        return code
    parser = argparse.ArgumentParser(
        prog="lightbus", description="Lightbus: a message bus for Python apps sharing one Redis."
    )
    parser.add_argument("--version", action="version", version=f"lightbus {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", prog="lightbus")
    chosen = next((a for a in argv if not a.startswith("-")), None)
    module = None
    for name, (module_name, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            module = _load(module_name)
            module.add_arguments(command_parser)
    args, extra = parser.parse_known_args(argv)
    spill = getattr(module, "EXTRA_ARGUMENTS", None)
    if extra and spill and not any(word.startswith("-") for word in extra):
        getattr(args, spill).extend(extra)
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command is None or module is None:
        parser.print_help()
        return 2
    try:
        code = module.main(args)
        return code
    except LightbusError as exc:
        print(f"lightbus {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _load(module_name: str) -> Any:
    return importlib.import_module(module_name)


if __name__ == "__main__":
    sys.exit(main())
