"""The copy-on-write B+tree against a dict model: splits, merges, embedding, counts."""
from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fixtures import build
from vosfmt import open_shard
from vosfmt.image import list_shards
from vosfmt.mutable_tree import MutableTree
from vosfmt.records import TreeRoot
from vosfmt.txn import Transaction
from vosfmt.usage import space_usage



@pytest.fixture
def shard(tmp_path):
    root = str(tmp_path / "img")
    build({"containers": [{"objects": []}]}, root)
    sh = open_shard(list_shards(root)[0], write=True, db_root=root)
    yield sh
    sh.close()


def _apply(sh, desc, ops, budget=0):
    tx = Transaction(sh)
    t = MutableTree(sh.reader, desc)
    for op, k, v in ops:
        if op == "put":
            t.put(k, v)
        else:
            t.delete(k)
    new = t.flush(tx, budget)
    # commit the page accounting too, so freed/written pages are consistent
    tx._commit()
    tx._finish()
    return new


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(1, 4000), budget=st.sampled_from([0, 600]))
def test_tree_matches_dict(tmp_path_factory, seed, n, budget):
    root = str(tmp_path_factory.mktemp("bt"))
    build({"containers": []}, root)
    rng = random.Random(seed)
    model = {}
    desc = TreeRoot(5)
    with open_shard(list_shards(root)[0], write=True, db_root=root) as sh:
        for _round in range(3):
            ops = []
            for _ in range(n):
                k = rng.randbytes(rng.randrange(1, 24))
                if model and rng.random() < 0.35:
                    k = rng.choice(sorted(model))
                    ops.append(("del", k, None))
                    model.pop(k)
                else:
                    v = rng.randbytes(rng.randrange(0, 60))
                    ops.append(("put", k, v))
                    model[k] = v
            desc = _apply(sh, desc, ops, budget)
            items = list(sh.reader.items(desc))
            assert items == sorted(model.items())
            assert desc.count == len(model)
            if model:
                keys = sorted(model)
                for i in rng.sample(range(len(keys)), min(20, len(keys))):
                    assert sh.reader.nth(desc, i) == (keys[i], model[keys[i]])
                    assert sh.reader.index_of(desc, keys[i]) == i
                    assert sh.reader.get(desc, keys[i]) == model[keys[i]]
                probe = rng.randbytes(5)
                assert list(k for k, _ in sh.reader.items(desc, start=probe)) == \
                    [k for k in keys if k >= probe]
            else:
                assert desc.page == 0 and not desc.embed


def test_embedded_tree_grows_into_pages_and_back(shard):
    desc = TreeRoot(5)
    desc = _apply(shard, desc, [("put", b"a", b"1")], budget=500)
    assert desc.embed and desc.page == 0
    desc = _apply(shard, desc, [("put", bytes([i]) * 8, b"x" * 50) for i in range(200)], budget=500)
    assert not desc.embed and desc.page and desc.depth >= 1
    desc = _apply(shard, desc, [("del", bytes([i]) * 8, None) for i in range(200)], budget=500)
    assert list(shard.reader.items(desc)) == [(b"a", b"1")]
    assert desc.depth == 0


def test_deleting_everything_frees_every_page(tmp_path):
    root = str(tmp_path / "img")
    build("unit", root, scale=0.5)
    path = list_shards(root)[0]
    with open_shard(path, write=True, db_root=root) as sh:
        used_before = len(space_usage(sh).pages)
        assert used_before > 10
        with Transaction(sh) as tx:
            for c in list(sh.containers()):
                tx.delete_container(c.rec.uuid)
        u = space_usage(sh)
        assert sh.container_count() == 0
        assert not u.leaked_pages and not u.page_conflicts
        assert set(u.pages.values()) <= {"free-page list"}
        assert sh.sb.free_pages == sh.sb.total_pages - 2 - len(u.pages)
