"""The boundary, measured on the code: config imports no adapter (the registry hands it the
descriptors), fleet imports no CLI (a node runs ctrtool as a program), and doctor, fleet and the
commands name no backend (they ask the descriptors)."""

from __future__ import annotations

import ast
import pathlib

import pytest

from ctrtool.registry import BACKENDS

PACKAGE = pathlib.Path(__file__).parent.parent / "ctrtool"


def _imports(path: pathlib.Path) -> set[str]:
    """Every module ``path`` imports, at any depth of the file (functions included), absolute."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    if path.name == "__init__.py":
        module = module.removesuffix(".__init__")
        package = module
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            out.add(name)
            out |= {f"{name}.{a.name}" for a in node.names}
    return out


def test_config_imports_no_adapter():
    assert not {m for m in _imports(PACKAGE / "config.py") if m.startswith("ctrtool.adapters")}


@pytest.mark.parametrize("path", sorted((PACKAGE / "fleet").glob("*.py")), ids=lambda p: p.name)
def test_fleet_imports_no_cli(path):
    assert not {m for m in _imports(path) if m == "ctrtool.cli" or m.startswith("ctrtool.cli.")}


@pytest.mark.parametrize(
    "path",
    sorted(
        p
        for d in ("doctor", "fleet")
        for p in (PACKAGE / d).rglob("*.py")
        if p.name != "nodeimage.py"  # the node image's build (the lab's image) is not ours here
    )
    + [PACKAGE / "config.py", PACKAGE / "reclaim.py", PACKAGE / "account.py"],
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_no_backend_named_outside_the_adapters(path):
    tree = ast.parse(path.read_text())
    docstrings = {
        id(n.body[0].value)
        for n in ast.walk(tree)
        if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
        and n.body
        and isinstance(n.body[0], ast.Expr)
        and isinstance(n.body[0].value, ast.Constant)
    }
    named = [
        (n.lineno, n.value)
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and id(n) not in docstrings and n.value in BACKENDS
    ]
    # onnode's `found` JSON keeps its documented field names ("docker": the dockerd it found)
    allowed = {("onnode.py", "docker")}
    assert [x for x in named if (path.name, x[1]) not in allowed] == [], path
