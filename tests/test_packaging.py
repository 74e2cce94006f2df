"""What `pip install .` puts on a user's machine: the project's own names only.

The distribution is vos-ddb ("ddb" on the package index is another project);
fixtures/ installs as ddb_fixtures (a top-level "fixtures" would shadow the
index's widely used package of that name); bench/ is not installed at all.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile

import pytest

import ddb

try:
    import tomllib
except ModuleNotFoundError:                     # Python 3.10
    import tomli as tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIST = "vos-ddb"
INSTALLED_AS = {"ddb": "ddb", "vosfmt": "vosfmt", "fixtures": "ddb_fixtures"}   # folder -> package


def _pyproject() -> dict:
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)


def _packages_on_disk() -> set[str]:
    out = set()
    for folder, name in INSTALLED_AS.items():
        for d, _, files in os.walk(os.path.join(ROOT, folder)):
            if "__init__.py" in files:
                rel = os.path.relpath(d, os.path.join(ROOT, folder))
                out.add(name if rel == "." else name + "." + rel.replace(os.sep, "."))
    return out


def test_every_package_is_listed_under_its_installed_name():
    """A new subpackage must be added to pyproject's list (ddb.commands and ddb.checker were
    once missed), and nothing else ships."""
    setup = _pyproject()["tool"]["setuptools"]
    assert set(setup["packages"]) == _packages_on_disk()
    assert setup["package-dir"] == {"ddb_fixtures": "fixtures"}


def test_names_and_one_version():
    project = _pyproject()["project"]
    assert project["name"] == DIST
    assert project["dynamic"] == ["version"] and "version" not in project
    assert _pyproject()["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "ddb.__version__"}
    assert set(project["scripts"]) == {"ddb", "ddb-fixtures"}


def test_runtime_dependencies_are_ranges_pinned_in_constraints():
    deps = _pyproject()["project"]["dependencies"]
    assert deps and all("==" not in d and "<" in d for d in deps), deps
    with open(os.path.join(ROOT, "constraints.txt")) as f:
        pins = {line.split("==")[0].lower() for line in f if "==" in line and not line.startswith("#")}
    extras = _pyproject()["project"]["optional-dependencies"]["test"]
    names = {d.split(";")[0].split(">")[0].split("<")[0].split("=")[0].strip().lower()
             for d in deps + extras}
    assert names <= pins, names - pins


@pytest.mark.slow
def test_the_wheel_installs_only_the_projects_names(tmp_path):
    src = tmp_path / "src"                       # build from a copy: no build/ or egg-info here
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(os.path.join(ROOT, name), src / name)
    for folder in INSTALLED_AS:
        shutil.copytree(os.path.join(ROOT, folder), src / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(src),
                        "-w", str(tmp_path / "dist")], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    (wheel,) = os.listdir(tmp_path / "dist")
    assert wheel.startswith(f"vos_ddb-{ddb.__version__}-")
    with zipfile.ZipFile(tmp_path / "dist" / wheel) as z:
        names = z.namelist()
        dist_info = f"vos_ddb-{ddb.__version__}.dist-info"
        entry_points = z.read(f"{dist_info}/entry_points.txt").decode()
        metadata = z.read(f"{dist_info}/METADATA").decode()
    assert {n.split("/")[0] for n in names} == {"ddb", "vosfmt", "ddb_fixtures", dist_info}
    assert "ddb_fixtures/__main__.py" in names and "ddb_fixtures/presets.py" in names
    assert "ddb = ddb.cli:main" in entry_points
    assert "ddb-fixtures = ddb_fixtures.__main__:main" in entry_points
    assert f"\nName: {DIST}\n" in metadata and f"\nVersion: {ddb.__version__}\n" in metadata
