"""Reading the docs' Markdown as the tests need it: code blocks, inline code, snippet includes.

Where a page's code comes from (docs/explanation/documentation.md): a Python block holds
only ``--8<-- "FILE"`` or ``--8<-- "FILE:SECTION"`` lines, and pymdownx.snippets puts the
file (or the part of it between ``--8<-- [start:SECTION]`` and ``--8<-- [end:SECTION]``)
there when the site is built. The files are under ``examples/`` or ``docs/snippets/``,
and a test runs each of them.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

from conftest import ROOT

DOCS = ROOT / "docs"
PYTHON = {"python", "py", "python3", "pycon"}
INCLUDE = re.compile(r'--8<--\s+"(?P<path>[^":]+)(?::(?P<section>[^"]+))?"')
FENCE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^\n`]*)\n"
    r"(?P<body>.*?)^(?P=indent)(?P=fence)[ \t]*$",
    re.M | re.S,
)
INLINE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    lang: str
    body: str  # dedented

    @property
    def where(self) -> str:
        page = self.page.relative_to(ROOT) if self.page.is_relative_to(ROOT) else self.page.name
        return f"{page}:{self.line}"

    def includes(self) -> list[tuple[str, str | None]]:
        """The (path, section) of each include line; [] if the block is not only includes."""
        lines = [line.strip() for line in self.body.splitlines() if line.strip()]
        found = [INCLUDE.fullmatch(line) for line in lines]
        if not lines or not all(found):
            return []
        return [(m["path"], m["section"]) for m in found if m]


def pages(include_readmes: bool = False) -> list[Path]:
    found = sorted(DOCS.rglob("*.md"))
    if include_readmes:
        found = [ROOT / "README.md", *sorted((ROOT / "examples").rglob("README.md")), *found]
    return found


def blocks(page: Path) -> list[Block]:
    text = page.read_text()
    return [
        Block(
            page=page,
            line=text.count("\n", 0, m.start()) + 1,
            lang=(m["info"].strip().split() or [""])[0].lstrip(".{").lower(),
            body=textwrap.dedent(m["body"]),
        )
        for m in FENCE.finditer(text)
    ]


def prose(page: Path) -> str:
    """The page without its fenced blocks."""
    return FENCE.sub("", page.read_text())


def inline_code(text: str) -> list[str]:
    return INLINE.findall(text)


def sections(page: Path) -> list[tuple[list[str], str]]:
    """Each section's heading path (the headings above it, outermost first) and its text."""
    found: list[tuple[list[str], str]] = []
    path: list[tuple[int, str]] = []
    current: list[str] = []
    for line in prose(page).splitlines():
        heading = re.match(r"^(#{1,6})\s+(.*)$", line)
        if heading:
            found.append(([h for _, h in path], "\n".join(current)))
            level = len(heading[1])
            path = [(lvl, h) for lvl, h in path if lvl < level] + [(level, heading[2])]
            current = []
        else:
            current.append(line)
    found.append(([h for _, h in path], "\n".join(current)))
    return found


def numbered_section(page: Path, number: str) -> str:
    """The text of a tutorial's section ``## <number> ...`` (``"3."``), up to the next one."""
    return page.read_text().split(f"\n## {number} ", 1)[1].split("\n## ", 1)[0]


def fenced(text: str, lang: str) -> list[str]:
    """The bodies of the ``lang`` code blocks in ``text``, in order."""
    return re.findall(rf"```{lang}\n(.*?)```", text, re.S)
