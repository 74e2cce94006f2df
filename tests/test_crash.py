"""Crash safety: a commit interrupted at any write/sync leaves the old or the new state."""
from __future__ import annotations

import random
import shutil

import pytest

from crashsim import FaultInjector, SimulatedCrash
from fixtures import export_image
from vosfmt import DtxActive, DtxCommitted, Oid, Xid, open_shard
from vosfmt.image import list_shards
from vosfmt.txn import Transaction
from vosfmt.usage import space_usage


def _bytes(n: int) -> bytes:
    return random.Random(n).randbytes(n)


def _edits(shard) -> None:
    """A mixed batch touching every kind of structure."""
    c = max(shard.containers(), key=lambda c: c.object_count())
    cu = c.rec.uuid
    objs = list(c.objects())
    o0, o1 = objs[0], objs[-1]
    with Transaction(shard) as tx:
        tx.put_single_value(cu, o0.oid, b"new-dkey", b"inline", 2**60, b"small value")
        tx.put_single_value(cu, o0.oid, b"new-dkey", b"scm", 2**60, _bytes(3000))
        tx.put_single_value(cu, o0.oid, b"new-dkey", b"nvme", 2**60, _bytes(20000))
        tx.put_extent(cu, Oid(7, 7), b"fresh", b"arr", 0, 5000, 2**60, _bytes(5000))
        tx.delete_object(cu, o1.oid)
        first_dkey = next(o0.dkeys()).key
        tx.delete_key(cu, o0.oid, first_dkey)
        xid = Xid(b"\x11" * 16, 0x1234)
        tx.put_dtx_active(cu, DtxActive(xid, 2**60 + 5, 200))
        tx.put_single_value(cu, o0.oid, b"new-dkey", b"txn", 2**60 + 5, b"x", dtx_lid=200)
        tx.put_dtx_committed(cu, DtxCommitted(Xid(b"\x22" * 16, 0x99), 5, 1700000000))
        tx.set_features(compat=3)


def _check_health(root: str) -> None:
    for path in list_shards(root):
        with open_shard(path, db_root=root) as sh:
            u = space_usage(sh)
            assert not u.page_conflicts and not u.block_conflicts
            assert not u.free_and_used_pages and not u.free_and_used_blocks
            assert not u.leaked_pages and not u.leaked_blocks


@pytest.fixture(scope="module")
def states(tmp_path_factory, request):
    from fixtures import build
    base = str(tmp_path_factory.mktemp("crash-base"))
    build("small", base)
    old = export_image(base)
    new_root = str(tmp_path_factory.mktemp("crash-new"))
    shutil.copytree(base, new_root, dirs_exist_ok=True)
    counter = FaultInjector()
    with open_shard(list_shards(new_root)[0], write=True, db_root=new_root, hooks=counter) as sh:
        _edits(sh)
    new = export_image(new_root)
    assert new != old
    _check_health(new_root)
    return base, old, new, counter.events


@pytest.mark.parametrize("mode", ["keep", "drop", "tear"])
def test_every_crash_point_leaves_old_or_new(states, tmp_path, mode):
    base, old, new, events = states
    assert events > 10
    seen = set()
    for n in range(1, events + 1):
        root = str(tmp_path / f"{mode}-{n}")
        shutil.copytree(base, root)
        inj = FaultInjector(crash_at=n, mode=mode, seed=n)
        sh = open_shard(list_shards(root)[0], write=True, db_root=root, hooks=inj)
        with pytest.raises(SimulatedCrash):
            _edits(sh)
        sh.close()
        after = export_image(root)
        assert after in (old, new), f"crash at event {n} ({mode}) left a mixed state"
        seen.add("new" if after == new else "old")
        _check_health(root)
        shutil.rmtree(root)
    assert "old" in seen
    if mode == "keep":
        assert "new" in seen   # crashing during the final fsync keeps the new superblock


def test_clean_commit_counts_writes(states):
    _base, _old, _new, events = states
    assert events < 200
