"""System fixtures: the ``system`` preset, the system spec and its round trip, the system
injectors (each against a golden before/after difference, everything else equal), the CLI.

Goldens live in tests/golden/system_inject/<CLASS>.txt; regenerate them with
DDB_UPDATE_GOLDEN=1 (then read the diff: it is what each injector changes).
"""
from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from ddb.cli import cli
from fixtures import build, dump_system, preset
from fixtures.injectors import InjectError
from fixtures.spec_fields import SpecError
from fixtures.system_export import diff_exports, export_system
from fixtures.system_injectors import inject_system, system_problem_names
from fixtures.system_spec import normalize_system
from support import sparse_copy
from vosfmt.sysdump import system_dump
from vosfmt.system import ms_dirs, rank_dirs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOLDEN = os.path.join(os.path.dirname(__file__), "golden", "system_inject")

# every injector, and the variants whose seed or --side picks another mode or pool
CASES = {
    "POOL_NONEXIST_ON_MS": [{}],
    "POOL_NONEXIST_ON_ENGINE": [{}],
    "POOL_BAD_LABEL": [{}, {"side": "ps"}],
    "ENGINE_NONEXIST_IN_MAP": [{}, {"seed": 1}],
    "ENGINE_HAS_NO_STORAGE": [{}, {"seed": 1}],
    "ENGINE_DOWN_IN_MAP": [{}],
    "POOL_LESS_SVC_WITHOUT_QUORUM": [{}, {"seed": 1}],
    "CONT_NONEXIST_ON_PS": [{}],
    "CONT_BAD_LABEL": [{}],
    "MS_REPLICA_BEHIND": [{}],
    "MS_WITHOUT_QUORUM": [{}, {"seed": 1}],
}
# injectors that remove or add shards: every rank's own check must stay clean
STORAGE = ("POOL_NONEXIST_ON_ENGINE", "ENGINE_NONEXIST_IN_MAP", "ENGINE_HAS_NO_STORAGE")


def _pool(sd: dict, uuid: str) -> dict:
    return next(p for p in sd["pools"] if p["uuid"] == uuid)


def _engine_ranks(pool: dict) -> set:
    return {e["rank"] for e in pool["engines"]}


def _map_ranks(pool: dict) -> dict:
    return {e["rank"]: e for e in pool["pool_map"]["ranks"]}


def _cont(pool: dict, uuid: str) -> dict | None:
    return next((c for c in pool["containers"] if c["uuid"] == uuid), None)


# what each class means, seen through ``system_dump``: the symptom its checker looks for
SYMPTOMS = {
    "POOL_NONEXIST_ON_MS": lambda sd, w: not _pool(sd, w["pool"])["on_ms"]
    and _pool(sd, w["pool"])["engines"],
    "POOL_NONEXIST_ON_ENGINE": lambda sd, w: _pool(sd, w["pool"])["on_ms"]
    and not _pool(sd, w["pool"])["engines"],
    "POOL_BAD_LABEL": lambda sd, w: _pool(sd, w["pool"])["label_ms"] != _pool(sd, w["pool"])["label"],
    "ENGINE_NONEXIST_IN_MAP": lambda sd, w: w["rank"] in _engine_ranks(_pool(sd, w["pool"]))
    and w["rank"] not in _map_ranks(_pool(sd, w["pool"])),
    "ENGINE_HAS_NO_STORAGE": lambda sd, w: w["rank"] in _map_ranks(_pool(sd, w["pool"])) and (
        w["rank"] not in _engine_ranks(_pool(sd, w["pool"]))
        or 0 not in next(e for e in _pool(sd, w["pool"])["engines"]
                         if e["rank"] == w["rank"])["targets"]),
    "ENGINE_DOWN_IN_MAP": lambda sd, w: _map_ranks(_pool(sd, w["pool"]))[w["rank"]]["state"] == "DOWN"
    and w["rank"] in _engine_ranks(_pool(sd, w["pool"])),
    "POOL_LESS_SVC_WITHOUT_QUORUM": lambda sd, w: not _pool(sd, w["pool"])["quorum"],
    "CONT_NONEXIST_ON_PS": lambda sd, w: _cont(_pool(sd, w["pool"]), w["container"]) is None,
    "CONT_BAD_LABEL": lambda sd, w: _cont(_pool(sd, w["pool"]), w["container"])["prop_label"]
    != _cont(_pool(sd, w["pool"]), w["container"])["label"],
    "MS_REPLICA_BEHIND": lambda sd, w: sd["ms"]["behind"] == [w["rank"]] and sd["ms"]["quorum"],
    "MS_WITHOUT_QUORUM": lambda sd, w: not sd["ms"]["quorum"],
}


def run(*args, stdin=None):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT,
                          input=stdin, timeout=300)


def _digest(path: str) -> str:
    """A file's size and the bytes of its data ranges (holes skipped: the blobs are sparse)."""
    h = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY)
    try:
        size, off = os.fstat(fd).st_size, 0
        h.update(str(size).encode())
        while off < size:
            try:
                begin = os.lseek(fd, off, os.SEEK_DATA)
            except OSError:
                break
            off = os.lseek(fd, begin, os.SEEK_HOLE)
            h.update(b"@%d" % begin + os.pread(fd, off - begin, begin).rstrip(b"\0"))
    finally:
        os.close(fd)
    return h.hexdigest()


def _hashes(root: str) -> dict:
    """Every file's digest but LMDB's lock files (not content: rewritten by any open)."""
    return {os.path.relpath(os.path.join(d, f), root): _digest(os.path.join(d, f))
            for d, _, files in os.walk(root) for f in files if f != "lock.mdb"}


def _covered(line: str, patterns) -> bool:
    path = line[2:].split(" = ")[0].split(": ")[0]
    return any(fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path, p + "/*") for p in patterns)


def _check_clean(rank_root: str) -> None:
    r = CliRunner().invoke(cli, ["check", "start", "-n", "-D", rank_root], catch_exceptions=False)
    assert r.exit_code == 0 and "0 finding(s)" in r.stdout, (rank_root, r.stdout)


# --- the preset ------------------------------------------------------------------------------

def test_preset_shape(built):
    root = built("system")
    sd = system_dump(root)
    assert list(rank_dirs(root)) == [0, 1, 2, 3, 4] and list(ms_dirs(root)) == [0, 1, 2]
    assert sd["ms"]["quorum"] and [m["rank"] for m in sd["ms"]["members"]] == [0, 1, 2, 3, 4]
    assert {p["label"] for p in sd["ms"]["pools"]} == {"tank", "scratch", "archive"}
    outside = set()
    for p in sd["pools"]:
        assert p["quorum"] and len(p["membership"]) == 3 and not p["behind"] and not p["missing"]
        assert p["label_ms"] == p["label"] and p["on_ms"]
        in_map = set(_map_ranks(p))
        assert _engine_ranks(p) == in_map and all(len(e["targets"]) >= 2 for e in p["engines"])
        assert {e["rank"] for e in p["engines"] if e["rdb"]} == set(p["membership"]) <= in_map
        assert p["containers"] and all(c["label"] == c["prop_label"] and c["label_index"] == c["uuid"]
                                       for c in p["containers"])
        outside |= set(rank_dirs(root)) - in_map
    assert outside                               # some pool's map leaves a rank out
    spec = dump_system(root)
    assert sum(1 for p in spec["pools"] if p["nvme_size"]) == 2
    for p in spec["pools"]:                      # every container is on every shard of its pool
        for c in p["containers"]:
            assert len(c["shards"]) == len(p["map"]["ranks"]) * p["targets"]
        assert sum(len(s["objects"]) for c in p["containers"] for s in c["shards"]) > 0
    size = sum(os.stat(os.path.join(d, f)).st_blocks * 512
               for d, _, fs in os.walk(root) for f in fs)
    assert size < 8 << 20


def test_every_rank_checks_clean(built):
    root = built("system")
    for rank, path in rank_dirs(root).items():
        r = run("-m", "ddb", "check", "start", "-n", "-D", path)
        assert r.returncode == 0 and "0 finding(s)" in r.stdout, (rank, r.stdout, r.stderr)


def test_same_seed_same_bytes(tmp_path, built):
    again = str(tmp_path / "again")
    build("system", again, seed=0)
    assert _hashes(again) == _hashes(built("system"))
    other = str(tmp_path / "other")
    build("system", other, seed=1)
    assert _hashes(other).keys() != _hashes(again).keys()       # other uuids


def test_scale_grows_objects(tmp_path):
    def objects(root):
        return sum(len(s["objects"]) for p in dump_system(root)["pools"]
                   for c in p["containers"] for s in c["shards"])
    build("system", str(tmp_path / "a"), scale=0.5)
    build("system", str(tmp_path / "b"), scale=2)
    assert objects(str(tmp_path / "b")) > objects(str(tmp_path / "a"))


# --- the spec --------------------------------------------------------------------------------

SPEC = {"ranks": [0, 1, 2, 5], "ms_replicas": [0, 2, 5], "pools": [
    {"uuid": "0b8a3d6c-1d3e-4f3e-9c1a-6f9a2b1c0d11", "label": "p1", "svc_ranks": [1],
     "targets": 2, "nvme_size": 16 << 20, "props": {"redun_fac": 1, "custom": "x"},
     "map": {"version": 4, "ranks": [
         {"rank": 0, "state": "UPIN"}, {"rank": 1},
         {"rank": 5, "state": "DOWN", "targets": [{"index": 0, "state": "DOWN"},
                                                  {"index": 1, "state": "DOWNOUT"}]}]},
     "containers": [
         {"uuid": "6e2f1b0a-2222-4ccc-8ddd-0123456789ab", "label": "c1", "csum": "sha256",
          "shards": [{"rank": 5, "target": 1, "objects": [{"oid": "1.2.0.0", "dkeys": [
              {"key": "d", "akeys": [{"key": "a", "sv": [{"epoch": 3, "data": "v"}]}]}]}]}]},
         {"objects": [{"dkeys": [{"key": f"k{i}", "akeys": [
             {"key": "a", "sv": [{"epoch": 1, "random": 5000}]}]}]} for i in range(5)]},
     ]},
    {"label": "p2", "ranks": [2], "cont_labels": {"orphan": "6e2f1b0a-2222-4ccc-8ddd-0123456789ab"}},
]}


@pytest.mark.parametrize("spec,seed", [(SPEC, 3), (preset("system", 0), 0)])
def test_spec_round_trip(tmp_path, spec, seed):
    first = str(tmp_path / "first")
    build(spec, first, seed=seed)
    dumped = dump_system(first)
    assert dumped == normalize_system(spec, seed)
    again = str(tmp_path / "again")
    build(dumped, again, seed=seed)
    assert dump_system(again) == dumped


@pytest.mark.parametrize("spec,message", [
    ({"ranks": 0}, "ranks must be a count"),
    ({"ranks": 3, "pool": {}}, "unknown system spec field(s) pool"),
    ({"ranks": [0, 0]}, "rank 0 is listed twice"),
    ({"ranks": 3, "ms_replicas": [5]}, "5 is not one of the ranks"),
    ({"ranks": 3, "pools": "x"}, "pools must be a list"),
    ({"ranks": 3, "pools": [{"colour": 1}]}, "unknown pool field(s) colour"),
    ({"ranks": 3, "pools": [{"svc_ranks": [0, 0]}]}, "lists a rank twice"),
    ({"ranks": 3, "pools": [{"ranks": [0, 1], "svc_ranks": [2]}]}, "2 is not one of the ranks"),
    ({"ranks": 3, "pools": [{"ranks": [0], "map": {"ranks": []}}]}, "give ranks or map"),
    ({"ranks": 3, "pools": [{"map": {"ranks": [{"rank": 0, "state": "SIDEWAYS"}]}}]},
     "state must be one of"),
    ({"ranks": 3, "pools": [{"targets": 2, "map": {"ranks": [{"rank": 0, "targets": [
        {"index": 1}]}]}}]}, "targets must list indexes 0..1"),
    ({"ranks": 3, "pools": [{"label": "a b"}]}, "a pool label is 1-127"),
    ({"ranks": 3, "pools": [{"label": "0b8a3d6c-1d3e-4f3e-9c1a-6f9a2b1c0d11"}]}, "cannot be a uuid"),
    ({"ranks": 3, "pools": [{"label": "x"}, {"label": "x"}]}, "two pools have the label x"),
    ({"ranks": 3, "pools": [{"containers": [{"label": "c"}, {"label": "c"}]}]},
     "two containers are labelled 'c'"),
    ({"ranks": 3, "pools": [{"containers": [{"shards": [{"rank": 7}]}]}]},
     "rank 7 target 0 is not in the pool map"),
    ({"ranks": 3, "pools": [{"containers": [{"objects": [], "shards": []}]}]},
     "give objects (spread over the shards) or shards"),
    ({"ranks": 2, "devices": [], "pools": [{"nvme_size": 16 << 20}]}, "has no NVMe device"),
    ({"ranks": 3, "pools": [{"cont_labels": {"l": 7}}]}, "cont_labels must map labels"),
    ({"ranks": 3, "pools": [{"containers": [{"objects": [{"oid": "x"}]}]}]}, "invalid oid"),
])
def test_spec_errors(spec, message):
    with pytest.raises(SpecError) as e:
        normalize_system(spec)
    assert message in str(e.value)


# --- the injectors ---------------------------------------------------------------------------

def test_every_injector_has_cases():
    assert sorted(CASES) == system_problem_names()


@pytest.mark.parametrize("name", sorted(CASES))
def test_injector_golden_and_nothing_else(name, built, tmp_path):
    base = built("system")
    before = export_system(base)
    transcript, modes = [], set()
    for i, kw in enumerate(CASES[name]):
        root = str(tmp_path / f"case-{i}")
        sparse_copy(base, root)
        where = inject_system(root, name, **kw)
        modes.add(json.dumps({k: where.get(k) for k in ("mode", "side", "pool")}))
        after = export_system(root)
        lines = diff_exports(before, after)
        assert lines, f"{name} {kw} changed nothing"
        stray = [line for line in lines if not _covered(line, where["changed"])]
        assert stray == [], f"{name} {kw} changed what it does not name"
        assert SYMPTOMS[name](system_dump(root), where), (name, kw, where)
        if name in STORAGE:
            for path in rank_dirs(root).values():
                _check_clean(path)
        args = " ".join(f"--{k} {v}" for k, v in sorted(kw.items()))
        transcript += [f"# corrupt --problem {name} {args}".rstrip(),
                       json.dumps(where, sort_keys=True), *lines]
    assert len(modes) == len(CASES[name])          # each variant is another mode or pool
    golden = os.path.join(GOLDEN, f"{name}.txt")
    if os.environ.get("DDB_UPDATE_GOLDEN"):
        os.makedirs(GOLDEN, exist_ok=True)
        with open(golden, "w") as f:
            f.write("\n".join(transcript) + "\n")
    with open(golden) as f:
        assert f.read().splitlines() == transcript


def test_copy_to_a_rank_without_nvme(tmp_path):
    """ENGINE_NONEXIST_IN_MAP onto an engine with no NVMe device yet: the copy brings one (in
    its SMD and daos_nvme), so that engine's own check stays clean."""
    root = str(tmp_path / "sys")
    build(SPEC, root, seed=3)
    before = export_system(root)
    where = inject_system(root, "ENGINE_NONEXIST_IN_MAP", pool="p1")
    assert where["rank"] == 2
    lines = diff_exports(before, export_system(root))
    assert "~ engines/rank-2/devices: [] -> " in "\n".join(lines)
    assert [line for line in lines if not _covered(line, where["changed"])] == []
    _check_clean(os.path.join(root, "rank-2"))


def test_pool_by_label_and_refusals(built, tmp_path):
    root = str(tmp_path / "sys")
    sparse_copy(built("system"), root)
    where = inject_system(root, "ENGINE_DOWN_IN_MAP", pool="tank")
    assert where["label"] == "tank"
    for name, kw, message in [
        ("POOL_BAD_LABEL", {"pool": "nope"}, "no pool 'nope' in this system"),
        ("ENGINE_NONEXIST_IN_MAP", {"pool": "tank"}, "pool tank has no rank outside its map"),
        ("MS_REPLICA_BEHIND", {"pool": "tank"}, "--pool does not apply"),
        ("POOL_BAD_LABEL", {"side": "up"}, "takes no --side up (give one of: ms, ps)"),
        ("CONT_BAD_LABEL", {"side": "ms"}, "takes no --side ms"),
        ("NO_SUCH_CLASS", {}, "no system injector for 'NO_SUCH_CLASS'"),
    ]:
        with pytest.raises(InjectError) as e:
            inject_system(root, name, **kw)
        assert message in str(e.value)
    inject_system(root, "MS_WITHOUT_QUORUM")
    with pytest.raises(InjectError, match="no quorum already"):
        inject_system(root, "MS_WITHOUT_QUORUM", seed=1)
    with pytest.raises(InjectError, match="not a system image"):
        inject_system(str(tmp_path), "POOL_BAD_LABEL")


# --- the command line ----------------------------------------------------------------------------

def test_cli_build_dump_corrupt_presets(tmp_path):
    out = tmp_path / "sys"
    r = run("-m", "fixtures", "build", str(out), "--preset", "system", "--seed", "2")
    assert r.returncode == 0, r.stderr
    paths = r.stdout.splitlines()
    assert all(os.path.isfile(p) for p in paths)
    assert {os.path.basename(p) for p in paths} >= {"vos-0", "vos-1", "rdb-pool"}
    r = run("-m", "fixtures", "presets")
    assert r.returncode == 0 and any(line.startswith("system ") for line in r.stdout.splitlines())
    dumped = json.loads(run("-m", "fixtures", "dump", str(out)).stdout)
    tank = next(p for p in dumped["pools"] if p["label"] == "tank")
    r = run("-m", "fixtures", "corrupt", str(out), "--problem", "pool_bad_label", "--side", "ps",
            "--pool", tank["uuid"])
    assert r.returncode == 0, r.stderr
    where = json.loads(r.stdout)
    assert where["problem"] == "POOL_BAD_LABEL" and where["new_label"] == "tank-fault"
    r = run("-m", "fixtures", "corrupt", str(out), "--problem", "VALUE_CSUM_MISMATCH")
    assert r.returncode == 2 and "rank's folder" in r.stderr
    r = run("-m", "fixtures", "corrupt", str(out / "rank-0"), "--problem", "MS_WITHOUT_QUORUM")
    assert r.returncode == 2 and "is a system class" in r.stderr
    r = run("-m", "fixtures", "corrupt", str(out), "--problem", "ENGINE_NONEXIST_IN_MAP",
            "--pool", "tank")
    assert r.returncode == 1 and "no rank outside its map" in r.stderr
    assert "Traceback" not in r.stderr


def test_cli_build_system_spec(tmp_path):
    spec = {"ranks": 2, "ms_replicas": [0], "pools": [{"label": "p", "containers": [{"label": "c"}]}]}
    r = run("-m", "fixtures", "build", str(tmp_path / "a"), "--spec", "-", stdin=json.dumps(spec))
    assert r.returncode == 0, r.stderr
    assert json.loads(run("-m", "fixtures", "dump", str(tmp_path / "a")).stdout)["ms"] == {
        "replicas": [0]}
    spec["pools"][0]["svc_ranks"] = [4]
    r = run("-m", "fixtures", "build", str(tmp_path / "b"), "--spec", "-", stdin=json.dumps(spec))
    assert r.returncode == 1 and "bad spec" in r.stderr and "svc_ranks" in r.stderr
