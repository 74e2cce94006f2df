"""Corrupting any metadata byte is caught on access with vosfmt's own error type."""
from __future__ import annotations

import shutil

import pytest

from fixtures import build
from vosfmt import CorruptionError, FormatError, VosError, open_shard
from vosfmt.constants import PAGE_SIZE
from vosfmt.image import list_shards
from vosfmt.usage import space_usage

TINY = {"nvme_size": 1 << 20, "containers": [
    {"objects": [{"dkeys": [{"key": f"d{i}", "akeys": [
        {"key": "sv", "sv": [{"epoch": 5, "data": f"value {i}"}]},
        {"key": "arr", "array": [{"lo": 0, "hi": 9, "epoch": 5, "random": 10}]}]}
        for i in range(40)]}],
     "committed_dtx": [{"xid": "11111111-1111-1111-1111-111111111111.10", "epoch": 3}]}]}


def full_walk(root: str) -> int:
    """Touch every structure; return the number of value records seen."""
    n = 0
    with open_shard(list_shards(root)[0], db_root=root) as sh:
        space_usage(sh)
        for c in sh.containers():
            list(c.dtx_active())
            list(c.dtx_committed())
            for o in c.objects():
                for d in o.dkeys():
                    for a in d.akeys():
                        for v in list(a.single_values()) + list(a.extents()):
                            sh.verify_value(v, a.path)
                            n += 1
    return n


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("tiny"))
    build(TINY, root)
    with open_shard(list_shards(root)[0], db_root=root) as sh:
        u = space_usage(sh)
        meta = sorted(p for p, owner in u.pages.items()
                      if owner.endswith("tree node") or owner == "free-page list")
        slot = sh.sb.slot
    return root, meta, slot, full_walk(root)


def _flip(root: str, offset: int) -> None:
    path = list_shards(root)[0]
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x5A]))


def test_every_metadata_page_byte(tiny, tmp_path):
    root, meta, _slot, _n = tiny
    assert len(meta) >= 3
    tried = 0
    for page in meta:
        for off in list(range(0, 64)) + list(range(64, PAGE_SIZE, 61)):
            work = str(tmp_path / "w")
            shutil.copytree(root, work)
            _flip(work, page * PAGE_SIZE + off)
            with pytest.raises(CorruptionError) as ei:
                full_walk(work)
            assert ei.value.offset == page * PAGE_SIZE
            assert ei.value.structure
            shutil.rmtree(work)
            tried += 1
    assert tried > 100


def test_active_superblock_damage_falls_back_or_fails_cleanly(tiny, tmp_path):
    root, _meta, slot, n = tiny
    for off in range(0, 244, 3):
        work = str(tmp_path / "w")
        shutil.copytree(root, work)
        _flip(work, slot * PAGE_SIZE + off)
        try:
            with open_shard(list_shards(work)[0]) as sh:
                assert sh.sb.slot != slot and sh.superblock_problems
            full_walk(work)      # the previous generation is intact
        except (CorruptionError, FormatError):
            pass
        shutil.rmtree(work)


def test_both_superblocks_damaged(tiny, tmp_path):
    root = tiny[0]
    work = str(tmp_path / "w")
    shutil.copytree(root, work)
    _flip(work, 40)
    _flip(work, PAGE_SIZE + 40)
    with pytest.raises(CorruptionError, match="no valid superblock"):
        open_shard(list_shards(work)[0])


def test_not_a_shard(tmp_path):
    p = tmp_path / "vos-0"
    p.write_bytes(b"hello" * 2000)
    with pytest.raises(FormatError, match="not a VOS pool shard"):
        open_shard(str(p))
    e = tmp_path / "empty"
    e.write_bytes(b"")
    with pytest.raises(FormatError):
        open_shard(str(e))


def test_truncated_shard(tiny, tmp_path):
    work = str(tmp_path / "w")
    shutil.copytree(tiny[0], work)
    path = list_shards(work)[0]
    with open(path, "r+b") as f:
        f.truncate(PAGE_SIZE * 3)
    with pytest.raises(CorruptionError, match="truncated"):
        open_shard(path)


def test_value_corruption_is_detected_by_checksum(tmp_path):
    spec = {"containers": [{"objects": [{"dkeys": [{"key": "d", "akeys": [
        {"key": "big", "sv": [{"epoch": 5, "random": 6000}]}]}]}]}]}
    root = str(tmp_path / "img")
    build(spec, root)
    with open_shard(list_shards(root)[0]) as sh:
        c = next(sh.containers())
        v = c.object_at(0).dkey(b"d").akey(b"big").single_value()
        off = v.off
    _flip(root, off + 100)
    with open_shard(list_shards(root)[0]) as sh:
        c = next(sh.containers())
        v = c.object_at(0).dkey(b"d").akey(b"big").single_value()
        with pytest.raises(CorruptionError, match="checksum"):
            sh.verify_value(v)


def test_errors_never_leak_python_internals(tiny, tmp_path):
    """Random garbage over whole pages gives VosError, never struct.error or IndexError."""
    import random
    root, meta, _slot, _n = tiny
    rng = random.Random(1)
    for page in meta:
        for _ in range(5):
            work = str(tmp_path / "w")
            shutil.copytree(root, work)
            path = list_shards(work)[0]
            with open(path, "r+b") as f:
                f.seek(page * PAGE_SIZE + rng.randrange(8, 64))
                f.write(rng.randbytes(rng.randrange(1, 200)))
            with pytest.raises(VosError):
                full_walk(work)
            shutil.rmtree(work)


def test_semantic_garbage_with_valid_checksums(tiny, tmp_path):
    """Mutated node bodies with recomputed checksums: VosError or a clean walk, nothing else."""
    import random
    import struct

    from vosfmt.pagecrc import page_crc
    root, meta, _slot, _n = tiny
    rng = random.Random(2)
    for page in meta:
        for _ in range(25):
            work = str(tmp_path / "w")
            shutil.copytree(root, work)
            path = list_shards(work)[0]
            with open(path, "r+b") as f:
                f.seek(page * PAGE_SIZE)
                buf = bytearray(f.read(PAGE_SIZE))
                for _ in range(rng.randrange(1, 4)):
                    pos = rng.randrange(8, 400)
                    buf[pos] = rng.randrange(256)
                struct.pack_into("<I", buf, 4, page_crc(buf))
                f.seek(page * PAGE_SIZE)
                f.write(buf)
            try:
                full_walk(work)
            except VosError:
                pass
            shutil.rmtree(work)
