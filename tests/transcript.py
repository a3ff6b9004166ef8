"""Run a Python prompt session from the docs as a person would type it, and check its output.

A transcript (``docs/snippets/*.pycon``) is what a prompt shows: ``>>>`` and ``...`` lines
typed, the rest printed. Each statement runs as the interactive interpreter runs it
(compiled in ``single`` mode, so an expression's value is printed), and everything written
to stdout meanwhile counts, also from the bus's own threads: a listener that prints does
so a moment after ``fire()`` returns, so the expected output is polled for, with a
deadline, before the next statement runs. ``...`` in the expected output matches anything
(doctest's ELLIPSIS), and an expected traceback matches on its last line.

Run as ``python tests/transcript.py FILE`` in the folder the transcript is typed in; it
exits 0, or 1 after printing the first statement whose output differs.
"""

from __future__ import annotations

import doctest
import io
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
WAIT_SECONDS = 10.0


class Screen(io.TextIOBase):
    """Stands for the terminal: collects what any thread prints."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parts: list[str] = []

    def write(self, text: str) -> int:
        with self._lock:
            self._parts.append(text)
        return len(text)

    def take(self) -> str:
        with self._lock:
            return "".join(self._parts)

    def clear(self) -> None:
        with self._lock:
            self._parts.clear()


def run(text: str, *, wait: float = WAIT_SECONDS) -> str | None:
    """Run the transcript; None if every output matched, else what went wrong."""
    examples = doctest.DocTestParser().get_examples(text)
    if not examples:
        return "no >>> statement in the transcript"
    checker = doctest.OutputChecker()
    namespace: dict[str, Any] = {"__name__": "__main__"}
    screen = Screen()
    real_stdout = sys.stdout
    sys.stdout = screen
    try:
        for example in examples:
            screen.clear()
            raised = _execute(example.source, namespace)
            if example.exc_msg is not None:
                if raised is None:
                    return _report(example, "no exception")
                if not _exception_matches(checker, example.exc_msg, raised):
                    return _report(example, raised)
                continue
            if raised is not None:
                return _report(example, f"{screen.take()}Traceback (most recent call last):\n"
                               f"  ...\n{raised}")  # fmt: skip
            deadline = time.monotonic() + wait
            while not checker.check_output(example.want, screen.take(), FLAGS):
                if time.monotonic() > deadline:
                    return _report(example, screen.take())
                time.sleep(0.02)
    finally:
        sys.stdout = real_stdout
        _close_buses(namespace)
    return None


def _execute(source: str, namespace: dict[str, Any]) -> str | None:
    """Run one statement as the prompt does; the exception's last line if it raised."""
    try:
        exec(compile(source, "<stdin>", "single"), namespace)
    except Exception as exc:
        return traceback.format_exception_only(exc)[-1]
    return None


def _exception_matches(checker: doctest.OutputChecker, want: str, got: str) -> bool:
    # The prompt prints lightbus.errors.RemoteError; the docs may say RemoteError.
    name, _, message = got.partition(":")
    short = f"{name.rsplit('.', 1)[-1]}:{message}"
    return any(checker.check_output(want, line, FLAGS) for line in (got, short))


def _report(example: doctest.Example, got: str) -> str:
    typed = "".join(
        f"{'>>> ' if i == 0 else '... '}{line}\n"
        for i, line in enumerate(example.source.rstrip("\n").splitlines())
    )
    want = (example.want or example.exc_msg or "").rstrip("\n")
    return f"{typed}expected:\n{want or '(nothing)'}\ngot:\n{got.rstrip(chr(10)) or '(nothing)'}"


def _close_buses(namespace: dict[str, Any]) -> None:
    import lightbus

    for value in namespace.values():
        if isinstance(value, lightbus.Bus):
            value.close()


if __name__ == "__main__":
    problem = run(Path(sys.argv[1]).read_text())
    if problem is not None:
        print(problem, file=sys.stderr)
    sys.exit(0 if problem is None else 1)
