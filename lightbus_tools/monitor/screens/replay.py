"""The replay confirmation: says exactly what will be sent and to whom, then asks.

Only the screen exists in this phase. Replay itself arrives with issue 14's
``lightbus.replay``; the Message, Trace and Dead letters screens will bind ``r`` to build
a :class:`~lightbus_tools.monitor.messages.ReplayPlan` through the source, push this
screen, and send only when it is dismissed with True. ``--readonly`` hides ``r``.
"""

from __future__ import annotations

from typing import ClassVar

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from lightbus_tools.monitor.messages import ReplayPlan


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
            Text("\nIt will send these arguments:", "bold"),
            Syntax(plan.payload or "{}", "json", theme="ansi_dark", background_color="default"),
            Text("\nto:", "bold"),
            *[Text(f"  {target}") for target in plan.targets],
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
