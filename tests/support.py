"""Helpers the tests share, imported as ``from support import ...``.

pytest puts tests/ on sys.path (``pythonpath`` in pyproject.toml), and a script
run as ``python tests/X.py`` has it as sys.path[0]. Pytest fixtures stay in
conftest.py, which is never imported by name.
"""
from __future__ import annotations

import hashlib
import os
import subprocess


def sparse_copy(src: str, dst: str) -> None:
    """A private copy of an image that keeps its NVMe blobs sparse: shutil.copytree writes
    every hole, and a system preset's blobs are mostly holes (a dense copy is ~350 MiB)."""
    subprocess.run(["cp", "-a", "--sparse=always", src, dst], check=True)


def shard_of(root: str, index: int = 0) -> str:
    from vosfmt.image import list_shards
    return list_shards(root)[index]


def file_state(root: str) -> dict:
    """Content hash and mtime of every file under root (to prove nothing changed)."""
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
