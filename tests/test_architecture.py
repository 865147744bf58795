"""The import graph of the airspec package: no circles, passes independent of each other, and
drift planning that reads artifacts, not passes. Checked from the source with `ast`."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "compiler" / "airspec"


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module(p): p for p in PACKAGE.rglob("*.py")}


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def imports(module: str) -> set[str]:
    """airspec modules `module` imports anywhere (lazily too), except for type checking."""
    tree = ast.parse(MODULES[module].read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    out: set[str] = set()
    for node in ast.walk(tree):
        if _type_checking_only(node, parents):
            continue
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in MODULES}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module in MODULES:
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                out.add(sub if sub in MODULES else node.module)
    return out - {module}


GRAPH = {m: imports(m) for m in MODULES}


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(GRAPH[v]):
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

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    return found


def test_graph_is_read() -> None:
    assert "airspec.codes" in GRAPH["airspec.loader"]
    assert "airspec.loader" in GRAPH["airspec.rules.context"]


def test_no_import_circle() -> None:
    assert _cycles() == []


def test_no_pass_imports_another_pass() -> None:
    passes = {m for m in MODULES if m.startswith("airspec.passes.")}
    assert passes
    offenders = {m: sorted(GRAPH[m] & passes) for m in passes if GRAPH[m] & passes}
    assert offenders == {}


def test_drift_reads_artifacts_not_passes_or_rules() -> None:
    for m in MODULES:
        if m.startswith("airspec.apply."):
            assert not {i for i in GRAPH[m] if i.startswith(("airspec.passes", "airspec.rules"))}, m


def test_loader_is_below_the_rules() -> None:
    below = {"airspec.loader", "airspec.codes", "airspec.diagnostics"}
    for m in below:
        assert not {i for i in GRAPH[m] if i.startswith("airspec.rules")}, m
