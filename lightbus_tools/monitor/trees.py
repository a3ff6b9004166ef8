"""The causal tree of one trace, as the Trace screen shows it (pure Python).

:func:`trace_items` builds the tree with ``lightbus.build_tree`` and turns each message
into a :class:`TreeItem`: its label and status, what each listener did, and its time.

A message's *time* is how long it took to be dealt with: for an RPC, the caller's wait
(``rpc.returned``) when recorded, else the worker's; for an event, the slowest
listener's. A listener's time runs from the send to the end of its last attempt (that
attempt's queued plus handler time), so retries count. The **slowest path** is the chain
from a root down to a leaf whose times add up to the most; its items are marked ``slow``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from lightbus_tools.monitor.messages import HandlingRow, handling_row
from lightbus_tools.monitor.source import TraceNode, TraceRecord, build_tree


@dataclass
class TreeItem:
    message_id: str
    label: str  # "event sales.order_placed"
    status: str
    service: str
    replay_of: str
    time_ms: float
    handlings: list[HandlingRow]
    children: list[TreeItem] = field(default_factory=list)
    slow: bool = False

    def walk(self) -> Iterable[TreeItem]:
        yield self
        for child in self.children:
            yield from child.walk()


def trace_items(records: Iterable[TraceRecord]) -> list[TreeItem]:
    """The roots of the trace's tree, the slowest path marked."""
    roots = [_item(node) for node in build_tree(records)]
    if roots:
        slowest = max(roots, key=_path_ms)
        _mark(slowest)
    return roots


def _item(node: TraceNode) -> TreeItem:
    handlings = [handling_row(h) for h in node.handlings]
    if node.returned is not None:
        time_ms = node.returned.duration_ms
    else:
        time_ms = max((h.elapsed_ms for h in handlings), default=0.0)
    return TreeItem(
        message_id=node.id,
        label=node.label,
        status=node.status,
        service=node.sent.service,
        replay_of=node.sent.replay_of,
        time_ms=time_ms,
        handlings=handlings,
        children=[_item(child) for child in node.children],
    )


def _path_ms(item: TreeItem) -> float:
    return item.time_ms + max((_path_ms(c) for c in item.children), default=0.0)


def _mark(item: TreeItem) -> None:
    item.slow = True
    if item.children:
        _mark(max(item.children, key=_path_ms))


def find_item(roots: Iterable[TreeItem], message_id: str) -> TreeItem | None:
    for root in roots:
        for item in root.walk():
            if item.message_id == message_id:
                return item
    return None
