"""The boundary, measured on the code (docs/architecture.md, "Measuring the boundary"): no import
circles among ctrtool's modules, no private name imported from another module, core's modules
small enough to hold in one's head.

The import graph is built with ``ast`` from every ``import`` in ctrtool/: at module level, inside
functions and under ``if TYPE_CHECKING`` alike (a deferred import is still a dependency), relative
imports resolved. Importing ``a.b.c`` also runs the packages ``a.b`` and ``a``, so those count
too (except a module's own enclosing packages).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "ctrtool"


CORE_MAX_LINES = 400
CLASS_MAX_LINES = 400


def modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for the package at ``root`` (a package is its __init__.py)."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imported(module: str, path: Path, node: ast.Import | ast.ImportFrom) -> list[tuple[str, str | None]]:
    """(module imported from, name or None) for one import statement, relative imports resolved."""
    if isinstance(node, ast.Import):
        return [(alias.name, None) for alias in node.names]
    base = node.module or ""
    if node.level:
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{base}" if base else package
    return [(base, alias.name) for alias in node.names]


def import_graph(root: Path) -> dict[str, set[str]]:
    """module -> the modules of the same package it imports (directly, or as a parent package)."""
    found = modules(root)
    graph: dict[str, set[str]] = {m: set() for m in found}
    for module, path in found.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for base, name in imported(module, path, node):
                target = f"{base}.{name}" if name and f"{base}.{name}" in found else base
                while target:
                    if target in found and target != module and not module.startswith(target + "."):
                        graph[module].add(target)
                    target = target.rpartition(".")[0]
    return graph


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[frozenset[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(frozenset(component))
    return out


def one_cycle(graph: dict[str, set[str]], component: frozenset[str]) -> list[str]:
    """A path through ``component`` that comes back to its start: a -> b -> ... -> a."""
    start = min(component)
    paths = {start: [start]}
    todo = [start]
    while todo:
        node = todo.pop(0)
        for child in sorted(graph[node] & component):
            if child == start:
                return paths[node] + [start]
            if child not in paths:
                paths[child] = paths[node] + [child]
                todo.append(child)
    return sorted(component)


def private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_uses(root: Path) -> set[str]:
    """Every use of another module's private name: ``from X import _name`` and ``X._name`` where X
    is a module of the package, as "importer: module._name"."""
    found = modules(root)
    out = set()
    for module, path in found.items():
        tree = ast.parse(path.read_text(), str(path))
        bound: dict[str, str] = {}  # a local name bound to a module of the package -> that module
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for (base, name), alias in zip(imported(module, path, node), node.names):
                if name is None:
                    if base in found:
                        bound[alias.asname or base] = base
                elif f"{base}.{name}" in found:
                    bound[alias.asname or name] = f"{base}.{name}"
                elif base in found and base != module and private(name):
                    out.add(f"{module}: {base}.{name}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and private(node.attr):
                owner = bound.get(ast.unparse(node.value))
                if owner and owner != module:
                    out.add(f"{module}: {owner}.{node.attr}")
    return out


def test_no_import_cycles():
    graph = import_graph(ROOT)
    found = cycles(graph)
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(one_cycle(graph, c)) for c in found)


def test_no_private_names_across_modules():
    found = private_uses(ROOT)
    assert not sorted(found), "private names used across modules"


def test_core_modules_stay_small():
    sizes = {p.name: len(p.read_text().splitlines()) for p in (ROOT / "core").glob("*.py")}
    assert sizes and {n: s for n, s in sizes.items() if s > CORE_MAX_LINES} == {}


def test_classes_stay_small():
    """No class over 400 lines (an adapter is one part per resource: docs/architecture.md)."""
    sizes = {
        f"{path.relative_to(ROOT.parent)}:{node.name}": node.end_lineno - node.lineno + 1
        for path in sorted(ROOT.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.ClassDef) and node.end_lineno is not None
    }
    assert sizes and {n: s for n, s in sizes.items() if s > CLASS_MAX_LINES} == {}


def test_the_graph_sees_every_kind_of_import(tmp_path):
    """The checks themselves: a relative import inside a function, an absolute one under
    TYPE_CHECKING, a parent package, a private name imported and one used through its module."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from .. import top\n")
    (pkg / "sub" / "leaf.py").write_text("def f():\n    from ..top import _hidden\n    return _hidden\n")
    (pkg / "top.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.other\n_hidden = 1\n"
    )
    (pkg / "other.py").write_text("from .sub import leaf\nfrom . import top\nX = top._hidden\n")
    graph = import_graph(pkg)
    assert graph["pkg.sub.leaf"] == {"pkg.top"}
    assert graph["pkg.other"] == {"pkg.sub", "pkg.sub.leaf", "pkg.top"}
    assert cycles(graph) == [frozenset({"pkg.top", "pkg.other", "pkg.sub", "pkg.sub.leaf"})]
    assert one_cycle(graph, cycles(graph)[0])[0] == one_cycle(graph, cycles(graph)[0])[-1]
    assert private_uses(pkg) == {"pkg.sub.leaf: pkg.top._hidden", "pkg.other: pkg.top._hidden"}
