"""The house rules that `lint-imports` does not cover (docs/design.md, "Layout"): no import
cycles anywhere, no module reaching into another's private names, and an import inside a
function only to defer a heavy dependency, with its reason on the line."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import grimp
import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("mind_core", "app")


def _sources():
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            yield path, ast.parse(path.read_text(), filename=str(path))


def _module_of(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the components with more than one module (or a self-import)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_finds_a_cycle():
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [
        ["a", "b", "c"]]
    assert strongly_connected({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycles(package):
    graph = grimp.build_graph(package)
    edges = {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
    assert strongly_connected(edges) == []


def test_no_module_imports_a_private_name_of_another():
    offenders = []
    for path, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGES):
                offenders += [f"{path.relative_to(REPO)}:{node.lineno} {node.module}.{a.name}"
                              for a in node.names if a.name.startswith("_")
                              and not a.name.startswith("__")]
    assert offenders == []


def test_imports_inside_functions_say_why():
    """A function-level import is allowed only to defer a heavy or optional dependency (umap's
    numba compilation, faiss, torchrun's launcher...), and then says so on its line."""
    silent = []
    for path, tree in _sources():
        lines = path.read_text().splitlines()
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    text = " ".join(lines[node.lineno - 1:node.end_lineno])
                    if "#" not in text:
                        silent.append(f"{path.relative_to(REPO)}:{node.lineno}: {text.strip()}")
    assert silent == []


def test_every_module_in_mind_core_belongs_to_a_layer():
    """A new top-level module must be placed in the layers contract (pyproject.toml)."""
    contract = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = {name.strip() for entry in contract["contracts"][0]["layers"]
              for name in entry.split("|")}
    top = {_module_of(p).split(".")[1] for p, _ in _sources()
           if _module_of(p).startswith("mind_core.")}
    assert {f"mind_core.{t}" for t in top} <= layers
