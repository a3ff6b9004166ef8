"""The small screens over the others: the ``/`` filter prompt and ``?`` help."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Input, Static

from lightbus_tools.monitor.filters import TERMS, FilterError, parse_filter
from lightbus_tools.monitor.widgets.statusbar import VIEWS

EXAMPLES = 'e.g.  status:error   api:sales name:order_*   -status:ok   "order 42"'


class FilterPrompt(ModalScreen[str | None]):
    """Asks for a filter; dismisses with its text (checked), or None on ``esc``."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, current: str) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt"):
            yield Static("Filter  (enter applies, esc cancels, empty clears; ? lists terms)")
            yield Input(value=self.current, placeholder="status:error api:sales ...", id="filter")
            yield Static(EXAMPLES, id="problem")
        yield Footer(compact=True)

    def on_input_changed(self, event: Input.Changed) -> None:
        problem = self.query_one("#problem", Static)
        try:
            parse_filter(event.value)
        except FilterError as exc:
            problem.update(Text(str(exc), "bold red"))
        else:
            problem.update(Text(EXAMPLES, "dim"))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            parse_filter(event.value)
        except FilterError:
            return  # the message under the input says what is wrong
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class HelpScreen(ModalScreen[None]):
    """Every key that works on the screen below, the views, and the filter language."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "dismiss", "Close"),
    ]

    def __init__(self, under: Screen[object]) -> None:
        super().__init__()
        self.under = under

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(self._keys())
            yield Static(self._filters())
        yield Footer(compact=True)

    def _keys(self) -> Table:
        table = Table(title="Keys here", title_justify="left", box=None, show_header=False)
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column()
        seen = set()
        for active in self.under.active_bindings.values():
            binding = active.binding
            if binding.action not in _own_actions(active.node) or not active.enabled:
                continue  # textual's own keys (scrolling sideways, focus...) are noise here
            if not binding.description or binding.description in seen:
                continue
            if binding.action.startswith("view("):
                continue  # listed with the views below
            seen.add(binding.description)
            table.add_row(self.app.get_key_display(binding), binding.description)
        table.add_row("", "")
        for _, key, title in VIEWS:
            table.add_row(key, f"go to {title}")
        return table

    def _filters(self) -> Table:
        table = Table(title="\nFilter terms (/)", title_justify="left", box=None, show_header=False)
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column()
        for key, meaning in TERMS.items():
            table.add_row(f"{key}:", meaning)
        table.add_row('word, "a phrase"', "text in the payload or the error")
        table.add_row("-term", "negates a term, e.g. -status:ok")
        table.add_row("a,b  *", "either value; a wildcard in names")
        return table


def _own_actions(node: object) -> set[str]:
    """The actions the monitor's own classes bind on ``node`` (not those textual adds)."""
    actions = set()
    for cls in type(node).__mro__:
        if cls.__module__.startswith("lightbus_tools."):
            for binding in cls.__dict__.get("BINDINGS", []):
                actions.add(binding.action if isinstance(binding, Binding) else binding[1])
    return actions
