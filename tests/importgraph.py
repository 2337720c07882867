"""Following springstudy's imports statically (for the dependency and import-cycle tests).

Every ``springstudy`` import is seen, at any depth: imports inside functions count (they run when
the function does), imports under ``if TYPE_CHECKING:`` do not (they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "springstudy"


def is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imported_names(tree: ast.AST) -> set[str]:
    """Dotted names of the springstudy modules (or module members) a syntax tree imports."""
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.split(".")[0] == PACKAGE)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                and node.module.split(".")[0] == PACKAGE:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return names


def files_of(dotted: str) -> list[Path]:
    """The files importing ``dotted`` runs: each package's __init__.py on the way and the module
    itself (a member name that is not a module resolves to its module)."""
    parts, files = dotted.split("."), []
    for depth in range(1, len(parts) + 1):
        base = ROOT.joinpath(*parts[:depth])
        if (base / "__init__.py").is_file():
            files.append(base / "__init__.py")
        elif base.with_suffix(".py").is_file():
            files.append(base.with_suffix(".py"))
            break
        else:
            break      # a function or class of the module before it
    return files


def closure(names: frozenset[str], seen: frozenset[Path] = frozenset()) -> frozenset[Path]:
    todo = [f for name in names for f in files_of(name)]
    found = set(seen)
    while todo:
        f = todo.pop()
        if f in found:
            continue
        found.add(f)
        todo.extend(g for name in imported_names(ast.parse(f.read_text())) for g in files_of(name))
    return frozenset(found)


def module_graph() -> dict[Path, set[Path]]:
    """Each package file -> the package files it imports (the module itself, not the packages'
    ``__init__.py`` on the way, which every submodule import runs)."""
    graph = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        targets = (files_of(name) for name in imported_names(ast.parse(path.read_text())))
        graph[path] = {files[-1] for files in targets if files and files[-1] != path}
    return graph


def cycles(graph: dict[Path, set[Path]]) -> list[list[Path]]:
    """The strongly connected components of more than one file (Tarjan), each a set of files
    that import one another in a circle."""
    index: dict[Path, int] = {}
    low: dict[Path, int] = {}
    stack: list[Path] = []
    found: list[list[Path]] = []

    def visit(v: Path) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found
