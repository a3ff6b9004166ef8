"""How ``lightbus call`` and ``fire`` print: for a person (rich) or a program (JSON).

For a person, the result of a call goes to stdout as JSON (strings quoted, so types
show) and the line naming the message and its trace goes to stderr, so
``x=$(lightbus call ...)`` captures the result alone; errors go to stderr. ``fire`` prints
its message line to stdout, then each listener's outcome as it is read.

For a program (``--output json``), every run prints exactly one JSON object on stdout,
whatever happened, with a ``status``: ``ok``, ``sent``, ``error``, ``timeout``,
``failed`` or ``invalid`` (see docs/reference/cli-send.md).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.text import Text

from lightbus_tools.send.outcome import DEAD, FAILED, HANDLED, ListenerOutcome


@dataclass
class Sent:
    """A message that went out (``id`` is empty when it could not be learnt)."""

    api: str
    name: str
    id: str = ""
    trace_id: str = ""
    duration_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"api": self.api, "name": self.name, "id": self.id, "trace_id": self.trace_id}


class ProgramReport:
    """``--output json``: one JSON object on stdout per run."""

    def called(self, sent: Sent, result: Any) -> None:
        self._emit(sent, "ok", result=result, duration_ms=round(sent.duration_ms, 3))

    def remote_error(self, sent: Sent, remote_type: str, message: str, traceback: str) -> None:
        error = {"type": remote_type, "message": message, "traceback": traceback}
        self._emit(sent, "error", error=error)

    def timed_out(self, sent: Sent, timeout: float, served: bool | None, text: str) -> None:
        self._emit(sent, "timeout", timeout=timeout, served=served, error={"message": text})

    def fired(self, sent: Sent, *, waiting: bool) -> None:
        if not waiting:  # else the one object comes with waited()
            self._emit(sent, "sent")

    def outcome(self, outcome: ListenerOutcome) -> None:
        pass  # all of them come with waited()

    def waited(self, sent: Sent, outcomes: list[ListenerOutcome], timeout: float) -> None:
        self._emit(
            sent,
            overall(outcomes),
            timeout=timeout,
            listeners=[o.to_dict() for o in outcomes],
        )

    def refused(self, status: str, error_type: str, message: str, sent: Sent | None) -> None:
        fields = sent.to_dict() if sent is not None else {}
        fields.update(status=status, error={"type": error_type, "message": message})
        _write(fields)

    def _emit(self, sent: Sent, status: str, **fields: Any) -> None:
        _write({**sent.to_dict(), "status": status, **fields})


class PersonReport:
    """The default: rich text for a terminal."""

    def __init__(self) -> None:
        self.out = Console(highlight=False, soft_wrap=True)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)

    def called(self, sent: Sent, result: Any) -> None:
        self.out.print_json(json.dumps(result, ensure_ascii=False))
        self.err.print(_ids(sent, f"{sent.duration_ms:.1f} ms"))

    def remote_error(self, sent: Sent, remote_type: str, message: str, traceback: str) -> None:
        line = Text(f"{sent.api}.{sent.name} raised ", style="bold red")
        line.append(f"{remote_type}: {message}", style="bold")
        self.err.print(line)
        if traceback:
            self.err.print(Text("Remote traceback:\n" + traceback.rstrip(), style="dim"))
        self.err.print(_ids(sent))

    def timed_out(self, sent: Sent, timeout: float, served: bool | None, text: str) -> None:
        self.err.print(Text(text, style="bold yellow"))
        self.err.print(_ids(sent))

    def fired(self, sent: Sent, *, waiting: bool) -> None:
        line = Text(f"fired {sent.api}.{sent.name}  ", style="bold")
        self.out.print(line + _ids(sent))

    def outcome(self, outcome: ListenerOutcome) -> None:
        self.out.print(_outcome_line(outcome))
        handling = outcome.handling
        if outcome.outcome == DEAD and handling is not None and handling.traceback:
            self.out.print(Text(_indent(handling.traceback), style="dim"))

    def waited(self, sent: Sent, outcomes: list[ListenerOutcome], timeout: float) -> None:
        if not outcomes:
            self.out.print(
                Text(f"no listener: nothing listens to {sent.api}.{sent.name}", style="yellow")
            )
            return
        for outcome in outcomes:
            if not outcome.done:
                self.out.print(_pending_line(outcome, timeout))
        counts: dict[str, int] = {}
        for outcome in outcomes:
            counts[outcome.outcome] = counts.get(outcome.outcome, 0) + 1
        summary = ", ".join(f"{n} {word.replace('_', '-')}" for word, n in counts.items())
        self.out.print(Text(f"{len(outcomes)} listener(s): {summary}", style="bold"))

    def refused(self, status: str, error_type: str, message: str, sent: Sent | None) -> None:
        self.err.print(Text(message, style="bold red"))
        if sent is not None and sent.id:
            self.err.print(_ids(sent))


def overall(outcomes: list[ListenerOutcome]) -> str:
    """``ok`` (all handled), ``failed`` (one failed), else ``timeout`` (one pending)."""
    if any(o.outcome in (FAILED, DEAD) for o in outcomes):
        return "failed"
    if all(o.outcome == HANDLED for o in outcomes):
        return "ok"
    return "timeout"


def _ids(sent: Sent, extra: str = "") -> Text:
    text = Text(style="dim")
    text.append(f"message {sent.id or '(unknown: tracing is off)'}")
    if sent.trace_id:
        text.append(f"  trace {sent.trace_id}")
    if extra:
        text.append(f"  {extra}")
    return text


def _outcome_line(outcome: ListenerOutcome) -> Text:
    """One attempt's outcome, as it is read: the last record of the listener."""
    record = outcome.records[-1]
    text = Text("  ")
    text.append(outcome.group, style="bold")
    by = f"by {record.handled_by or '?'}"
    if outcome.outcome == HANDLED:
        text.append("  handled", style="green")
        text.append(f" in {record.duration_ms:.1f} ms (attempt {record.attempt}, {by})", "dim")
    elif outcome.outcome == FAILED:
        text.append("  failed", style="bold red")
        text.append(f" (attempt {record.attempt}, {by})", style="dim")
    else:
        text.append("  dead-lettered", style="bold magenta")
        text.append(f" after {record.attempt} attempt(s) ({by})", style="dim")
    if record.error_type:
        text.append(f": {record.error_type}: {record.error}")
    return text


def _pending_line(outcome: ListenerOutcome, timeout: float) -> Text:
    text = Text("  ")
    text.append(outcome.group, style="bold")
    where = ""
    if outcome.records:
        where = f" since its failed attempt {outcome.records[-1].attempt}"
    text.append(f"  no final outcome within {timeout:g}s{where}: ", style="yellow")
    if outcome.live:
        text.append("a live worker runs this listener; the event waits its turn or a retry")
    else:
        text.append("no live worker runs this listener; start one with `lightbus run`")
    return text


def _indent(text: str) -> str:
    return "\n".join("      " + line for line in text.rstrip().splitlines())


def _write(value: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()
