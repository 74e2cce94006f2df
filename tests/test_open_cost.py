"""Opening reads O(1) bytes; navigation reads only the pages it touches."""
from __future__ import annotations

from support import all_values
from vosfmt import layout as L
from vosfmt import open_shard
from vosfmt.image import list_shards


def test_open_reads_two_superblocks_whatever_the_size(built):
    small = list_shards(built("small"))[0]
    big = list_shards(built("large", 0.004))[0]
    import os
    assert os.path.getsize(big) > 20 * os.path.getsize(small) // 10
    for path in (small, big):
        with open_shard(path) as sh:
            assert sh.df.bytes_read == 2 * L.SUPERBLOCK_SIZE
            assert sh.df.reads == 2


def test_index_lookup_touches_one_path(built):
    path = list_shards(built("large", 0.004))[0]
    with open_shard(path) as sh:
        base = sh.df.reads
        c = sh.container_at(2)
        o = c.object_at(c.object_count() - 1)
        d = o.dkey_at(o.dkey_count() - 1)
        a = d.akey_at(0)
        a.single_value()
        depth = (sh.sb.cont_root.depth + 1 + c.rec.obj_root.depth + 1 + o.rec.dkey_root.depth + 1
                 + d.rec.child_root.depth + 1)
        assert sh.df.reads - base <= depth
        total_pages = sh.sb.total_pages
        assert sh.df.bytes_read < total_pages * 4096 // 20


def test_read_only_open_never_writes(built):
    from support import file_state
    root = built("dtx")
    before = file_state(root)
    for path in list_shards(root):
        with open_shard(path, db_root=root) as sh:
            for _c, v in all_values(sh):
                sh.read_value(v)
    assert file_state(root) == before
