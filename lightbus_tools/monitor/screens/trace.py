"""Trace: the causal tree of one trace, each message with its status, listeners and time.

The slowest path (see ``trees``) is marked ``◆``; ``enter`` on a message opens it. The
cursor starts on the message the screen was opened from.
"""

from __future__ import annotations

import time
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static, Tree
from textual.widgets.tree import TreeNode

from lightbus_tools.monitor import cells
from lightbus_tools.monitor.messages import HandlingRow
from lightbus_tools.monitor.screens.base import Context, MonitorScreen, OpenMessage
from lightbus_tools.monitor.source import SourceUnavailable
from lightbus_tools.monitor.trees import TreeItem, trace_items

STATUS_STYLE = {"ok": "green", "error": "bold red", "dead": "bold magenta", "expired": "yellow"}


class TraceScreen(MonitorScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        # priority: before the tree's own (hidden) enter, so the footer names it
        Binding("enter", "open", "Open message", priority=True),
        Binding("r", "replay", "Replay"),
    ]

    def __init__(
        self, context: Context, trace_id: str, near_ms: int | None, focus: str = ""
    ) -> None:
        super().__init__(context)
        self.trace_id = trace_id
        self.near_ms = near_ms
        self.focus_id = focus
        self.roots: list[TreeItem] = []
        self.follow_until = 0.0  # after a replay from here: re-read until then

    def compose_body(self) -> ComposeResult:
        yield Static(f"trace {self.trace_id}: reading ...", id="title")
        tree: Tree[str] = Tree("trace", id="tree")
        tree.show_root = False
        tree.auto_expand = False  # enter opens the message; it does not fold the node
        yield tree

    def on_mount(self) -> None:
        self.query_one(Tree).focus()
        self.load()
        self.set_interval(1.0, self._follow)

    def _follow(self) -> None:
        if time.monotonic() < self.follow_until:
            self.load()

    @work(exclusive=True, group="trace")
    async def load(self) -> None:
        try:
            source = self.context.source
            records = await source.trace(self.trace_id, self.near_ms)
            # The trace is read near one time: a replay sent long after its original (or
            # the original of one) can fall outside it. Both are read by their ids.
            ids = {r.id for r in records}
            for original in {r.replay_of for r in records if r.replay_of} - ids:
                records += await source.records_of(original)
            ids = {r.id for r in records}
            records += [
                r
                for r in self.model.buffer.records
                if r.replay_of in ids and r.trace_id == self.trace_id and r.id not in ids
            ]
        except SourceUnavailable as exc:
            self.query_one("#title", Static).update(
                Text(f"cannot read the trace now: {exc}", "bold red")
            )
            return
        self.show(trace_items(records))

    def show(self, roots: list[TreeItem]) -> None:
        self.roots = roots
        count = sum(1 for root in roots for _ in root.walk())
        title = Text.assemble(
            ("trace ", "bold"),
            (self.trace_id, "blue"),
            f"  {count} message{'s' if count != 1 else ''}",
            ("   ◆ slowest path", "yellow"),
        )
        self.query_one("#title", Static).update(title)
        tree: Tree[str] = self.query_one(Tree)
        tree.clear()
        focus_node: TreeNode[str] | None = None
        for root in roots:
            found = _add(tree.root, root, self.focus_id)
            focus_node = focus_node or found
        tree.root.expand_all()
        if focus_node is not None:  # once the tree has laid out its lines
            self.call_after_refresh(tree.move_cursor, focus_node, animate=False)
        if not roots:
            tree.root.add_leaf(Text("No record of this trace in the stream (trimmed?)", "yellow"))

    def action_open(self) -> None:
        node = self.query_one(Tree).cursor_node
        if node is not None and node.data:
            self.post_message(OpenMessage(node.data))

    def action_replay(self) -> None:
        node = self.query_one(Tree).cursor_node
        if node is not None and node.data:
            self.focus_id = node.data
            self.run_replay(self.context.source.plan_replay(node.data))

    def replayed(self) -> None:
        self.follow_until = time.monotonic() + 30
        self.load()

    def can(self, action: str) -> bool | None:
        if action == "replay":
            node = self.query_one(Tree).cursor_node
            return node is not None and bool(node.data)
        return True

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[str]) -> None:
        self.refresh_bindings()

    def on_tree_node_selected(self, event: Tree.NodeSelected[str]) -> None:
        event.stop()  # a click: enter is handled by action_open
        if event.node.data:
            self.post_message(OpenMessage(event.node.data))


def _add(parent: TreeNode[str], item: TreeItem, focus: str) -> TreeNode[str] | None:
    node = parent.add(_label(item), data=item.message_id, expand=True)
    found = node if item.message_id == focus else None
    for handling in item.handlings:
        node.add_leaf(_handling(handling))
    for child in item.children:
        found = _add(node, child, focus) or found
    return found


def _label(item: TreeItem) -> Text:
    text = Text()
    text.append("◆ " if item.slow else "  ", "yellow")
    text.append(item.label, "bold")
    text.append(f"  {item.status}", STATUS_STYLE.get(item.status, ""))
    if item.time_ms:
        text.append(f"  {cells.duration(item.time_ms)}", "yellow" if item.slow else "dim")
    if item.service:
        text.append(f"  from {item.service}", "dim")
    if item.replay_of:
        text.append(f"  replay of {cells.short_id(item.replay_of)}", "bold yellow")
    text.append(f"  {cells.short_id(item.message_id)}", "cyan")
    return text


def _handling(line: HandlingRow) -> Text:
    text = Text()
    text.append(f"{line.listener}: ", "dim")
    text.append(line.status, STATUS_STYLE.get(line.status, ""))
    if line.attempts > 1:
        text.append(f" after {line.attempts} attempts", "yellow")
    text.append(
        f"  queued {cells.duration(line.queued_ms)}, ran {cells.duration(line.duration_ms)}", "dim"
    )
    if line.error_text:
        text.append(f"  {line.error_text.splitlines()[0]}", "red")
    return text
