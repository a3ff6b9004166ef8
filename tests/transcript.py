"""Run a session from the docs as a person would type it, and check what it prints.

Two kinds of session: a Python prompt (:func:`run`) and a shell (:func:`run_console`).

A transcript (``docs/snippets/*.pycon``) is what a prompt shows: ``>>>`` and ``...`` lines
typed, the rest printed. Each statement runs as the interactive interpreter runs it
(compiled in ``single`` mode, so an expression's value is printed), and everything written
to stdout meanwhile counts, also from the bus's own threads: a listener that prints does
so a moment after ``fire()`` returns, so the expected output is polled for, with a
deadline, before the next statement runs. ``...`` in the expected output matches anything
(doctest's ELLIPSIS), and an expected traceback matches on its last line.

Run as ``python tests/transcript.py FILE [SECONDS]`` in the folder the transcript is typed
in (SECONDS: how long to wait for each expected output, default 10); it exits 0, or 1 after
printing the first statement whose output differs.
"""

from __future__ import annotations

import doctest
import io
import re
import shlex
import subprocess
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


# ------------------------------------------------------------------ a shell session

ID = r"[0-9a-f]{12,32}"


def run_console(
    text: str,
    *,
    cwd: Path,
    env: dict[str, str],
    seen: dict[str, str] | None = None,
    timeout: float = 30,
) -> str | None:
    """Run the ``$ lightbus ...`` commands of a console block; None if every output matched.

    The expected output may say ``...`` for anything. What changes from run to run matches
    any value of its kind: ids (12 to 32 hex digits), durations (``2.1 ms``), dates,
    clock times. An id
    that a command shows and a later command is given (in full, or its last 12 digits, as
    the tools print it) is replaced by the id this run showed there; pass the same ``seen``
    to the blocks of one page so that this holds across them.
    """
    seen = {} if seen is None else seen  # an id as the docs show it -> the one this run showed
    for command, want in _commands(text):
        words = [_swap(word, seen) for word in shlex.split(command)]
        if words[0] != "lightbus":
            return f"$ {command}\nonly lightbus commands are run"
        done = subprocess.run(
            [sys.executable, "-m", *words],
            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            timeout=timeout,
        )  # fmt: skip
        found = re.fullmatch(_pattern(want), done.stdout.strip(), re.S)
        if found is None:
            return f"$ {command}\nexpected:\n{want}\ngot:\n{done.stdout.rstrip()}"
        shown = re.findall(ID, re.sub(r"\.\.\.", "", want))
        seen.update(zip(shown, found.groups(), strict=True))
    return None


def _commands(text: str) -> list[tuple[str, str]]:
    found: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("$ "):
            found.append((line[2:], []))
        elif found:
            found[-1][1].append(line)
    return [(command, "\n".join(lines).strip()) for command, lines in found]


def _pattern(want: str) -> str:
    parts = []
    for piece in re.split(
        rf"(\.\.\.|{ID}|\d+(?:\.\d+)? (?:ms|s)\b|\d{{4}}-\d\d-\d\d|\d\d:\d\d:\d\d|\s+)", want
    ):
        if piece == "...":
            parts.append(".*?")
        elif re.fullmatch(ID, piece):
            parts.append(f"({ID})")
        elif re.fullmatch(r"\d+(?:\.\d+)? (?:ms|s)", piece):
            parts.append(r"\d+(?:\.\d+)? (?:ms|s)")
        elif re.fullmatch(r"\d{4}-\d\d-\d\d", piece):
            parts.append(r"\d{4}-\d\d-\d\d")
        elif re.fullmatch(r"\d\d:\d\d:\d\d", piece):  # a clock time
            parts.append(r"\d\d:\d\d:\d\d")
        elif piece and piece.isspace():
            parts.append(r"\s+")
        else:
            parts.append(re.escape(piece))
    return "".join(parts)


def _swap(word: str, seen: dict[str, str]) -> str:
    for shown, real in seen.items():
        if word == shown:
            return real
        if len(word) == 12 and shown.endswith(word):
            return real[-12:]
    return word


if __name__ == "__main__":
    wait = float(sys.argv[2]) if len(sys.argv) > 2 else WAIT_SECONDS
    problem = run(Path(sys.argv[1]).read_text(), wait=wait)
    if problem is not None:
        print(problem, file=sys.stderr)
    sys.exit(0 if problem is None else 1)
