"""The system image's layout, its rdb-pool files as shards, MS replica safety, and the
system_dump document."""
from __future__ import annotations

import json
import os
import shutil

import pytest

from system_support import CONT, POOL, SVC, PsKind, build_system
from vosfmt import open_shard
from vosfmt.constants import RDB_TARGET
from vosfmt.create import create_shard
from vosfmt.errors import VosError
from vosfmt.image import list_shards
from vosfmt.lock import LockedError
from vosfmt.ms import ManagementService
from vosfmt.rdb import RDB_CONT, TABLE_IDS, PoolService
from vosfmt.sysdump import system_dump
from vosfmt.system import (
    is_system_root,
    ms_dirs,
    pools_on_engines,
    rank_dirs,
    rank_root,
    rdb_path,
)

OTHER = "22222222-2222-3333-4444-555555555555"


@pytest.fixture
def root(tmp_path):
    return build_system(str(tmp_path / "sys"))


def test_layout_listings(root, tmp_path):
    os.makedirs(os.path.join(root, "rank-01"))
    os.makedirs(os.path.join(root, "rank-x"))
    open(os.path.join(root, "rank-9"), "w").close()
    os.makedirs(os.path.join(root, "ms", "07"))
    assert list(rank_dirs(root)) == [0, 1, 2, 3]
    assert rank_dirs(root)[2] == rank_root(root, 2)
    assert list(ms_dirs(root)) == [0, 1, 2]
    assert is_system_root(root) and not is_system_root(str(tmp_path))
    os.makedirs(os.path.join(rank_root(root, 3), POOL))
    for t in (1, 0):
        create_shard(os.path.join(rank_root(root, 3), POOL, f"vos-{t}"), POOL, t)
    os.makedirs(os.path.join(rank_root(root, 3), "not-a-pool"))
    found = pools_on_engines(root)
    assert list(found) == [POOL]
    assert {r: (p.targets, p.rdb) for r, p in found[POOL].items()} == {
        0: ([], True), 1: ([], True), 2: ([], True), 3: ([0, 1], False)}
    # an engine's listing of shards is its targets' vos-N only, never the rdb-pool
    assert [os.path.basename(p) for p in list_shards(rank_root(root, 3))] == ["vos-0", "vos-1"]
    assert list_shards(rank_root(root, 0)) == []


def test_rdb_pool_is_a_shard_ddb_can_read(root):
    PoolService(root, POOL).update(lambda s: PsKind.edit(s, 1))
    with open_shard(rdb_path(root, 0, POOL)) as sh:
        assert sh.sb.target_idx == RDB_TARGET and sh.pool_uuid == POOL and not sh.sb.nvme_size
        assert [c.uuid for c in sh.containers()] == [RDB_CONT]
        cont = sh.container(RDB_CONT)
        assert [str(o.oid) for o in cont.objects()] == \
            [f"0.{i}.0.0" for i in sorted(TABLE_IDS.values())]
        epochs = {}
        for o in cont.objects():
            for dk in o.dkeys():
                (ak,) = list(dk.akeys())
                assert ak.key == b"value"
                (sv,) = list(ak.single_values())       # older versions were deleted
                epochs[o.oid.lo, dk.key] = sv.epoch
                json.loads(sh.read_value(sv))
    assert epochs[TABLE_IDS["raft"], b"last_index"] == 2
    assert epochs[TABLE_IDS["props"], b"label"] == 2
    assert epochs[TABLE_IDS["props"], b"owner"] == 1
    assert epochs[TABLE_IDS["cont_labels"], b"cont-1"] == 2
    assert (TABLE_IDS["cont_labels"], b"cont-a") not in epochs     # a deleted key's dkey
    assert sorted(os.listdir(os.path.dirname(rdb_path(root, 0, POOL)))) == ["rdb-pool"]


def test_a_half_made_rdb_pool_is_unreadable(root):
    path = rdb_path(root, 1, POOL)
    os.remove(path)
    create_shard(path, POOL, RDB_TARGET)              # no rdb container yet
    s = PoolService(root, POOL).survey()
    assert s.replicas[1].status == "unreadable" and "no rdb container" in s.replicas[1].error
    os.remove(path)
    create_shard(path, OTHER, RDB_TARGET)
    s = PoolService(root, POOL).survey()
    assert "not the rdb-pool of pool" in s.replicas[1].error
    os.remove(path)
    create_shard(path, POOL, 0)
    assert "target 0x0" in PoolService(root, POOL).survey().replicas[1].error


def test_an_rdb_pool_that_is_a_directory_is_unreadable(root):
    """An OS error on one replica (here EISDIR) makes it unreadable, not the whole read."""
    path = rdb_path(root, 1, POOL)
    os.remove(path)
    os.mkdir(path)
    s = PoolService(root, POOL).survey()
    assert s.replicas[1].status == "unreadable" and s.replicas[1].error.startswith(path + ": ")
    assert s.verdict.quorum                           # 2 of 3 still readable
    pool = system_dump(root)["pools"][0]
    assert [r["status"] for r in pool["replicas"]] == ["authoritative", "unreadable", "authoritative"]


def test_ms_replica_behind_a_link_is_unreadable(root, tmp_path):
    ms1 = os.path.join(root, "ms", "1")
    os.rename(ms1, str(tmp_path / "elsewhere"))
    os.symlink(str(tmp_path / "elsewhere"), ms1)
    s = ManagementService(root).survey()
    assert s.replicas[1].status == "unreadable" and "symbolic link" in s.replicas[1].error


def test_ms_reader_waits_for_a_writer_instead_of_mixing(root, monkeypatch):
    import vosfmt.kv
    import vosfmt.ms
    monkeypatch.setattr(vosfmt.ms, "LOCK_WAIT", 0.05)
    seen = []
    write = vosfmt.kv.KvStore.write

    def write_and_read(self, puts=(), deletes=()):
        with pytest.raises(LockedError, match="in use by another writer"):
            vosfmt.ms.MsReplica(root, int(os.path.basename(self.path))).load()
        seen.append(True)
        write(self, puts, deletes)
    monkeypatch.setattr(vosfmt.kv.KvStore, "write", write_and_read)
    ManagementService(root).update(lambda s: None)
    assert len(seen) == len(SVC)


def test_system_dump_document(root):
    PsKind.damage(root, 2)
    os.makedirs(os.path.join(rank_root(root, 3), OTHER))
    create_shard(os.path.join(rank_root(root, 3), OTHER, "vos-0"), OTHER, 0)
    ManagementService(root).update(lambda s: s["pools"].__setitem__(
        "33333333-0000-0000-0000-000000000000",
        {"uuid": "33333333-0000-0000-0000-000000000000", "label": "ghost", "svc_ranks": [1],
         "state": "ready"}))
    doc = system_dump(root)
    assert list(doc) == ["ms", "pools"]
    ms = doc["ms"]
    assert ms["quorum"] and ms["membership"] == [0, 1, 2] and ms["last_index"] == 2
    assert [m["rank"] for m in ms["members"]] == [0, 1, 2, 3]
    assert [p["uuid"] for p in ms["pools"]] == [POOL, "33333333-0000-0000-0000-000000000000"]
    assert ms["checker"] == {"enabled": False, "instance": 0, "leader": None, "policies": {}}
    assert ms["findings"] == 0
    assert [r["status"] for r in ms["replicas"]] == ["authoritative"] * 3
    uuids = [p["uuid"] for p in doc["pools"]]
    assert uuids == sorted([POOL, OTHER, "33333333-0000-0000-0000-000000000000"])
    pool = doc["pools"][0]
    assert pool["uuid"] == POOL and pool["on_ms"] and pool["label_ms"] == "pool-a"
    assert pool["label"] == "pool-a" and pool["quorum"] and pool["missing"] == [2]
    statuses = {r["rank"]: (r["status"], r["last_index"]) for r in pool["replicas"]}
    assert statuses == {0: ("authoritative", 1), 1: ("authoritative", 1), 2: ("unreadable", None)}
    assert pool["replicas"][2]["error"]
    assert pool["pool_map"]["version"] == 1 and [e["rank"] for e in pool["pool_map"]["ranks"]] \
        == [0, 1, 2, 3]
    assert pool["containers"] == [{"uuid": CONT, "label": "cont-a", "prop_label": "cont-a",
                                   "label_index": CONT}]
    assert pool["cont_labels"] == [{"label": "cont-a", "uuid": CONT}]
    assert [e["rank"] for e in pool["engines"]] == [0, 1, 2]
    other = doc["pools"][1]
    assert other["uuid"] == OTHER and not other["on_ms"] and other["label_ms"] is None
    assert other["replicas"] == [] and not other["quorum"] and other["pool_map"] is None
    assert other["engines"] == [{"rank": 3, "targets": [0], "rdb": False}]
    ghost = doc["pools"][2]
    assert ghost["on_ms"] and ghost["label_ms"] == "ghost" and ghost["engines"] == []
    assert ghost["containers"] == [] and ghost["label"] is None
    assert json.dumps(doc, sort_keys=True) == json.dumps(system_dump(root), sort_keys=True)


def test_system_dump_refuses_a_single_engine_image(tmp_path):
    with pytest.raises(VosError, match="not a system image"):
        system_dump(str(tmp_path))


def test_system_dump_without_ms(root):
    shutil.rmtree(os.path.join(root, "ms"))
    doc = system_dump(root)
    assert doc["ms"]["replicas"] == [] and not doc["ms"]["quorum"] and doc["ms"]["members"] == []
    assert [p["uuid"] for p in doc["pools"]] == [POOL] and not doc["pools"][0]["on_ms"]


def test_system_dump_shows_malformed_entries_as_found(root):
    def damage_ms(s):
        s["pools"][POOL] = ["not", "an", "object"]
        s["members"]["x"] = {"uuid": "no-rank"}

    def damage_ps(s):
        s["containers"]["c2"] = "junk"
        s["pool_map"]["rank-x"] = {"rank": "x"}
    ManagementService(root).update(damage_ms)
    PoolService(root, POOL).update(damage_ps)
    doc = system_dump(root)
    assert doc["ms"]["members"][-1] == {"rank": None, "uuid": "no-rank", "state": None}
    assert doc["ms"]["pools"] == [{"uuid": POOL, "label": None, "svc_ranks": None, "state": None}]
    pool = doc["pools"][0]
    assert pool["label_ms"] is None and pool["on_ms"]
    assert pool["containers"][-1] == {"uuid": "c2", "label": None, "prop_label": None,
                                      "label_index": None}
    assert pool["pool_map"]["ranks"][-1]["rank"] == "x"
