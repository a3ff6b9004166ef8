"""The Python API reference cannot drift from the code: it is rendered from its docstrings.

docs/reference/api.md is what tests/apidefs.py renders: every name of the ``__all__`` of
``lightbus`` and of each module documented in docs/reference/python-api.md. After changing
a public name or its docstring, refresh it with
`UPDATE_GOLDEN=1 python -m pytest tests/test_docs_api.py`.
"""

from __future__ import annotations

import importlib
import os

import apidefs
from conftest import ROOT

PAGE = ROOT / "docs" / "reference" / "api.md"


def test_the_api_reference_is_generated_from_the_docstrings():
    expected = apidefs.reference()
    if os.environ.get("UPDATE_GOLDEN"):
        PAGE.write_text(expected)
    assert PAGE.read_text() == expected, (
        "docs/reference/api.md differs from the code's docstrings: refresh it with "
        "UPDATE_GOLDEN=1 python -m pytest tests/test_docs_api.py"
    )


def test_every_public_name_of_every_documented_module_has_an_entry():
    page = PAGE.read_text()
    modules = apidefs.documented_modules()
    assert modules[0] == "lightbus" and "lightbus.tracing" in modules and len(modules) > 5
    for name in modules:
        for item in importlib.import_module(name).__all__:
            assert f"### `{name}.{item}`" in page, f"{name}.{item}"


def test_a_name_added_later_is_covered_without_a_change_here(monkeypatch):
    from lightbus import groups

    def behind_by(bus: object, *, limit: int = 10) -> int:
        """How far behind, in entries: :func:`lightbus.groups.read` says more.

        Args:
            bus: the bus, or its client; a long meaning
                goes on the next line.
        """
        return 0

    monkeypatch.setattr(groups, "behind_by", behind_by, raising=False)
    monkeypatch.setattr(groups, "__all__", [*groups.__all__, "behind_by"])
    page = apidefs.reference()
    assert "### `lightbus.groups.behind_by` { #lightbus-groups-behind-by }" in page
    assert "def behind_by(bus: object, *, limit: int = 10) -> int" in page
    assert "How far behind, in entries: `lightbus.groups.read` says more." in page
    listed = "- `bus`: the bus, or its client; a long meaning goes on the next line."
    assert f"**Args:**\n\n{listed}" in page
    assert page != PAGE.read_text()  # so the first test would fail
