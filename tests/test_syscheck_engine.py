"""The system checker's rank engine (``ddb.checker.system.engine``) and its local transport:
clues read from the system preset, the destroy orders (idempotent, the rank's own check
clean after them), local_check, expected failures as responses, JSON both ways."""
from __future__ import annotations

import json
import os

import pytest

from ddb.checker.system.engine import handle
from ddb.checker.system.transport import LocalTransport, run_encoded
from fixtures.system_injectors import inject_system
from support import sparse_copy
from vosfmt.keys import uuid_bytes
from vosfmt.rdb import PoolService
from vosfmt.smd import SysDb
from vosfmt.system import pools_on_engines, rank_root


@pytest.fixture
def system(built, tmp_path):
    """A private copy of the system preset."""
    dst = str(tmp_path / "sys")
    sparse_copy(built("system"), dst)
    return dst


def _serial(root: str) -> LocalTransport:
    return LocalTransport(root, workers=1)


def _clean(t: LocalTransport, rank: int) -> None:
    r = t.call(rank, {"op": "local_check"})
    assert r["ok"] and r["exit"] == 0 and r["counts"]["total"] == 0, r


def _smd_targets(root: str, rank: int, pool: str) -> list[int]:
    with SysDb(rank_root(root, rank)) as db:
        row = db.pools().get(uuid_bytes(pool))
    return [] if row is None else sorted(row.tgts)


def _blob_files(root: str, rank: int) -> set[str]:
    nvme = os.path.join(rank_root(root, rank), "daos_nvme")
    return {os.path.join(d, f) for d, _, fs in os.walk(nvme) for f in fs}


def test_clues_match_the_layout_and_the_services(system):
    t = _serial(system)
    assert t.ranks() == [0, 1, 2, 3, 4]
    clues = t.map({r: {"op": "clues"} for r in t.ranks()})
    engines = pools_on_engines(system)
    for rank, c in clues.items():
        assert c["ok"] and c["errors"] == [] and c["rank"] == rank and c["op"] == "clues"
        held = {u: p for u, p in engines.items() if rank in p}
        assert sorted(c["pools"]) == sorted(held)
        for uuid, pool in c["pools"].items():
            presence = held[uuid][rank]
            assert pool["targets"] == presence.targets
            _verdict, ps = PoolService(system, uuid).read()
            assert all(conts == sorted(ps["containers"]) for conts in pool["containers"].values())
            assert sorted(pool["containers"]) == [str(t) for t in presence.targets]
            if presence.rdb:
                assert pool["rdb"]["error"] is None
                assert rank in pool["rdb"]["meta"]["membership"]
            else:
                assert pool["rdb"] is None
        assert json.loads(json.dumps(c)) == c


def test_an_unreadable_replica_and_shard_are_reported_not_raised(system):
    t = _serial(system)
    clue = t.call(1, {"op": "clues"})
    pool = next(u for u, p in clue["pools"].items() if p["rdb"])
    pdir = os.path.join(rank_root(system, 1), pool)
    with open(os.path.join(pdir, "rdb-pool"), "r+b") as f:
        f.truncate(100)
    with open(os.path.join(pdir, "vos-1"), "r+b") as f:
        f.write(b"\0" * 8192)
    c = t.call(1, {"op": "clues"})
    assert c["ok"]
    p = c["pools"][pool]
    assert p["rdb"]["meta"] is None and p["rdb"]["error"]
    assert "1" not in p["containers"] and p["targets"] == [0, 1]
    assert any(e.startswith(f"{pool}/vos-1: ") for e in c["errors"])
    # an order over a shard that cannot be opened fails as a response; the others are done
    cont = p["containers"]["0"][0]
    d = t.call(1, {"op": "destroy_container", "pool": pool, "cont": cont})
    assert d["ok"] is False and d["error"].startswith("vos-1: ") and d["removed"] == [0]
    # the replica stays while a shard it describes remains
    d = t.call(1, {"op": "destroy_pool", "pool": pool})
    assert (d["ok"], d["removed"], d["rdb"]) == (False, [0], False)
    assert sorted(os.listdir(pdir)) == ["rdb-pool", "vos-1"]


def test_orphan_container_is_destroyed_on_every_shard_once(system):
    where = inject_system(system, "CONT_NONEXIST_ON_PS", seed=0)
    pool, cont = where["pool"], where["container"]
    t = _serial(system)
    ranks = sorted(pools_on_engines(system)[pool])
    clues = t.map({r: {"op": "clues"} for r in ranks})
    for r in ranks:     # the CS forgot it; the shards still hold it
        assert all(cont in cs for cs in clues[r]["pools"][pool]["containers"].values())
    for r in ranks:
        first = t.call(r, {"op": "destroy_container", "pool": pool, "cont": cont})
        assert first["ok"] and first["removed"] == clues[r]["pools"][pool]["targets"]
        again = t.call(r, {"op": "destroy_container", "pool": pool, "cont": cont.upper()})
        assert again["ok"] and again["removed"] == []
        after = t.call(r, {"op": "clues"})["pools"][pool]["containers"]
        assert after and not any(cont in cs for cs in after.values())
        _clean(t, r)


def test_destroy_pool_removes_it_from_the_rank_and_is_idempotent(system):
    t = _serial(system)
    engines = pools_on_engines(system)
    pool, rank = next((u, r) for u, p in engines.items() for r, e in p.items() if e.rdb)
    first = t.call(rank, {"op": "destroy_pool", "pool": pool})
    assert first["ok"] and first["removed"] == engines[pool][rank].targets and first["rdb"]
    assert not os.path.lexists(os.path.join(rank_root(system, rank), pool))
    assert _smd_targets(system, rank, pool) == []
    assert rank not in pools_on_engines(system).get(pool, {})
    again = t.call(rank, {"op": "destroy_pool", "pool": pool})
    assert again == {**again, "ok": True, "removed": [], "rdb": False}
    _clean(t, rank)
    # the other ranks keep theirs
    assert set(pools_on_engines(system)[pool]) == set(engines[pool]) - {rank}


def test_destroy_pool_finishes_an_interrupted_removal(system):
    """A removal cut between a shard and its SMD rows: the next order drops the rows."""
    t = _serial(system)
    engines = pools_on_engines(system)
    pool, rank = next((u, r) for u, p in engines.items() for r, e in p.items()
                      if 0 in _smd_targets(system, r, u))
    blobs = _blob_files(system, rank)
    os.unlink(os.path.join(rank_root(system, rank), pool, "vos-0"))
    r = t.call(rank, {"op": "destroy_pool", "pool": pool})
    assert r["ok"] and 0 not in r["removed"]
    assert _smd_targets(system, rank, pool) == []
    assert not os.path.lexists(os.path.join(rank_root(system, rank), pool))
    gone = blobs - _blob_files(system, rank)     # vos-0's blob too, not another pool's
    assert len(gone) == len(engines[pool][rank].targets)
    _clean(t, rank)


def test_destroy_pool_refuses_a_directory_holding_more(system):
    t = _serial(system)
    pool, rank = next((u, r) for u, p in pools_on_engines(system).items() for r in p)
    stray = os.path.join(rank_root(system, rank), pool, "notes.txt")
    with open(stray, "w") as f:
        f.write("keep me")
    r = t.call(rank, {"op": "destroy_pool", "pool": pool})
    assert r["ok"] is False and "notes.txt" in r["error"]
    assert os.path.exists(stray)


def test_destroy_shards_keeps_the_replica_then_the_directory_goes(system):
    t = _serial(system)
    engines = pools_on_engines(system)
    pool, rank = next((u, r) for u, p in engines.items() for r, e in p.items()
                      if e.rdb and len(e.targets) > 1)
    pdir = os.path.join(rank_root(system, rank), pool)
    before = _smd_targets(system, rank, pool)           # [] for an SCM-only pool
    r = t.call(rank, {"op": "destroy_shards", "pool": pool, "targets": [1]})
    assert r["ok"] and r["removed"] == [1]
    assert _smd_targets(system, rank, pool) == [t_ for t_ in before if t_ != 1]
    assert os.path.exists(os.path.join(pdir, "rdb-pool"))
    assert t.call(rank, {"op": "destroy_shards", "pool": pool, "targets": [1]})["removed"] == []
    _clean(t, rank)
    # a rank without a replica: its last shards gone, so is the directory
    pool, rank = next((u, r) for u, p in engines.items() for r, e in p.items()
                      if not e.rdb and e.targets)
    r = t.call(rank, {"op": "destroy_shards", "pool": pool,
                      "targets": engines[pool][rank].targets})
    assert r["ok"] and not os.path.lexists(os.path.join(rank_root(system, rank), pool))
    _clean(t, rank)


def test_local_check_reports_counts_and_exit(system):
    t = _serial(system)
    pool, rank = next((u, r) for u, p in pools_on_engines(system).items()
                      for r, e in p.items() if 0 in _smd_targets(system, r, u))
    os.unlink(os.path.join(rank_root(system, rank), pool, "vos-0"))    # SMD keeps its row
    dry = t.call(rank, {"op": "local_check", "dry_run": True})
    assert dry["ok"] and dry["exit"] == 4 and dry["counts"]["dry_run"] == 1
    fix = t.call(rank, {"op": "local_check", "policies": {"POOL_NONEXIST_ON_ENGINE": "DISCARD"}})
    assert fix["ok"] and fix["exit"] == 1 and fix["counts"]["repaired"] == 1
    _clean(t, rank)


@pytest.mark.parametrize("request_, error", [
    ({"op": "nope"}, "unknown op 'nope'"),
    ({"op": "destroy_pool", "pool": "../rank-1"}, "is not a pool uuid"),
    ({"op": "destroy_pool"}, "is not a pool uuid"),
    ({"op": "destroy_container", "pool": "11111111-2222-3333-4444-555555555555",
      "cont": "x"}, "is not a uuid"),
    ({"op": "destroy_shards", "pool": "11111111-2222-3333-4444-555555555555",
      "targets": [-1]}, "targets must be"),
    ({"op": "local_check", "policies": {"NOPE": "IGNORE"}}, "invalid inconsistency class"),
])
def test_bad_requests_are_responses(system, request_, error):
    r = _serial(system).call(0, request_)
    assert r["ok"] is False and error in r["error"] and r["rank"] == 0


def test_missing_rank_or_pool(system):
    t = _serial(system)
    os.mkdir(os.path.join(system, "rank-5"))
    assert t.call(5, {"op": "local_check"})["status"] == "EMPTY"
    assert t.call(5, {"op": "clues"})["pools"] == {}
    r = t.call(9, {"op": "clues"})
    assert r["ok"] is False and "rank 9 has no image directory" in r["error"]
    for op in ("destroy_pool", "destroy_container", "destroy_shards"):
        req = {"op": op, "pool": "11111111-2222-3333-4444-555555555555",
               "cont": "aaaaaaaa-0000-0000-0000-000000000001", "targets": [0]}
        assert t.call(0, req) == {**t.call(0, req), "ok": True, "removed": []}
    assert handle("not a dict")["ok"] is False
    assert json.loads(run_encoded("{"))["ok"] is False


def test_parallel_map_equals_serial_calls_and_contains_failures(system):
    parallel = LocalTransport(system, workers=2)
    reqs = {r: {"op": "clues"} for r in parallel.ranks()}
    assert parallel.map(reqs) == _serial(system).map(reqs)
    # a request that breaks an op unexpectedly (policies not a mapping) fails alone
    mixed = parallel.map({0: {"op": "local_check", "policies": ["x"]}, 1: {"op": "clues"}})
    assert mixed[0]["ok"] is False and "AttributeError" in mixed[0]["error"]
    assert mixed[1]["ok"] is True
    # local checks run in the workers, each scanning its shards
    checks = parallel.map({r: {"op": "local_check", "dry_run": True} for r in parallel.ranks()})
    assert all(c["ok"] and c["exit"] == 0 for c in checks.values())


def test_requests_and_responses_are_json(system):
    t = _serial(system)
    with pytest.raises(TypeError):
        t.call(0, {"op": "clues", "oops": {1, 2}})          # a set is not JSON: refused early
    r = t.call(0, {"op": "clues"})
    assert json.loads(json.dumps(r)) == r
