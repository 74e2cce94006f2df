"""The check's leaf-at-a-time path finds exactly what the record-by-record path finds.

Every shard scan here runs twice, with ``scan_leaf`` on and off, over
pristine presets, every problem's injector and seeded random damage (the
damage campaign's: bit flips, fields rewritten with their page checksum
fixed, zeroed, swapped and copied pages...). Findings, their order and the
facts later passes use must be identical.
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ddb.checker import scan_leaf
from ddb.checker.scan import ShardScan
from fixtures.damage import DamageError, damage
from fixtures.injectors import INJECTORS, InjectError
from tests.support import sparse_copy
from vosfmt import VosError, leafrows, open_shard
from vosfmt.image import list_shards


def _scan(root: str, leaf: bool, monkeypatch) -> list:
    monkeypatch.setattr(leafrows, "ENABLED", leaf)
    out = []
    for path in list_shards(root):
        try:
            shard = open_shard(path, db_root=root, truncated_ok=True)
        except VosError as e:
            out.append(("unopenable", str(e)))
            continue
        with shard:
            s = ShardScan(shard)
            findings = s.run()
            f = s.facts
            out.append(([(x.code, x.ctx) for x in findings], f.records, f.value_bytes,
                        sorted(f.lid_records, key=repr), f.space.pages, bytes(f.space.used), f.space.blocks,
                        f.space.page_conflicts, f.freelist_ok, f.vea_ok))
    return out


def _both(root: str, monkeypatch) -> list:
    fast = _scan(root, True, monkeypatch)
    assert fast == _scan(root, False, monkeypatch)
    return fast


@pytest.mark.parametrize("preset, scale", [("small", 1.0), ("posix", 1.0), ("dtx", 1.0),
                                           ("large", 0.004)])
def test_pristine_presets(built, preset, scale, monkeypatch):
    (found, records, *_), *_ = _both(built(preset, scale), monkeypatch)
    assert found == [] and records > 0


def test_the_leaf_path_runs_on_large(built, monkeypatch):
    """It is the path a shard like ``large`` takes: without it the scan is not the same work."""
    calls = []
    real = scan_leaf.LeafPass.akeys

    def counting(self, *a):
        n = real(self, *a)
        calls.append(n is not None)
        return n
    monkeypatch.setattr(scan_leaf.LeafPass, "akeys", counting)
    _scan(built("large", 0.004), True, monkeypatch)
    assert calls and all(calls)


@pytest.mark.parametrize("problem", sorted(INJECTORS))
def test_every_injector(built, tmp_path, problem, monkeypatch):
    inj = INJECTORS[problem]
    root = str(tmp_path / "img")
    sparse_copy(built(inj.preset), root)
    try:
        inj.fn(root, __import__("random").Random(7))
    except InjectError:
        pytest.skip(f"{problem}: nothing to damage in {inj.preset}")
    _both(root, monkeypatch)


@pytest.mark.parametrize("preset, scale", [("small", 1.0), ("large", 0.004)])
@pytest.mark.parametrize("seed", range(40))
def test_random_damage(built, tmp_path, preset, scale, seed, monkeypatch):
    root = str(tmp_path / "img")
    sparse_copy(built(preset, scale), root)
    try:
        damage(root, seed)
    except DamageError:
        pytest.skip("no damage of this kind applies")
    _both(root, monkeypatch)


@pytest.mark.slow
def test_the_checker_and_listing_suites_pass_record_by_record(tmp_path):
    """The suites that pin the checker's findings and the listings' exact output, run again with
    leaf decoding off (DDB_LEAF_DECODE=0): both paths meet the same contract. (The whole suite
    passes both ways; CI re-runs these two, ~30 s.)"""
    here = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ, DDB_LEAF_DECODE="0")
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                        f"--basetemp={tmp_path}", os.path.join(here, "test_checker.py"),
                        os.path.join(here, "test_ddb_cli.py")],
                       cwd=os.path.dirname(here), env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stdout[-3000:]
