"""Shared pytest fixtures: built sample images (once per session) and an isolated HOME.

Plain helper functions live in support.py.
"""
from __future__ import annotations

import pytest

from fixtures import build
from support import shard_of, sparse_copy


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
        sparse_copy(built(name, scale), dst)
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
