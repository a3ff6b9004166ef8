"""Creating the bus: :func:`create`, which ``lightbus.create`` is.

``from lightbus.creation import create`` is the import path of Lightbus 1.x and keeps
working. ``create(flask=True)`` is 1.x's guard for Flask's development server: with the
reloader on (``flask run --debug``, ``--reload``, or ``FLASK_DEBUG=1``), Flask runs the
app in a child process and keeps a parent process that only watches files. Both import
the app, and so the bus module. In the parent, the bus made by ``create(flask=True)`` is
dormant: APIs register and ``listen()`` records its listener as usual, but it starts no
listener, opens no connection and starts no thread; firing or calling there raises
a ``RuntimeError`` that says why. In the child (``WERKZEUG_RUN_MAIN``
is ``true``), and whenever no reloader runs, it is an ordinary bus.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from lightbus.errors import ConfigError
from lightbus.facade import Bus
from lightbus.facade import create as _create_bus

__all__ = ["create", "in_flask_reloader_parent"]

T = TypeVar("T")

_FALSE = {"", "0", "false", "no", "off"}

# Arguments of Lightbus 1.x's create() that have no counterpart here.
_ONLY_IN_1X = {
    "config": "its configuration dict",
    "config_file": "its YAML or JSON configuration file",
    "plugins": "its plugins",
    "features": "its feature switches",
    "client_class": "a custom client class",
    "node_class": "a custom path class",
}


def create(*, flask: bool = False, **settings: Any) -> Bus:
    """Create a bus. Settings: keyword arguments > ``LIGHTBUS_*`` env > config file.

    ``flask=True``: in the parent process of Flask's reloader the bus stays dormant (see
    the module's docs); everywhere else this is the ordinary bus.
    """
    if not isinstance(flask, bool):
        raise TypeError(f"create(flask=...) takes True or False, got {flask!r}")
    for key, what in _ONLY_IN_1X.items():
        if key in settings:
            raise ConfigError(
                f"create({key}=...) is Lightbus 1.x's argument for {what}. Here settings are "
                f"keyword arguments of create() (redis_url=, service_name=...), LIGHTBUS_* "
                f"environment variables, or lightbus.toml / [tool.lightbus] in pyproject.toml: "
                f"see docs/how-to/migrate-from-1x.md.",
                key=key,
            )
    bus = _create_bus(**settings)
    if flask and in_flask_reloader_parent():
        return DormantBus(bus.client)
    return bus


def in_flask_reloader_parent(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> bool:
    """Whether this process is the parent of Flask's reloader (``flask run`` with it on).

    The child that serves requests has ``WERKZEUG_RUN_MAIN=true``. The parent is a
    ``flask run`` (or ``python -m flask run``) process without it whose reloader is on:
    ``--reload``, or debug mode (``--debug`` or ``FLASK_DEBUG``) without ``--no-reload``.
    """
    argv = list(sys.argv if argv is None else argv)
    environ = os.environ if environ is None else environ
    if environ.get("WERKZEUG_RUN_MAIN", "").lower() == "true" or not argv:
        return False
    program = Path(argv[0])
    is_flask = program.name == "flask" or (
        program.name == "__main__.py" and program.parent.name == "flask"
    )
    if not is_flask or "run" not in argv[1:]:
        return False
    if "--no-reload" in argv:
        return False
    if "--reload" in argv:
        return True
    if "--no-debug" in argv:
        return False
    return "--debug" in argv or environ.get("FLASK_DEBUG", "").lower() not in _FALSE


class DormantBus(Bus):
    """A bus that never starts: made by ``create(flask=True)`` in Flask's reloader parent."""

    def run(self, coro: Coroutine[Any, Any, T], what: str) -> T:
        coro.close()
        if what.endswith(".listen()"):
            # The listener stays registered (a worker started from this process would run
            # it); only starting it now is skipped.
            return None  # type: ignore[return-value]
        raise _not_started(what)

    async def run_async(self, coro: Coroutine[Any, Any, T]) -> T:
        coro.close()
        raise _not_started("the bus")

    def close(self) -> None:
        return None


def _not_started(what: str) -> RuntimeError:
    return RuntimeError(
        f"{what}: this process is the parent of Flask's reloader, where a bus made with "
        f"lightbus.create(flask=True) does not start. Flask serves requests from its child "
        f"process, where the bus works as usual."
    )
