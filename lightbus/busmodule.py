"""Loading the user's bus module: the module ``lightbus run`` (and the tools) import.

:func:`import_bus` imports it (from the working directory too) and returns the
:class:`~lightbus.Bus` it defines; a module that is missing or fails to import becomes
a :class:`~lightbus.errors.BusModuleError` that says where, and
:func:`import_failure` / :func:`user_frames` show only the user's frames of it.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from lightbus import context
from lightbus.errors import BusModuleError
from lightbus.facade import Bus


@contextlib.contextmanager
def worker_import() -> Iterator[None]:
    """While the worker imports the bus module: listeners registered then start with the
    worker rather than at once."""
    token = context.importing_for_worker.set(True)
    try:
        yield
    finally:
        context.importing_for_worker.reset(token)


def import_bus(module_name: str) -> Bus:
    """Import the bus module and return the bus it defines (its ``bus`` attribute)."""
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        with worker_import():
            module = importlib.import_module(module_name)
    except Exception as exc:
        missing = isinstance(exc, ModuleNotFoundError) and (
            exc.name == module_name or module_name.startswith(f"{exc.name}.")
        )
        if missing:
            # No cause: none of the user's code ran, there is no traceback to show.
            raise BusModuleError(
                f"Cannot find the bus module {module_name!r} (looked in {os.getcwd()} and "
                f"on sys.path). Pass --bus MODULE or set LIGHTBUS_MODULE.",
                module=module_name,
            ) from None
        where = _where(exc)
        raise BusModuleError(
            f"The bus module {module_name!r} failed to import: {type(exc).__name__}: {exc}"
            + (f" ({where})" if where else ""),
            module=module_name,
        ) from exc
    bus = getattr(module, "bus", None)
    if not isinstance(bus, Bus):
        found = [name for name, value in vars(module).items() if isinstance(value, Bus)]
        if len(found) != 1:
            raise BusModuleError(
                f"The bus module {module_name!r} defines no `bus = lightbus.create()`.",
                module=module_name,
            )
        bus = getattr(module, found[0])
    return bus


def user_frames(tb: TracebackType | None) -> TracebackType | None:
    """``tb`` without its leading frames of the import machinery and of Lightbus."""
    while tb is not None and _machinery(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    return tb


def import_failure(exc: BaseException) -> str:
    """The traceback of an exception raised while importing the bus module, as text.

    Only the user's frames are shown (not the import machinery's, not Lightbus's): the
    user's code failed, and these lines say where.
    """
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not _machinery(f.filename)]
    lines = ["Traceback (most recent call last):\n", *traceback.format_list(frames)]
    return "".join((lines if frames else []) + traceback.format_exception_only(type(exc), exc))


def _machinery(filename: str) -> bool:
    return filename.startswith(("<frozen ", _IMPORTLIB, _RUNTIME))


def _where(exc: BaseException) -> str:
    """``file, line N`` of the user's line that raised ``exc``."""
    if isinstance(exc, SyntaxError):
        return ""  # its text says where already
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not _machinery(f.filename)]
    return f"{_shown(frames[-1].filename)}, line {frames[-1].lineno}" if frames else ""


def _shown(filename: str) -> str:
    path = Path(filename)
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd()))
    return filename


_IMPORTLIB = str(Path(importlib.__file__).parent) + os.sep
_RUNTIME = str(Path(__file__).parent) + os.sep
