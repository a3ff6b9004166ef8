"""The runtime's shape, checked by reading its source (issue 13, DESIGN.md section 3).

- ``lightbus/`` has no import loop. Every import counts: at module level, under
  ``TYPE_CHECKING`` and inside functions. The bus client is the composition root: it
  builds the parts, and no part imports it back.
- No module of ``lightbus/`` passes 400 lines: a file that grows past that is a design
  signal, not a place to keep adding.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "lightbus"
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported(path: Path, name: str, known: set[str]) -> set[str]:
    """The modules of ``known`` that the module ``name`` at ``path`` imports, anywhere."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".") if is_package else name.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join([*package, base] if base else package)
            # `from lightbus import trace` imports the module lightbus.trace.
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for target in targets:
            # `import a.b.c` loads a and a.b too; the edge that matters is the deepest known.
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    known = modules()
    names = set(known)
    graph = {name: imported(path, name, names) for name, path in known.items()}
    # A package's __init__ is loaded by importing any of its modules: an edge to
    # lightbus.x.y is also an edge to the package lightbus.x, except from inside it.
    for name, targets in graph.items():
        for target in list(targets):
            package = target.rpartition(".")[0]
            inside = name == package or name.startswith(package + ".")
            if package in names and package != "lightbus" and not inside:
                targets.add(package)
    # A module's own packages are loaded on the way to it: those edges are no design choice.
    for name, targets in graph.items():
        for target in list(targets):
            if name.startswith(target + "."):
                targets.discard(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import loop of ``graph`` as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_runtime_has_no_import_loop():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import loop in lightbus/: " + " -> ".join(cycle or [])


PARTS = (
    "lightbus.parts",
    "lightbus.apis",
    "lightbus.envelope",
    "lightbus.publisher",
    "lightbus.tracesink",
    "lightbus.schedule",
    "lightbus.validation",
    "lightbus.registry",
    "lightbus.consumer",
    "lightbus.rpc",
)


def test_the_parts_the_client_builds_import_neither_it_nor_the_facade():
    graph = import_graph()
    parts = [n for n in graph if any(n == p or n.startswith(p + ".") for p in PARTS)]
    assert len(parts) >= len(PARTS)
    wrong = {
        name: sorted(graph[name] & {"lightbus.client", "lightbus.facade", "lightbus.worker"})
        for name in parts
    }
    assert not {name: found for name, found in wrong.items() if found}


def test_no_module_of_the_runtime_passes_400_lines():
    long = {
        name: lines
        for name, path in modules().items()
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"


# The checks above must be able to fail: they are tried on small made-up graphs.


def test_the_loop_finder_finds_a_loop_and_only_a_loop():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_imports_under_type_checking_and_in_functions_count(tmp_path):
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from lightbus.client import BusClient\n"
        "def f():\n    from lightbus import trace\n    import lightbus.keys\n"
        "from . import ids\n"
    )
    path = tmp_path / "m.py"
    path.write_text(source)
    known = {"lightbus.client", "lightbus.trace", "lightbus.keys", "lightbus.ids", "lightbus.m"}
    found = imported(path, "lightbus.m", known)
    assert found == {"lightbus.client", "lightbus.trace", "lightbus.keys", "lightbus.ids"}
