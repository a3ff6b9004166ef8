"""``lightbus shell``: a Python prompt with ``bus`` ready.

``bus`` is the project's bus (the bus module's ``bus``; a plain ``lightbus.create()`` if
there is no bus module), on the Redis a development command chooses (the embedded
server when needed). The APIs are listed on start: those defined locally and those live
on the bus (from the registry's schemas). Tab completion covers ``bus.<api>.<name>`` for
both, and blocking calls work at the prompt. The bus module's bus object is left as it is:
the prompt's ``bus`` is a view of it (:class:`ShellBus`) that adds the live APIs to
completion and passes everything else to the bus. IPython is used when it is installed (and
``--plain`` is not given); otherwise the standard REPL with readline completion.
"""

from __future__ import annotations

import argparse
import code
import contextlib
import rlcompleter
from typing import Any

from rich.console import Console
from rich.table import Table

import lightbus
from lightbus import Bus, BusModuleError, Settings
from lightbus.schema import live_schemas as read_live_schemas
from lightbus.workers import import_bus
from lightbus_tools import devsession


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bus",
        dest="module",
        metavar="MODULE",
        help="the bus module to import (default: LIGHTBUS_MODULE or 'bus')",
    )
    parser.add_argument(
        "--plain", action="store_true", help="the standard Python REPL even if IPython is installed"
    )
    devsession.add_arguments(parser)


def main(args: argparse.Namespace) -> int:
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    with devsession.development_redis(console, use_embedded=args.embedded, keep=args.keep):
        bus = load_bus(args.module or Settings.resolve().module, console)
        try:
            live = live_schemas(bus)
            console.print(api_table(bus, live))
            banner = (
                "`bus` is ready: bus.<api>.<rpc>(...) calls, bus.<api>.<event>.fire(...) "
                "fires. Tab completes. Ctrl-D exits."
            )
            namespace = {"bus": ShellBus(bus, live), "lightbus": lightbus}
            interact(namespace, banner, plain=args.plain)
        finally:
            bus.close()
    return 0


def load_bus(module: str, console: Console) -> Bus:
    """The bus module's bus; a plain bus, with a note, if the module does not import."""
    try:
        return import_bus(module)
    except BusModuleError as exc:
        console.print(f"lightbus: {exc}\nlightbus: using a plain `lightbus.create()` instead")
        return lightbus.create()


def live_schemas(bus: Bus) -> dict[str, dict[str, Any]]:
    """The schemas of every API live on the bus (empty if Redis does not answer)."""

    try:
        return bus.run(read_live_schemas(bus), "fetching the live schemas")
    except Exception:
        return {}


def api_table(bus: Bus, live: dict[str, dict[str, Any]]) -> Table:
    table = Table(title="APIs on the bus", title_justify="left", show_edge=False)
    table.add_column("api", style="bold")
    table.add_column("rpcs")
    table.add_column("events")
    table.add_column("where", style="dim")
    for name in sorted(set(bus.client.apis) | set(live)):
        local = bus.client.apis.get(name)
        if local is not None:
            rpcs, events = sorted(local.rpcs), sorted(local.events)
        else:
            rpcs, events = sorted(live[name].get("rpcs", {})), sorted(live[name].get("events", {}))
        where = "local" + (" + live" if name in live else "") if local is not None else "live"
        table.add_row(name, ", ".join(rpcs) or "-", ", ".join(events) or "-", where)
    if not table.row_count:
        table.add_row("(none yet: start a worker)", "", "", "")
    return table


class ShellBus:
    """The prompt's ``bus``: a view of the bus that also completes APIs live on the bus.

    ``bus.<api>.<name>`` reaches the same RPCs and events as on the bus itself (calls
    go through it); ``dir()`` adds the APIs, RPCs and events of the live schemas. Every
    other attribute (``client``, ``close``...) is the bus's own.
    """

    __slots__ = ("_bus", "_live")

    def __init__(self, bus: Bus, live: dict[str, dict[str, Any]]) -> None:
        self._bus = bus
        self._live = live

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if hasattr(type(self._bus), name) or name in vars(self._bus):
            return getattr(self._bus, name)
        return ShellPath(self, name)

    def __dir__(self) -> list[str]:
        return sorted(set(dir(self._bus)) | {a.split(".")[0] for a in self._live})

    def __repr__(self) -> str:
        return repr(self._bus)


class ShellPath:
    """``bus.<api>.<name>`` at the prompt: the bus's own path, with live names completed."""

    __slots__ = ("_path", "_shell")

    def __init__(self, shell: ShellBus, path: str) -> None:
        self._shell = shell
        self._path = path

    def _target(self) -> Any:
        target: Any = self._shell._bus
        for part in self._path.split("."):
            target = getattr(target, part)
        return target

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        target = self._target()
        if hasattr(type(target), name):  # call_async, fire, listen...
            return getattr(target, name)
        return ShellPath(self._shell, f"{self._path}.{name}")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._target()(*args, **kwargs)

    def __dir__(self) -> list[str]:
        names = set(dir(self._target()))
        live = self._shell._live
        schema = live.get(self._path, {})
        names |= set(schema.get("rpcs", {})) | set(schema.get("events", {}))
        prefix = self._path + "."
        names |= {a[len(prefix) :].split(".")[0] for a in live if a.startswith(prefix)}
        return sorted(names)

    def __repr__(self) -> str:
        return repr(self._target())

    def _is_rpc(self) -> bool:
        api, _, name = self._path.rpartition(".")
        local = self._shell._bus.client.apis.get(api)
        if local is not None:
            return name in local.rpcs
        return name in self._shell._live.get(api, {}).get("rpcs", {})


class _Completer(rlcompleter.Completer):
    """The standard completer, but ``(`` only after an RPC: an API or event is not called."""

    def _callable_postfix(self, val: Any, word: str) -> str:
        if isinstance(val, ShellPath) and not val._is_rpc():
            return word
        return str(super()._callable_postfix(val, word))  # type: ignore[misc]


def interact(namespace: dict[str, Any], banner: str, *, plain: bool) -> None:
    if not plain:
        try:
            import IPython
        except ImportError:
            pass
        else:
            print(banner)
            # Jedi completes from static analysis; dir() is what knows bus.<api>.<name>.
            IPython.start_ipython(
                argv=[
                    "--no-banner",
                    "--IPCompleter.use_jedi=False",
                    "--IPCompleter.evaluation=unsafe",
                ],
                user_ns=namespace,
            )
            return
    with contextlib.suppress(ImportError):
        import readline

        readline.set_completer(_Completer(namespace).complete)
        readline.parse_and_bind("tab: complete")
    code.interact(banner=banner, local=namespace, exitmsg="")
