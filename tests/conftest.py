"""Shared fixtures: built sample images (once per session) and an isolated HOME."""
from __future__ import annotations

import os
import shutil

import pytest

from fixtures import build


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """built(name) -> db_root of a preset image built once per session (do not modify)."""
    cache = {}

    def get(name: str, scale: float = 1.0) -> str:
        key = (name, scale)
        if key not in cache:
            root = str(tmp_path_factory.mktemp(f"img-{name}"))
            build(name, root, seed=0, scale=scale)
            cache[key] = root
        return cache[key]
    return get


@pytest.fixture
def image_copy(built, tmp_path):
    """image_copy(name) -> a private copy of a preset image that a test may modify."""
    def get(name: str, scale: float = 1.0) -> str:
        dst = str(tmp_path / f"copy-{name}")
        shutil.copytree(built(name, scale), dst)
        return dst
    return get


@pytest.fixture
def small(image_copy):
    """The first shard of a private copy of the small preset."""
    return shard_of(image_copy("small"))


@pytest.fixture
def dtx(image_copy):
    return shard_of(image_copy("dtx"))


@pytest.fixture
def unit(image_copy):
    return shard_of(image_copy("unit"))


def shard_of(root: str, index: int = 0) -> str:
    from vosfmt.image import list_shards
    return list_shards(root)[index]


def file_state(root: str) -> dict:
    """Content hash and mtime of every file under root (to prove nothing changed)."""
    import hashlib
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                out[p] = (hashlib.sha256(fh.read()).hexdigest(), os.stat(p).st_mtime_ns)
    return out


def all_values(sh):
    """(container, value) for every single value and extent a reader can reach, in tree order."""
    for c in sh.containers():
        for o in c.objects():
            for d in o.dkeys():
                for a in d.akeys():
                    for v in a.single_values():
                        yield c, v
                    for v in a.extents():
                        yield c, v


def read_everything(sh) -> None:
    """Touch every record and value a reader can reach (the fuzzers' read-only workload)."""
    for c in sh.containers():
        list(c.dtx_active())
    for _c, v in all_values(sh):
        sh.read_value(v)
