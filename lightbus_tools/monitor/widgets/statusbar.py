"""The monitor's header: where you are, what you filter, whether it is live and connected.

Two lines at the top of every screen::

     1 Live  2 APIs  3 Workers  4 Backlog  5 Dead letters              read-only
     ● live   filter: status:error                 connected  redis://127.0.0.1:6379/0

The views are numbered with the key that opens them; the current one stands out.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.widget import Widget

from lightbus_tools.monitor.model import MonitorModel

VIEWS = (
    ("live", "1", "Live"),
    ("apis", "2", "APIs"),
    ("workers", "3", "Workers"),
    ("backlog", "4", "Backlog"),
    ("dead", "5", "Dead letters"),
)
LINK_STYLE = {"connected": "green", "connecting": "yellow", "disconnected": "bold red"}


class StatusBar(Widget):
    DEFAULT_CSS = """
    StatusBar {
        height: 2;
        background: $panel;
        color: $foreground;
    }
    """

    def __init__(self, model: MonitorModel, view: str) -> None:
        super().__init__()
        self.model = model
        self.view = view

    def render(self) -> RenderableType:
        model = self.model
        tabs = Text(" ")
        for name, key, title in VIEWS:
            style = "bold reverse" if name == self.view else ""
            tabs.append(f"{key} {title}", style=style)
            tabs.append("  ")
        flags = Text("read-only ", style="bold yellow") if model.options.readonly else Text("")
        state = model.feed_state()
        feed = Text(f" ● {state}" if state == "live" else f" ‖ {state}")
        feed.stylize("green" if state == "live" else "bold yellow")
        text = model.filter.text
        shown = Text(f"filter: {text}", style="bold cyan") if text else Text("/ to filter", "dim")
        link = Text(model.link.describe(model.clock()), LINK_STYLE.get(model.link.state, ""))
        if model.options.where:
            link.append(f"  {model.options.where}", style="dim")
        return Group(_line(tabs, flags), _line(Text.assemble(feed, "   ", shown), link))


def _line(left: Text, right: Text) -> Table:
    """One line: ``left``, and ``right`` against the right edge (cut first when narrow)."""
    grid = Table.grid(expand=True)
    grid.add_column(no_wrap=True, overflow="ellipsis")
    grid.add_column(justify="right", no_wrap=True, overflow="ellipsis", ratio=1)
    grid.add_row(left, right)
    return grid
