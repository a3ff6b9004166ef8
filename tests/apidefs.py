"""Render the Python API reference (docs/reference/api.md) from the code's own docstrings.

The page lists, for ``lightbus`` and each documented public module (the ``## `lightbus.X```
sections of docs/reference/python-api.md), every name of the module's ``__all__``: its
signature, its docstring, and for a class its public methods and properties with theirs.
A top-level name that a documented module also exports points to that module's entry.
``tests/test_docs_api.py`` keeps the page equal to what this renders.
"""

from __future__ import annotations

import enum
import importlib
import inspect
import re
from types import ModuleType
from typing import Any

from conftest import ROOT

OVERVIEW = ROOT / "docs" / "reference" / "python-api.md"
HEADER = """\
# Python API: every name

Generated from the code's docstrings by `tests/apidefs.py`; `tests/test_docs_api.py`
fails when this page differs from the code. Refresh it with
`UPDATE_GOLDEN=1 python -m pytest tests/test_docs_api.py`.

[Python API](python-api.md) says what each module is for and which names to start
with; this page is every name of each module's `__all__`, with its signature and
docstring.

"""


# Constants whose value depends on the machine the page is generated on.
VARIES = {"lightbus.workers.HOST": "<this machine's name>"}


def documented_modules() -> list[str]:
    """``lightbus`` and the modules the overview page documents, in its order."""
    return re.findall(r"^## `(lightbus(?:\.\w+)?)`$", OVERVIEW.read_text(), re.M)


def anchor(qualified: str) -> str:
    return qualified.replace(".", "-").replace("_", "-").lower()


def reference() -> str:
    names = documented_modules()
    modules = {name: importlib.import_module(name) for name in names}
    homes = {
        id(getattr(module, item)): f"{name}.{item}"
        for name, module in modules.items()
        if name != "lightbus"
        for item in module.__all__
        if isinstance(getattr(module, item), type) or callable(getattr(module, item))
    }
    out = [HEADER]
    for name, module in modules.items():
        out.append(_module(name, module, homes if name == "lightbus" else {}))
    return "\n".join(out).rstrip("\n") + "\n"


def _module(name: str, module: ModuleType, homes: dict[int, str]) -> str:
    lines = [f"## `{name}` {{ #{anchor(name)} }}", "", _doc(module), ""]
    for item in module.__all__:
        value = getattr(module, item)
        qualified = f"{name}.{item}"
        lines.append(f"### `{qualified}` {{ #{anchor(qualified)} }}")
        lines.append("")
        home = homes.get(id(value))
        if home is not None:
            lines += [f"The same as [`{home}`](#{anchor(home)}).", ""]
            continue
        if qualified in VARIES:
            lines += ["```text", f"{item} = {VARIES[qualified]}", "```", ""]
            continue
        lines += _entry(item, value)
    return "\n".join(lines)


def _entry(item: str, value: Any) -> list[str]:
    if isinstance(value, type):
        kind = "exception" if issubclass(value, BaseException) else "class"
        lines = [*_signature(f"{kind} {item}", value), _doc(value), ""]
        return lines + _members(value)
    if callable(value):
        prefix = "async def" if inspect.iscoroutinefunction(value) else "def"
        return [*_signature(f"{prefix} {item}", value), _doc(value), ""]
    shown = _constant(value)
    shown = shown if len(shown) <= 200 else f"{type(value).__name__} (...)"
    return ["```text", f"{item} = {_clean(shown)}", "```", ""]


def _constant(value: Any) -> str:
    """A constant's repr; a set's members sorted, so that the page is the same every run."""
    if isinstance(value, (set, frozenset)):
        inner = ", ".join(sorted(repr(member) for member in value))
        return f"{type(value).__name__}({{{inner}}})"
    return repr(value)


def _members(cls: type) -> list[str]:
    if issubclass(cls, (BaseException, enum.Enum)):
        return []
    lines = []
    for member, raw in vars(cls).items():
        if member.startswith("_") or not (inspect.getdoc(raw) and _own_doc(raw)):
            continue
        if isinstance(raw, property):
            lines += [f"- **`{member}`** (property): {_first_paragraph(raw)}"]
        elif inspect.isfunction(raw) or isinstance(raw, (staticmethod, classmethod)):
            function = raw.__func__ if isinstance(raw, (staticmethod, classmethod)) else raw
            lines += [f"- **`{member}{_params(function)}`**: {_first_paragraph(function)}"]
    return [*lines, ""] if lines else []


def _own_doc(raw: Any) -> bool:
    return isinstance(raw, (property, staticmethod, classmethod)) or inspect.isfunction(raw)


def _signature(prefix: str, value: Any) -> list[str]:
    return ["```text", f"{prefix}{_params(value)}", "```", ""]


class _Written:
    """An annotation as written in the source (the modules use postponed annotations)."""

    def __init__(self, text: Any) -> None:
        self.text = text if isinstance(text, str) else inspect.formatannotation(text)

    def __repr__(self) -> str:
        return self.text


def _params(value: Any) -> str:
    try:
        signature = inspect.signature(value)
    except (TypeError, ValueError):
        return "(...)"
    empty = inspect.Signature.empty
    parameters = [
        p if p.annotation is empty else p.replace(annotation=_Written(p.annotation))
        for p in signature.parameters.values()
    ]
    returned = signature.return_annotation
    signature = signature.replace(
        parameters=parameters,
        return_annotation=returned if returned is empty else _Written(returned),
    )
    return _clean(str(signature))


def _clean(text: str) -> str:
    return re.sub(r" at 0x[0-9a-f]+", "", text)


def _doc(value: Any) -> str:
    """The docstring as Markdown: Sphinx roles (:func:`x`) become code (`x`)."""
    text = inspect.getdoc(value) or "(no docstring)"
    text = re.sub(r":(?:py:)?(?:func|class|meth|mod|data|attr|exc|obj):`~?([^`]+)`", r"`\1`", text)
    text = re.sub(r"::$", ":", text, flags=re.M)  # reST's literal block marker
    return "\n".join(_sections(text.splitlines()))


SECTION = re.compile(r"(Args|Arguments|Attributes|Raises|Returns|Yields):")


def _sections(lines: list[str]) -> list[str]:
    """Google-style sections (``Args:`` and indented ``name: meaning`` lines) as lists."""
    out: list[str] = []
    inside = False
    for line in lines:
        if SECTION.fullmatch(line):
            inside = True
            out += [f"**{line}**", ""]
        elif inside and re.match(r"    \S", line):
            name, colon, meaning = line.strip().partition(": ")
            out.append(f"- `{name}`: {meaning}" if colon else f"- {line.strip()}")
        elif inside and line.startswith("     "):
            out[-1] += " " + line.strip()
        else:
            inside = False
            out.append(line)
    return out


def _first_paragraph(value: Any) -> str:
    return " ".join(_doc(value).split("\n\n", 1)[0].split())
