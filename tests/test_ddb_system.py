"""ddb on a system image: rdb-pool files opened like vos-N, ``system_dump`` (goldens, damage),
single-engine commands and ``check`` on rank-<R> folders, a system root sent to the system checker."""
from __future__ import annotations

import json
import os
import shutil

import pytest
from click.testing import CliRunner

from ddb.cli import cli
from support import file_state, sparse_copy
from vosfmt.constants import RDB_TARGET
from vosfmt.ms import ManagementService
from vosfmt.rdb import RDB_CONT, PoolService, RdbReplica
from vosfmt.replicated import ReplicatedService
from vosfmt.sysdump import system_dump
from vosfmt.system import rank_dirs, rdb_path

GOLDEN = os.path.join(os.path.dirname(__file__), "golden", "system")
PROPS = f"/{RDB_CONT}/0.3.0.0"


def ddb(*args, input=None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


@pytest.fixture(scope="module")
def system(built):
    return built("system")


@pytest.fixture
def copy(system, tmp_path):
    dst = str(tmp_path / "sys")
    sparse_copy(system, dst)
    return dst


def pools(root) -> dict[str, dict]:
    """label -> the pool's system_dump entry."""
    return {p["label"]: p for p in system_dump(root)["pools"]}


def svc_rdb(root, label: str, index: int = 0) -> str:
    """The rdb-pool of the ``index``-th PS replica of the pool labelled ``label``."""
    p = pools(root)[label]
    return rdb_path(root, p["membership"][index], p["uuid"])


def check_golden(name: str, text: str) -> None:
    path = os.path.join(GOLDEN, name)
    if os.environ.get("DDB_UPDATE_GOLDEN"):
        os.makedirs(GOLDEN, exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    with open(path) as f:
        assert f.read().splitlines() == text.splitlines()


def transcript(*args) -> str:
    r = ddb(*args)
    assert r.stderr == ""
    return "\n".join([f"$ ddb {' '.join(args)}", *r.stdout.splitlines(),
                      f"Exit status is {r.exit_code}"]) + "\n"


# --- rdb-pool opened like a vos-N --------------------------------------------------------------

def test_rdb_pool_lists_like_a_vos_file(system):
    path = svc_rdb(system, "scratch")
    r = ddb(path, "ls")
    assert r.exit_code == 0 and r.stdout.splitlines() == [
        "Listing contents of '/'", f"CONT: (/[0]) /{RDB_CONT}"]
    r = ddb("-s", path, "ls", "/[0]")
    assert r.exit_code == 0
    assert r.stdout.splitlines()[1:] == [f"OBJ: (/[0]/[{i}]) /{RDB_CONT}/0.{i + 1}.0.0" for i in range(5)]
    r = ddb(path, "ls", "-r", "/[0]/[2]")
    assert r.exit_code == 0
    lines = [f"Listing contents of 'OBJ: (/[0]/[2]) {PROPS}'"]
    for i, key in enumerate(("group", "label", "owner", "redun_fac")):
        lines += [f"DKEY: (/[0]/[2]/[{i}]) {PROPS}/{key}",
                  f" AKEY: (/[0]/[2]/[{i}]/[0]) {PROPS}/{key}/value",
                  f"  AKEY: (/[0]/[2]/[{i}]/[0]) {PROPS}/{key}/value"]
    assert r.stdout.splitlines() == lines


def test_rdb_pool_values_and_superblock(system, tmp_path):
    path = svc_rdb(system, "scratch")
    r = ddb(path, "value_dump", f"{PROPS}/label/value")
    assert r.exit_code == 0 and r.stdout.splitlines() == [
        f"AKEY: (/[0]/[2]/[1]/[0]) {PROPS}/label/value", "Value (size: 9):", '"scratch"']
    dst = str(tmp_path / "map.json")
    r = ddb(path, "value_dump", "/[0]/0.2.0.0/version/value", dst)
    assert r.exit_code == 0 and r.stdout.splitlines()[1] == f"Dumping value (size: 1) to: {dst}"
    with open(dst) as f:
        assert json.load(f) == pools(system)["scratch"]["pool_map"]["version"]
    r = ddb("--json", path, "superblock_dump")
    sb = json.loads(r.stdout)
    assert (sb["target"], sb["pool_uuid"], sb["nvme_size"]) == (RDB_TARGET, pools(system)["scratch"]["uuid"], 0)
    r = ddb("-f", "-", input=f"open {path}\nls /[0]/[0]\nclose\n")  # the shell's way, in a file
    assert r.exit_code == 0 and r.stdout.splitlines()[1:] == [
        f"DKEY: (/[0]/[0]/[{i}]) /{RDB_CONT}/0.1.0.0/{k}"
        for i, k in enumerate(("last_index", "membership", "term", "vote"))]


def test_writes_on_an_rdb_pool_change_that_replica_only(copy):
    """DAOS ddb edits an rdb-pool like any VOS file: the replica changes, its raft metadata does
    not (that is the PS's business), and everything still reads it."""
    path = svc_rdb(copy, "scratch")
    new = os.path.join(os.path.dirname(copy), "label")
    with open(new, "w") as f:
        f.write('"renamed"')
    assert ddb(path, "value_load", new, f"{PROPS}/label/value").exit_code != 0   # needs -w
    r = ddb("-w", path, "value_load", new, f"{PROPS}/label/value")
    assert r.exit_code == 0, r.stderr
    assert ddb(path, "value_dump", f"{PROPS}/label/value").stdout.splitlines()[-1] == '"renamed"'
    meta, state = RdbReplica(path).load()
    assert state["props"]["label"] == "renamed" and meta.last_index == 1
    assert ddb("-w", path, "rm", f"{PROPS}/owner").exit_code == 0
    assert "owner" not in RdbReplica(path).load()[1]["props"]
    r = ddb("-w", "rm_pool", path)
    assert r.exit_code == 0 and not os.path.exists(path)
    assert [x["status"] for x in pools(copy)["scratch"]["replicas"]].count("missing") == 1


def test_rdb_pool_path_names_its_pool(copy):
    path = svc_rdb(copy, "scratch")
    other = os.path.join(os.path.dirname(os.path.dirname(path)), pools(copy)["tank"]["uuid"])
    os.makedirs(other, exist_ok=True)
    shutil.copy(path, os.path.join(other, "rdb-pool"))
    r = ddb(os.path.join(other, "rdb-pool"), "ls")
    assert r.exit_code == 1 and "pool uuid mismatch" in r.stderr


# --- system_dump ----------------------------------------------------------------------------------

def test_system_dump_golden_text_and_json(system, monkeypatch):
    monkeypatch.chdir(system)                   # the current directory is the system root
    check_golden("system_dump.txt", transcript("system_dump"))
    r = ddb("--json", "system_dump")
    assert r.exit_code == 0 and len(r.stdout.splitlines()) == 1   # one document
    doc = json.loads(r.stdout)
    assert list(doc) == ["ms", "pools"] and doc == system_dump(".")
    check_golden("system_dump.json", json.dumps(doc, indent=2) + "\n")


def test_system_dump_reads_only(system):
    before = file_state(system)
    assert ddb("system_dump", "-D", system).exit_code == 0
    assert ddb("--json", "system_dump", "-D", system).exit_code == 0
    assert file_state(system) == before


def left_behind(svc, rank: int, edit) -> None:
    """Apply ``edit`` to every replica of ``svc`` but ``rank``'s (a crash before its turn)."""
    ahead = {r: b for r, b in svc.replicas.items() if r != rank}
    ReplicatedService(svc.name, ahead, svc.make_replica).update(edit)


def damage(root) -> None:
    """With plain file operations and vosfmt's services: scratch's PS has a replica behind and
    one missing, archive's PS lost its quorum, tank lost its MS entry and has an unreadable
    PS replica, and the MS has a replica behind."""
    by_label = pools(root)
    scratch = by_label["scratch"]
    left_behind(PoolService(root, scratch["uuid"]), scratch["membership"][2],
                lambda s: s["props"].update(owner="admin@"))
    os.unlink(svc_rdb(root, "scratch", 1))
    for i in (0, 1):
        os.unlink(svc_rdb(root, "archive", i))
    with open(svc_rdb(root, "tank", 1), "r+b") as f:
        f.truncate(5000)
    ms = ManagementService(root)
    ms.update(lambda s: s["pools"].pop(by_label["tank"]["uuid"]))
    left_behind(ms, 2, lambda s: None)


def test_system_dump_on_a_damaged_system(copy, monkeypatch):
    damage(copy)
    monkeypatch.chdir(copy)
    text = transcript("system_dump")
    check_golden("system_dump_damaged.txt", text)
    lines = text.splitlines()
    assert "Management service: membership 0,1,2, quorum (3 of 3 reachable)" in lines
    assert "  Authoritative replica: rank 0 (term 1, last index 3)" in lines
    assert [line.split()[:4] for line in lines if " behind " in line] == [
        ["2", "behind", "1", "2"], ["3", "behind", "1", "1"]]
    assert "  Pool service: membership 2,3,4, WITHOUT QUORUM (1 of 3 reachable, 2 needed)" in lines
    assert any(line.startswith("    Rank ") and "unreadable: shard file is truncated" in line
               for line in lines)
    assert any(line.startswith("Pool ") and line.endswith(": label tank (no MS entry)") for line in lines)


def test_system_dump_without_an_ms_or_any_ps(copy):
    shutil.rmtree(os.path.join(copy, "ms"))
    for rank in rank_dirs(copy):
        for p in pools(copy).values():
            if os.path.exists(rdb_path(copy, rank, p["uuid"])):
                os.unlink(rdb_path(copy, rank, p["uuid"]))
    r = ddb("system_dump", "-D", copy)
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[2] == "Management service: MISSING (no replica under ms/)"
    assert lines.count("  Pool service: MISSING (no rdb-pool on any engine)") == 3
    assert lines.count("  Engines: 5") == 1
    assert not any("Pool map" in line for line in lines)


def test_unreadable_ms_replica_says_why(copy):
    with open(os.path.join(copy, "ms", "1", "data.mdb"), "wb") as f:
        f.write(b"not lmdb" * 1000)
    r = ddb("system_dump", "-D", copy)
    assert r.exit_code == 0
    assert any(line.startswith("    Rank 1 unreadable: the MS replica is damaged")
               for line in r.stdout.splitlines())
    doc = json.loads(ddb("--json", "system_dump", "-D", copy).stdout)
    assert [x["status"] for x in doc["ms"]["replicas"]] == ["authoritative", "unreadable", "authoritative"]


def test_where_system_dump_finds_the_system(system, tmp_path, monkeypatch):
    pool = pools(system)["tank"]["uuid"]
    shard = os.path.join(system, "rank-0", pool, "vos-0")
    head = f"System image: {os.path.abspath(system)}"
    assert ddb("-s", shard, "system_dump").stdout.splitlines()[0] == head
    r = ddb("-f", "-", input=f"open {shard}\nsystem_dump\n")
    assert r.exit_code == 0 and r.stdout.splitlines()[0] == head
    monkeypatch.chdir(tmp_path)
    r = ddb("system_dump")
    assert r.exit_code == 1 and r.stderr.startswith("ERROR: ddb: give the system image: -D DIR")
    r = ddb("system_dump", "-D", str(tmp_path))
    assert r.exit_code == 1 and "is not a system image" in r.stderr
    r = ddb("system_dump", "-h")
    assert r.exit_code == 0 and "  -D, --sys_root string  The system image" in r.stdout


# --- single-engine commands on rank-<R> folders ------------------------------------------------

def test_engine_commands_and_check_on_rank_folders(system):
    for rank, rdir in rank_dirs(system).items():
        r = ddb("check", "start", "-n", "-D", rdir)
        assert r.exit_code == 0 and "0 finding(s)" in r.stdout, (rank, r.stdout)
    pool = pools(system)["tank"]["uuid"]
    shard = os.path.join(system, "rank-0", pool, "vos-0")
    r = ddb(shard, "ls", "-r")
    assert r.exit_code == 0 and r.stdout.startswith("Listing contents of '/'\nCONT: (/[0]) /")
    r = ddb("-s", shard, "smd")
    assert r.exit_code == 0 and r.stdout.startswith(f"SMD sys db at {os.path.join(system, 'rank-0')}")
    assert PoolService(system, pool).status().quorum


def test_check_on_a_system_root_is_the_system_checker(system):
    """-D naming a system root goes to the system checker (issue 15), which refuses to start
    while it is not enabled; neither writes anything."""
    before = file_state(system)
    r = ddb("check", "start", "-n", "-D", system)
    assert r.exit_code == 8 and r.stderr == "ERROR: ddb: system checker is not enabled\n"
    r = ddb("check", "query", "-D", system)
    assert r.exit_code == 0 and r.stdout.startswith("DAOS System Checker Info\n  Current status: INIT")
    assert file_state(system) == before


def test_text_shows_malformed_fields_as_found(system):
    """A damaged entry (a list where text belongs, a null, a label index to elsewhere) is
    printed as found, never a reason for the text to fail."""
    from ddb.commands.system import system_lines
    doc = system_dump(system)
    pool = doc["pools"][0]
    pool["label"], pool["props"]["label"] = ["a"], {"b": 1}
    pool["pool_map"]["ranks"][0].update(state=None, targets="junk")
    c0, c1 = pool["containers"]
    c0["label_index"], c1["label_index"] = None, c0["uuid"]
    pool["cont_labels"] += [{"label": "ghost", "uuid": ["x"]}, {"label": "z", "uuid": "nowhere"}]
    doc["ms"]["members"][0].update(uuid=None, rank="r")
    doc["ms"]["pools"][0]["svc_ranks"] = "0,1"
    doc["ms"]["checker"] = [1]
    lines = system_lines(doc, "SYS")
    assert f"Pool {pool['uuid']}: label [\"a\"] (MS label scratch)" in lines
    assert any(line.split()[:3] == ["0", "-", "junk"] for line in lines)
    assert [line.split()[-1] for line in lines if c0["uuid"] in line and "  " in line][-2:] == \
        ["missing", c0["uuid"]]
    assert "  Label index entries naming no container of that label: 2" in lines
    assert "  Checker: [1]" in lines
