"""The dependency direction of ARCHITECTURE.md and the size limits of the style, enforced by
walking the source: every import (absolute, relative, inside functions) resolved to a module."""
from __future__ import annotations

import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("vosfmt", "ddb", "fixtures")
UI = {"click", "prompt_toolkit", "tabulate"}
# package directory -> modules (dotted prefixes) it must never import
FORBIDDEN = {
    "vosfmt": UI | {"ddb", "fixtures", "bench"},
    "fixtures": UI | {"ddb", "bench", "lmdb"},
    "ddb/checker": UI | {"ddb.commands", "ddb.cli", "ddb.shell"},
}
MODULE_LINES, CLASS_LINES = 400, 300
LONG_REASON = "Long because"        # a module docstring line starting so says why it is over the limit


def _module_name(path: str) -> str:
    rel = os.path.relpath(path, ROOT)[:-len(".py")].split(os.sep)
    return ".".join(rel[:-1] if rel[-1] == "__init__" else rel)


def _files(pkg: str):
    for d, _, files in os.walk(os.path.join(ROOT, pkg)):
        for f in sorted(files):
            if f.endswith(".py"):
                yield os.path.join(d, f)


def _tree(path: str) -> ast.Module:
    with open(path) as f:
        return ast.parse(f.read(), path)


MODULES = {_module_name(p) for pkg in PACKAGES for p in _files(pkg)}


def _imports_in(tree: ast.Module, module: str, is_package: bool, modules=MODULES) -> list[str]:
    """Every module ``module`` imports, as absolute dotted names: ``from P import x`` names
    the submodule P.x when there is one, else P."""
    package = module if is_package else module.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module
            if node.level:
                parts = package.split(".")
                parts = parts[:len(parts) - (node.level - 1)] + ([node.module] if node.module else [])
                base = ".".join(parts)
            out += [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
    return out


def _imports(path: str) -> list[str]:
    return _imports_in(_tree(path), _module_name(path), path.endswith("__init__.py"))


def _matches(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


@pytest.mark.parametrize("pkg", sorted(FORBIDDEN))
def test_forbidden_imports(pkg):
    bad = [(os.path.relpath(p, ROOT), m) for p in _files(pkg) for m in _imports(p)
           if any(_matches(m, f) for f in FORBIDDEN[pkg])]
    assert not bad


def test_relative_and_local_imports_are_seen():
    """The walker resolves ``from . import x``, ``from ..y import z`` and imports in functions."""
    src = ("from . import scan, Checker\nfrom ..commands import tree\n"
           "def f():\n    from ..shell import run\n")
    modules = {"ddb.checker", "ddb.checker.engine", "ddb.checker.scan", "ddb.commands.tree"}
    names = _imports_in(ast.parse(src), "ddb.checker.engine", False, modules)
    assert names == ["ddb.checker.scan", "ddb.checker", "ddb.commands.tree", "ddb.shell"]
    assert _imports_in(ast.parse("from . import engine"), "ddb.checker", True, modules) == [
        "ddb.checker.engine"]


def test_fixtures_imports_itself_relatively():
    """fixtures/ installs as ddb_fixtures: ``from fixtures.x import y`` would work only from a
    checkout."""
    absolute = [os.path.relpath(p, ROOT) for p in _files("fixtures") for node in ast.walk(_tree(p))
                if isinstance(node, ast.ImportFrom) and node.level == 0
                and _matches(node.module or "", "fixtures")
                or isinstance(node, ast.Import) and any(_matches(a.name, "fixtures") for a in node.names)]
    assert not absolute


def test_only_kv_touches_lmdb():
    users = {os.path.relpath(p, ROOT) for pkg in PACKAGES for p in _files(pkg)
             if any(_matches(m, "lmdb") for m in _imports(p))}
    assert users <= {os.path.join("vosfmt", "kv.py")}


def _import_graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for pkg in PACKAGES for p in _files(pkg)}
    return {m: {n for n in _imports(p) if n in MODULES and n != m} for m, p in files.items()}


def _cycles(graph: dict[str, set[str]]) -> list[tuple[list[str], set[str]]]:
    """(a shortest cycle, its modules' strongly connected component) for each component of
    more than one module (Tarjan)."""
    index, low, stack, on_stack, comps = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    out = []
    for comp in comps:                      # shortest way back to the first module, breadth first
        start = min(comp)
        paths, seen = [[start]], {start}
        while paths:
            path = paths.pop(0)
            nxt = sorted(graph[path[-1]] & comp)
            if start in nxt:
                out.append((path + [start], comp))
                break
            for w in nxt:
                if w not in seen:
                    seen.add(w)
                    paths.append(path + [w])
    return out


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b", "c"}, "b": {"a"}, "c": {"a"}, "d": {"a"}}) == [
        (["a", "b", "a"], {"a", "b", "c"})]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    """Imports inside functions count too: deferring an import hides a cycle, it does not end it."""
    cycles = _cycles(_import_graph())
    assert not cycles, "\n".join(" -> ".join(c) + (f"  (one of the cycles among {', '.join(sorted(m))})"
                                                   if len(m) > len(c) - 1 else "") for c, m in cycles)


def _docstring_says_why(tree: ast.Module) -> bool:
    doc = ast.get_docstring(tree) or ""
    return any(line.strip().startswith(LONG_REASON) for line in doc.splitlines())


def test_no_module_over_the_limit_without_a_reason():
    long = []
    for pkg in PACKAGES:
        for p in _files(pkg):
            with open(p) as f:
                n = sum(1 for _ in f)
            if n > MODULE_LINES and not _docstring_says_why(_tree(p)):
                long.append(f"{os.path.relpath(p, ROOT)}: {n} lines")
    assert not long, (f"over {MODULE_LINES} lines without a '{LONG_REASON} ...' line in the "
                      "module docstring:\n" + "\n".join(long))


def test_no_class_over_the_limit():
    big = [f"{os.path.relpath(p, ROOT)}: {node.name} {node.end_lineno - node.lineno + 1} lines"
           for pkg in PACKAGES for p in _files(pkg) for node in ast.walk(_tree(p))
           if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > CLASS_LINES]
    assert not big, "\n".join(big)
