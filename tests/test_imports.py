"""The `newsletter` package has no import cycles.

Every import counts: module level, inside functions, and under `if TYPE_CHECKING:`. A cycle
means two modules that cannot be read (or moved) one without the other; move the shared piece
down instead.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "newsletter"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE


def module_names(root: Path, package: str) -> dict[str, Path]:
    """Every module of the package by dotted name; a package is its `__init__`."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def imported_modules(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that `name` imports anywhere in its source."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(_known(alias.name, modules) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, name, is_package)
            for alias in node.names:
                # `from newsletter.x import y` imports the module newsletter.x.y when y is one.
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in modules else _known(base, modules))
    found.discard(None)
    found.discard(name)
    return found


def _absolute(node: ast.ImportFrom, name: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    parts = name.split(".")
    anchor = parts if is_package else parts[:-1]
    anchor = anchor[:len(anchor) - (node.level - 1)]
    return ".".join(anchor + ([node.module] if node.module else []))


def _known(dotted: str, modules: dict[str, Path]) -> str | None:
    """The nearest module of ours that `import dotted` loads (None if not ours)."""
    while dotted and dotted not in modules:
        dotted = dotted.rpartition(".")[0]
    return dotted or None


def import_graph(root: Path = ROOT, package: str = PACKAGE) -> dict[str, set[str]]:
    """Module -> the package's modules it imports."""
    modules = module_names(root, package)
    return {name: imported_modules(name, path, modules) for name, path in modules.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_one_cycle(graph, set(component)) for component in components]


def _one_cycle(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest path back to the start through the component, as a readable cycle."""
    start = min(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for target in sorted(graph[node] & component):
            if target == start:
                return paths[node] + [start]
            if target not in paths:
                paths[target] = paths[node] + [target]
                queue.append(target)
    raise AssertionError("a strongly connected component always has a cycle")


def test_the_package_has_no_import_cycles():
    graph = import_graph()
    assert len(graph) > 50 and "newsletter.models" in graph  # the walk saw the package
    cycles = find_cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_cycle_check_finds_every_kind_of_import(tmp_path):
    """A small package with one cycle through each import form the check must see."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "from pkg import a\n",
        "a.py": "def f():\n    from pkg.sub import b\n",  # function level, submodule
        "sub/__init__.py": "",
        "sub/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .. import c\n",
        "c.py": "import pkg.a\n",
        "d.py": "from pkg.sub.b import something\n",  # a name: the module is pkg.sub.b
        "e.py": "from . import d\n",
    }
    for name, text in files.items():
        (pkg / name).write_text(text)
    graph = import_graph(pkg, "pkg")
    assert graph["pkg.d"] == {"pkg.sub.b"} and graph["pkg.e"] == {"pkg.d"}
    assert graph["pkg.sub.b"] == {"pkg.c"}
    assert find_cycles(graph) == [["pkg.a", "pkg.sub.b", "pkg.c", "pkg.a"]]


@pytest.mark.parametrize("source, expected", [
    ("from newsletter.models import Subscriber", {"newsletter.models"}),
    ("from newsletter.subscribers import suppression", {"newsletter.subscribers.suppression"}),
    ("import newsletter.inbound.classify as c", {"newsletter.inbound.classify"}),
    ("from .reports import parse", {"newsletter.inbound.reports"}),
])
def test_imports_resolve_to_modules(tmp_path, source, expected):
    modules = module_names(ROOT, PACKAGE)
    path = tmp_path / "probe.py"
    path.write_text(source + "\n")
    assert imported_modules("newsletter.inbound.probe", path, modules) == expected
