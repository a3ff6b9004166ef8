"""The replay confirmation: says exactly what will be sent and to whom, then asks.

The Message, Trace and Dead letters screens bind ``r`` (replay) and ``R`` (redrive) to
:func:`replay_flow`: the source plans it through ``lightbus.replay`` / ``lightbus.redrive``
(the code of ``lightbus replay``), this screen states the plan, and it is sent only when
the screen is dismissed with True. A refusal (a trimmed or redacted original, a payload
the current schema rejects...) is shown here as the reason, with nothing to send.
``--readonly`` hides both keys.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from lightbus_tools.monitor.messages import ReplayPlan
from lightbus_tools.monitor.source import Prepared, SourceUnavailable


class ConfirmReplay(ModalScreen[bool]):
    """Dismissed with True (``y``: send) or False (``n``, ``esc``)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "send", "Send"),
        Binding("n,escape", "cancel", "Cancel"),
    ]

    def __init__(self, plan: ReplayPlan) -> None:
        super().__init__()
        self.plan = plan

    def compose(self) -> ComposeResult:
        plan = self.plan
        parts: list[RenderableType] = [
            Text.assemble(
                ("Replay ", "bold"), (plan.label, "bold"), "  ", (plan.original_id, "cyan")
            ),
        ]
        if plan.targets:  # (a refused replay has none: only why it is refused)
            parts += [
                Text("\nIt will send to:", "bold"),
                *[Text(f"  {target}") for target in plan.targets],
                Text("\nthese arguments:", "bold"),
                Syntax(plan.payload or "{}", "json", theme="ansi_dark", background_color="default"),
            ]
        if plan.notes:
            parts.append(Text(""))
            parts.extend(Text(f"  {note}", "dim") for note in plan.notes)
        if plan.blockers:
            parts.append(Text("\nIt cannot be sent as it is:", "bold red"))
            parts.extend(Text(f"  {blocker}", "red") for blocker in plan.blockers)
            parts.append(Text("\nn / esc  close", "bold"))
        else:
            parts.append(Text("\ny  send        n / esc  cancel", "bold"))
        with VerticalScroll(id="confirm"):
            yield Static(Group(*parts))
        yield Footer(compact=True)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "send":
            return not self.plan.blockers
        return True

    def action_send(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)


async def replay_flow(
    app: Any,
    source: Any,
    prepare: Awaitable[Prepared],
    sent: Callable[[list[str]], None] | None = None,
) -> list[str]:
    """Plan, confirm, send (run in a worker: it waits for the confirmation). The new
    message ids; [] when cancelled, refused or Redis is unreachable."""
    try:
        prepared = await prepare
    except SourceUnavailable as exc:
        app.notify(f"Cannot plan the replay: {exc}", severity="error")
        return []
    if not await app.push_screen_wait(ConfirmReplay(prepared.view)):
        return []
    try:
        ids = await source.send(prepared)
    except SourceUnavailable as exc:
        app.notify(f"The replay was not sent: {exc}", severity="error")
        return []
    shown = ", ".join(ids[:3]) + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")
    app.notify(f"Sent {len(ids)} replay{'s' if len(ids) != 1 else ''}: {shown}", timeout=8)
    if sent is not None:
        sent(ids)
    return ids
