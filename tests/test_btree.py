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
    tx.commit()         # the page accounting too, so freed and written pages are consistent
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


def _rewrite_node(sh, page: int, change) -> None:
    """Give the node at ``page`` other entries (``change(keys, kids, counts)``), sealed."""
    from vosfmt.node import HEADER, branch_body, build_page
    n = sh.reader.node(page, 5)
    _m, _c, tclass, flags, level, _p, _n, _u, gen, _s = HEADER.unpack_from(sh.df.read(page * 4096, 64))
    keys, kids, counts = list(n.keys), list(n.kids), list(n.counts)
    change(keys, kids, counts)
    sh.df.write(page * 4096, build_page(4096, page, tclass, level, flags, gen, len(keys),
                                        branch_body(keys, kids, counts)))
    sh.reader.invalidate(page)


def test_tree_walk_names_a_bad_page_and_walks_on(shard):
    """TreeWalk yields every readable leaf in key order, reports an unreadable page as an
    event (not an exception), and lists the pages it reached: what TreeReader.pages gives."""
    from vosfmt.treewalk import Damage, Leaf, TreeWalk
    keys = [bytes([i]) * 8 for i in range(200)]
    desc = _apply(shard, TreeRoot(5), [("put", k, b"x" * 50) for k in keys])
    assert desc.depth == 1
    walk = TreeWalk(shard.reader, desc)
    events = list(walk)
    assert all(type(e) is Leaf and not e.unordered for e in events)
    assert [k for e in events for k in e.keys] == keys
    assert walk.pages == shard.reader.pages(desc) and len(walk.pages) == len(events) + 1

    lost = events[1]
    shard.df.write(lost.page * 4096, bytes(4))          # its magic gone
    shard.reader.invalidate(lost.page)
    events = list(TreeWalk(shard.reader, desc))
    damage = [e for e in events if type(e) is Damage]
    assert [e.page for e in damage] == [lost.page] and "magic" in damage[0].reason
    assert [k for e in events if type(e) is Leaf for k in e.keys] == \
        [k for k in keys if k not in lost.keys]


def test_tree_walk_reports_counts_and_order_lookups_rely_on(shard):
    from vosfmt.treewalk import Damage, Leaf, Miscount, TreeWalk
    keys = [bytes([i]) * 8 for i in range(200)]
    desc = _apply(shard, TreeRoot(5), [("put", k, b"x" * 50) for k in keys])

    def recount(keys_, kids, counts, by=1):
        counts[0] += by
    _rewrite_node(shard, desc.page, recount)
    (miscount,) = [e for e in TreeWalk(shard.reader, desc) if type(e) is Miscount]
    assert miscount.page == shard.reader.node(desc.page, 5).kids[0]
    assert miscount.stored == miscount.actual + 1

    def swap(keys_, kids, counts):
        kids[0], kids[1] = kids[1], kids[0]
        counts[0], counts[1] = counts[1], counts[0]
    _rewrite_node(shard, desc.page, lambda *e: recount(*e, by=-1))     # right again
    _rewrite_node(shard, desc.page, swap)
    events = list(TreeWalk(shard.reader, desc))
    assert any(type(e) is Damage and "does not bound" in e.reason for e in events)
    assert any(type(e) is Leaf and e.unordered for e in events)
