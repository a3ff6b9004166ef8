"""mkdocs hook: a `|` inside code in a table cell is written `\\|` (or the cell would split
there), and Python-Markdown keeps the backslash inside the code; drop it."""

from __future__ import annotations

import re
from typing import Any

CELL = re.compile(r"<td[^>]*>.*?</td>", re.S)
CODE = re.compile(r"<code>.*?</code>", re.S)


def on_page_content(html: str, **_: Any) -> str:
    def cell(match: re.Match[str]) -> str:
        return CODE.sub(lambda code: code.group(0).replace("\\|", "|"), match.group(0))

    return CELL.sub(cell, html)
