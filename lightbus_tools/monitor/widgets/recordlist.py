"""The live feed's table: draws only the rows on screen, straight from the model's buffer.

A Line API widget (``ScrollView``): its first line is the column titles, which stay put;
its virtual height is one more than the number of records in view, and
:meth:`RecordList.render_line` builds the one row a screen line shows, so a buffer of
100,000 records costs a redraw no more than one of 20. The cursor stays on the newest
record while it is at the top; moved down, it stays on its record as new ones arrive
above it (the rows on screen do not jump).
"""

from __future__ import annotations

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from lightbus_tools.monitor import cells
from lightbus_tools.monitor.model import MonitorModel
from lightbus_tools.monitor.source import TraceRecord
from lightbus_tools.monitor.widgets.columns import Column, fitting

STATUS_STYLE = {
    "ok": Style(color="green"),
    "error": Style(color="red", bold=True),
    "dead": Style(color="magenta", bold=True),
    "expired": Style(color="yellow"),
    "timeout": Style(color="yellow"),
}
NAME_STYLE = Style(bold=True)


# In cell order: time, step, api.name, service/listener, status, queued, handler, id.
COLUMNS = (
    Column("time", 12),
    Column("step", 19),
    Column("api.name", 18, flexible=True),
    Column("service/listener", 10, drop=1, flexible=True),
    Column("status", 7),
    Column("queued", 7, drop=3),
    Column("handler", 7),
    Column("message", 8, drop=2),
)
WIDE = 100  # from this width on, times show milliseconds


def fit(text: str, width: int) -> str:
    """``text`` padded or cut (with an ellipsis) to exactly ``width`` cells."""
    if cell_len(text) > width:
        return set_cell_size(text, max(0, width - 1)) + "…" if width else ""
    return set_cell_size(text, width)


class RecordList(ScrollView, can_focus=True):
    """The records of the model's feed, newest first."""

    DEFAULT_CSS = """
    RecordList {
        background: $surface;
    }
    RecordList > .recordlist--cursor {
        background: $accent 40%;
    }
    RecordList:focus > .recordlist--cursor {
        background: $accent;
    }
    RecordList > .recordlist--header {
        text-style: bold;
        color: $text-muted;
    }
    """
    COMPONENT_CLASSES = {"recordlist--cursor", "recordlist--header"}
    BINDINGS = [
        Binding("up,k", "move(-1)", "Up", show=False),
        Binding("down,j", "move(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home,g", "top", "Newest", show=False),
        Binding("end,G", "bottom", "Oldest", show=False),
        Binding("enter", "open", "Open"),
    ]

    class Opened(Message):
        """Enter on a record."""

        def __init__(self, record: TraceRecord) -> None:
            super().__init__()
            self.record = record

    def __init__(self, model: MonitorModel, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.model = model
        self.cursor = 0
        self._shown = model.buffer.shown
        self._millis = False
        self._columns = fitting(COLUMNS, 80)
        # Drawn rows by (record, is it the cursor's): under a firehose every row moves down
        # on each redraw, and most were already drawn once. Cleared when the look changes.
        self._lines: dict[tuple[str, bool], Strip] = {}
        self._styles: tuple[Style, Style, Style] | None = None
        self._cell_styles: dict[tuple[Style, str], Style] = {}

    # ------------------------------------------------------------ following the model

    def model_changed(self) -> None:
        """New records (or a new filter): keep the cursor's record, redraw."""
        buffer = self.model.buffer
        added, self._shown = buffer.shown - self._shown, buffer.shown
        total = len(buffer)
        if added and self.cursor > 0:
            self.cursor += added
            self.scroll_to(y=self.scroll_offset.y + added, animate=False, immediate=True)
        self.cursor = max(0, min(self.cursor, total - 1))
        self.virtual_size = Size(self.size.width, total + 1)
        self.refresh()

    def reset(self) -> None:
        """Back to the newest record (after the filter changed)."""
        self._shown = self.model.buffer.shown
        self.cursor = 0
        self.virtual_size = Size(self.size.width, len(self.model.buffer) + 1)
        self.scroll_to(y=0, animate=False, immediate=True)
        self.refresh()

    @property
    def selected(self) -> TraceRecord | None:
        buffer = self.model.buffer
        return buffer.newest(self.cursor) if self.cursor < len(buffer) else None

    def on_resize(self) -> None:
        self._forget_lines()
        width = self.size.width
        self._millis = width >= WIDE
        time = Column("time", 12 if self._millis else 8)
        self._columns = fitting((time, *COLUMNS[1:]), width)
        self.virtual_size = Size(self.size.width, len(self.model.buffer) + 1)

    def on_focus(self) -> None:
        self._forget_lines()  # the cursor's colour differs with focus

    def on_blur(self) -> None:
        self._forget_lines()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._forget_lines()

    def _forget_lines(self) -> None:
        self._lines.clear()
        self._styles = None
        self._cell_styles.clear()

    def header(self) -> str:
        return " ".join(fit(COLUMNS[i].title, w) for i, w in self._columns)

    # ------------------------------------------------------------ drawing

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if self._styles is None:
            plain = self.rich_style
            self._styles = (
                plain,
                plain + self.get_component_rich_style("recordlist--cursor"),
                plain + self.get_component_rich_style("recordlist--header"),
            )
        plain, under_cursor, titles = self._styles
        if y == 0:
            return Strip([Segment(self.header(), titles)]).adjust_cell_length(width, titles)
        index = self.scroll_offset.y + y - 1
        buffer = self.model.buffer
        if index >= len(buffer):
            return Strip.blank(width, plain)
        record = buffer.newest(index)
        key = (record.stream_id, index == self.cursor)
        line = self._lines.get(key)
        if line is None:
            if len(self._lines) > 8 * max(1, self.size.height):
                self._lines.clear()
            line = self._lines[key] = self._draw(record, under_cursor if key[1] else plain)
        return line

    def _draw(self, record: TraceRecord, base: Style) -> Strip:
        values = cells.live_cells(record, self.model.tz, millis=self._millis)
        segments = []
        for n, (i, column_width) in enumerate(self._columns):
            if n:
                segments.append(Segment(" ", base))
            style = base
            if i == 4:
                style = self._cell_style(base, values[i])
            elif i == 2:
                style = self._cell_style(base, "name")
            segments.append(Segment(fit(values[i], column_width), style))
        return Strip(segments).adjust_cell_length(self.size.width, base)

    def _cell_style(self, base: Style, look: str) -> Style:
        style = self._cell_styles.get((base, look))
        if style is None:
            extra = NAME_STYLE if look == "name" else STATUS_STYLE.get(look, Style())
            style = self._cell_styles[(base, look)] = base + extra
        return style

    # ------------------------------------------------------------ keys

    def action_move(self, step: int) -> None:
        self._go(self.cursor + step)

    def action_page(self, direction: int) -> None:
        self._go(self.cursor + direction * max(1, self.size.height - 2))

    def action_top(self) -> None:
        self._go(0)

    def action_bottom(self) -> None:
        self._go(len(self.model.buffer) - 1)

    def action_open(self) -> None:
        record = self.selected
        if record is not None:
            self.post_message(self.Opened(record))

    def _go(self, index: int) -> None:
        self.cursor = max(0, min(index, len(self.model.buffer) - 1))
        top, rows = self.scroll_offset.y, self.size.height - 1  # below the titles
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + rows:
            self.scroll_to(y=self.cursor - rows + 1, animate=False, immediate=True)
        self.refresh()
