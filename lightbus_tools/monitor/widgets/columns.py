"""Which columns of a table fit the terminal's width, so 80 columns stay readable.

Each :class:`Column` says the width its content usually needs and when it is dropped:
columns with the highest ``drop`` go first, then the next, until the rest fit; a column
with ``drop=0`` always stays. Flexible columns share whatever width is left over.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    title: str
    width: int  # the width its content usually needs (at least that of the title)
    drop: int = 0  # dropped first when the screen is narrow (highest first); 0: never
    flexible: bool = False  # shares the width left over
    most: int = 0  # a table cuts longer content to this width (0: never cuts)


def fitting(columns: Sequence[Column], width: int, gap: int = 1) -> list[tuple[int, int]]:
    """(index, width) of the columns that fit ``width``, left to right; ``gap`` cells
    separate two columns."""
    shown = list(range(len(columns)))

    def least(indexes: list[int]) -> int:
        return sum(columns[i].width for i in indexes) + gap * (len(indexes) - 1)

    for level in sorted({c.drop for c in columns if c.drop}, reverse=True):
        if least(shown) <= width:
            break
        shown = [i for i in shown if columns[i].drop != level]
    spare = max(0, width - least(shown))
    flexible = [i for i in shown if columns[i].flexible]
    widths = {i: columns[i].width for i in shown}
    for n, i in enumerate(flexible):
        widths[i] += spare // len(flexible) + (1 if n < spare % len(flexible) else 0)
    return [(i, widths[i]) for i in shown]
