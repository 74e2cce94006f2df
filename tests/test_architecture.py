"""The dependency direction of ARCHITECTURE.md, enforced by walking imports."""
from __future__ import annotations

import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UI = {"click", "prompt_toolkit", "tabulate"}
# package -> third-party / project packages it must never import
FORBIDDEN = {
    "vosfmt": UI | {"ddb", "fixtures", "bench"},
    "fixtures": UI | {"ddb", "bench", "lmdb"},
    "ddb/checker": UI,
}


def _imports(path: str):
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0]


def _files(pkg: str):
    base = os.path.join(ROOT, pkg)
    for d, _, files in os.walk(base):
        for f in files:
            if f.endswith(".py"):
                yield os.path.join(d, f)


@pytest.mark.parametrize("pkg", sorted(FORBIDDEN))
def test_forbidden_imports(pkg):
    bad = [(os.path.relpath(p, ROOT), m) for p in _files(pkg) for m in _imports(p)
           if m in FORBIDDEN[pkg]]
    assert not bad


def test_only_kv_touches_lmdb():
    users = {os.path.relpath(p, ROOT) for pkg in ("vosfmt", "ddb", "fixtures")
             for p in _files(pkg) if "lmdb" in set(_imports(p))}
    assert users <= {os.path.join("vosfmt", "kv.py")}


def test_nothing_imports_ddb_but_tests_and_bench():
    for pkg in ("vosfmt", "fixtures"):
        assert not [p for p in _files(pkg) if "ddb" in set(_imports(p))]


def test_every_package_is_installed():
    """pip install . must ship every package (ddb.commands and ddb.checker were once missed)."""
    import fnmatch
    try:
        import tomllib
    except ModuleNotFoundError:                     # Python 3.10
        import tomli as tomllib
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        include = tomllib.load(f)["tool"]["setuptools"]["packages"]["find"]["include"]
    on_disk = {os.path.relpath(d, ROOT).replace(os.sep, ".")
               for pkg in ("vosfmt", "ddb", "fixtures", "bench")
               for d, _, files in os.walk(os.path.join(ROOT, pkg)) if "__init__.py" in files}
    assert {"ddb.commands", "ddb.checker"} <= on_disk
    # setuptools' find: a package ships when its dotted name matches a pattern
    assert all(any(fnmatch.fnmatchcase(p, pat) for pat in include) for p in on_disk)
