"""The checker: every problem injected, found alone, repaired, then clean; store, policies, modes."""
from __future__ import annotations

import copy
import json
import os
import random
import shutil

import pytest
from click.testing import CliRunner

from ddb.checker import PROBLEMS, Action, Code, Result, problem
from ddb.checker.imagelock import ImageLock
from ddb.checker.registry import repairs
from ddb.checker.repair import REPAIRS  # (importing repair registers every repair)
from ddb.cli import cli
from fixtures import build, export_image
from fixtures.corrupt import inject
from fixtures.injectors import INJECTORS, InjectError, injects
from support import file_state
from vosfmt.constants import PAGE_SIZE, TreeClass
from vosfmt.image import list_shards
from vosfmt.txn import Transaction

GOLDEN = os.path.join(os.path.dirname(__file__), "golden", "check")


def ddb(*args, input=None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def _images(root):
    """Hashes of the image's own files (not the checker's store)."""
    return {p: h for p, (h, _) in file_state(root).items() if "check_db" not in p and "check.lock" not in p}


def _strip(img, where):
    img = copy.deepcopy(img)
    for pool in img["pools"]:
        for c in pool["containers"]:
            if c["uuid"] == where.get("cont"):
                c["objects"] = [o for o in c["objects"] if where.get("oid") and o["oid"] != where["oid"]]
                if where.get("dtx"):
                    c["active_dtx"], c["committed_dtx"] = [], []
    return img


def test_problem_table():
    codes = [p.code for p in PROBLEMS]
    assert codes == sorted(codes) and len(set(codes)) == len(codes)
    for p in PROBLEMS:
        assert p.choices and all(len(c) == 2 and c[1] for c in p.choices)
        assert p.default in [a for a, _ in p.choices]
        assert "[suggested" in p.choices[0][1] or p.default == Action.IGNORE
    assert int(Action.STALE) == 0xFFFF and int(problem(Code.ILOG_ORPHAN_LID).cls) == 14


def test_adding_a_problem_means_a_row_a_repair_an_injector_and_a_golden():
    """The problem table drives the code: every problem has exactly one injector and one
    golden transcript, and one repair unless it is report-only (which has none)."""
    names = {p.name for p in PROBLEMS}
    assert set(INJECTORS) == names
    assert set(REPAIRS) == {p.code for p in PROBLEMS if not p.report_only}
    goldens = {f[:-len(".txt")] for f in os.listdir(GOLDEN) if f.endswith(".txt")}
    assert goldens == names
    with pytest.raises(ValueError, match="already has a repair"):
        repairs(Code.KEY_EMPTY)(lambda job, f, action: None)
    with pytest.raises(ValueError, match="already has an injector"):
        injects("KEY_EMPTY")(lambda root, rng: {})


@pytest.mark.parametrize("name", sorted(INJECTORS))
def test_every_injector_works_on_its_preset_or_names_the_one_it_needs(built, tmp_path, name):
    """On its preset (the README's ``small`` unless it says otherwise) an injector damages the
    image; on an image without what it needs, its error names the preset that has it."""
    preset = INJECTORS[name].preset
    for image in (preset, "dtx", "unit"):
        root = str(tmp_path / image)
        shutil.copytree(built(image), root)
        try:
            inject(root, name)
        except InjectError as e:
            assert image != preset and f"the '{preset}' preset has what it needs" in str(e), e
        shutil.rmtree(root)                     # (an image with a blob is 64 MB once copied)


@pytest.fixture(scope="module")
def bases(built):
    return {"small": built("small")}


def _transcript(root):
    lines = []
    for args in (["-n"], ["-y"], ["-y"]):
        r = ddb("check", "start", *args, "-D", root)
        lines += [f"$ ddb check start {' '.join(args)}", *r.stdout.splitlines(),
                  f"Exit status is {r.exit_code}"]
    return lines


@pytest.mark.parametrize("code", [p.code for p in PROBLEMS], ids=[p.name for p in PROBLEMS])
def test_inject_find_repair_clean(bases, tmp_path, code):
    root = str(tmp_path / "img")
    shutil.copytree(bases["small"], root)
    before = export_image(root)
    where = inject(root, code, seed=0)
    damaged = _images(root)
    report_only = problem(code).report_only
    r = ddb("--json", "check", "start", "-n", "-D", root)
    assert r.exit_code == 4, r.stderr
    found = json.loads(r.stdout)["reports"]
    assert {f["code"] for f in found} == {code}                       # exactly that problem
    assert all(f["result"] == (Result.IGNORED if report_only else Result.DRY_RUN) for f in found)
    assert _images(root) == damaged                                  # -n changed nothing
    if report_only:             # nothing can repair it: -y leaves it, honestly, and writes nothing
        for _ in range(2):
            r = ddb("--json", "check", "start", "-y", "-D", root)
            assert r.exit_code == 4, r.stdout + r.stderr
            assert [(f["code"], f["result"]) for f in json.loads(r.stdout)["reports"]] == \
                [(code, Result.IGNORED)] * len(found)
            assert _images(root) == damaged
    else:
        r = ddb("check", "start", "-y", "-D", root)
        assert r.exit_code == 1, r.stdout + r.stderr
        r = ddb("check", "start", "-y", "-D", root)
        assert r.exit_code == 0 and "0 finding(s)" in r.stdout
        after = export_image(root)
        if where.get("lossy"):
            assert _strip(after, where) == _strip(before, where)     # only the damaged part changed
        else:
            assert after == before
    # golden transcript (the -n / -y / -y runs on a fresh copy)
    again = str(tmp_path / "again")
    shutil.copytree(bases["small"], again)
    inject(again, code, seed=0)
    lines = _transcript(again)
    golden = os.path.join(GOLDEN, f"{problem(code).name}.txt")
    if os.environ.get("DDB_UPDATE_GOLDEN"):
        with open(golden, "w") as f:
            f.write("\n".join(lines) + "\n")
    with open(golden) as f:
        assert f.read().splitlines() == lines
    shutil.rmtree(root)
    shutil.rmtree(again)


def test_clean_presets_check_clean(built):
    for name in ("small", "unit", "posix", "dtx"):
        r = ddb("check", "start", "-n", "-D", built(name))
        assert r.exit_code == 0 and "0 finding(s)" in r.stdout, (name, r.stdout)


def test_interactive_findings_wait_for_repair(bases, tmp_path):
    root = str(tmp_path / "img")
    shutil.copytree(bases["small"], root)
    inject(root, Code.VALUE_CSUM_MISMATCH)
    assert ddb("check", "set-policy", "--all-interactive", "-D", root).exit_code == 0
    r = ddb("check", "start", "-a", "off", "-D", root)                # not a terminal: findings wait
    assert r.exit_code == 4 and "PENDING" in r.stdout
    q = ddb("check", "query", "-D", root)
    assert "- Action Required:" in q.stdout and "0: Mark the value corrupted" in q.stdout
    doc = json.loads(ddb("check", "query", "--json", "-D", root).stdout)
    assert doc["status"] == "RUNNING"
    seq = doc["reports"][0]["seq"]
    r = ddb("check", "repair", "-D", root, "0x99999", "0")
    assert r.exit_code == 8 and "finding 0x99999 not found" in r.stderr
    r = ddb("check", "repair", "-D", root, hex(seq), "7")
    assert r.exit_code == 8 and f"invalid action 7 for seq {seq:#x}" in r.stderr
    r = ddb("check", "repair", "-D", root, str(seq), "0")
    assert r.exit_code == 0 and r.stdout == f"Finding {seq:#x} resolved: TRUST_TARGET\n"
    r = ddb("check", "repair", "-D", root, hex(seq), "0")
    assert r.exit_code == 8 and f"finding {seq:#x} is already resolved: TRUST_TARGET" in r.stderr
    assert json.loads(ddb("check", "query", "--json", "-D", root).stdout)["status"] == "COMPLETED"
    assert ddb("check", "set-policy", "--reset-defaults", "-D", root).exit_code == 0
    assert ddb("check", "start", "-y", "-D", root).exit_code == 0


def test_policies(bases, tmp_path):
    root = str(tmp_path / "img")
    shutil.copytree(bases["small"], root)
    inject(root, Code.VALUE_CSUM_MISMATCH)
    assert ddb("check", "set-policy", "CSUM_FAILURE:DISCARD", "-D", root).exit_code == 0
    out = ddb("check", "get-policy", "-D", root).stdout
    assert "CSUM_FAILURE" in out and "DISCARD" in out
    r = ddb("check", "start", "-a", "off", "-D", root)
    assert r.exit_code == 1 and ": DISCARD" in r.stdout                # the value was removed
    r = ddb("check", "set-policy", "CIC_BOGUS:DISCARD", "-D", root)
    assert r.exit_code != 0 and "invalid inconsistency class" in r.stderr
    r = ddb("check", "start", "-p", "CSUM_FAILURE:CIA_NOPE", "-D", root)
    assert "invalid inconsistency action" in r.stderr
    assert json.loads(ddb("--json", "check", "get-policy", "-D", root).stdout)["policies"]


def test_preen_and_mode_conflicts(bases, tmp_path):
    safe = str(tmp_path / "safe")
    shutil.copytree(bases["small"], safe)
    inject(safe, Code.PAGES_LEAKED)
    assert ddb("check", "start", "-p", "-D", safe).exit_code == 1
    unsafe = str(tmp_path / "unsafe")
    shutil.copytree(bases["small"], unsafe)
    inject(unsafe, Code.ILOG_ORPHAN_LID)
    before = _images(unsafe)
    r = ddb("check", "start", "-p", "-D", unsafe)
    assert r.exit_code == 4 and _images(unsafe) == before
    r = ddb("check", "start", "-n", "-y", "-D", unsafe)
    assert r.exit_code == 16 and "Only one of the options" in r.stderr


def test_leader_is_exclusive_and_a_dead_run_resumes(bases, tmp_path):
    root = str(tmp_path / "img")
    shutil.copytree(bases["small"], root)
    lead = ImageLock(root, exclusive=True, wait=0)
    try:
        r = ddb("check", "start", "-n", "-D", root)
        assert r.exit_code == 8 and f"a check is already running, led by pid {os.getpid()}" in r.stderr
    finally:
        lead.release()
    # a leader that died mid-run: RUNNING in the store, no lock held
    inject(root, Code.BLOCKS_LEAKED)
    from ddb.checker.store import ReportStore
    with ReportStore(root, write=True) as st:
        st.put(instance={"status": "RUNNING", "leader": {"pid": 1, "host": "gone", "since": 0}})
    assert json.loads(ddb("check", "query", "--json", "-D", root).stdout)["status"] == "PAUSED"
    r = ddb("check", "start", "-y", "-D", root)
    assert r.exit_code == 1
    assert json.loads(ddb("check", "query", "--json", "-D", root).stdout)["status"] == "COMPLETED"


def test_pending_findings_of_other_shards_become_stale(tmp_path):
    root = str(tmp_path / "img")
    build({"targets": 2, "containers": [{"target": t, "objects": [{"dkeys": [{"key": "d", "akeys": [
        {"key": "a", "sv": [{"epoch": 5, "random": 3000}]}]}]}]} for t in range(2)]}, root)
    s0, s1 = list_shards(root)
    from vosfmt import open_shard
    for s in (s0, s1):
        with open_shard(s, write=True, db_root=root) as sh, Transaction(sh) as tx:
            c = next(sh.containers())
            tx.put_object(c.rec.uuid, c.object_at(0).oid, max_write=1)
    ddb("check", "set-policy", "--all-interactive", "-D", root)
    assert ddb("check", "start", "-a", "off", "-D", root).exit_code == 4
    ddb("check", "set-policy", "--reset-defaults", "-D", root)
    assert ddb("check", "start", "-y", "-r", "-D", root, s1).exit_code == 1
    reports = json.loads(ddb("check", "query", "--json", "-D", root).stdout)["reports"]
    stale = [r for r in reports if r["shard"] == s0]
    assert len(stale) == 1 and stale[0]["action"] == Action.STALE and stale[0]["choices"] == []
    r = ddb("check", "repair", "-D", root, hex(stale[0]["seq"]), "0")
    assert r.exit_code == 8 and "is stale" in r.stderr


def test_sequence_numbers_are_never_reused(bases, tmp_path):
    root = str(tmp_path / "img")
    shutil.copytree(bases["small"], root)
    inject(root, Code.VALUE_CSUM_MISMATCH)
    first = json.loads(ddb("--json", "check", "start", "-n", "-D", root).stdout)["reports"][0]["seq"]
    second = json.loads(ddb("--json", "check", "start", "-n", "-r", "-D", root).stdout)["reports"][0]["seq"]
    assert second > first


def test_stop(bases, tmp_path):
    root = str(tmp_path / "img")
    shutil.copytree(bases["small"], root)
    inject(root, Code.VALUE_CSUM_MISMATCH)
    ddb("check", "set-policy", "--all-interactive", "-D", root)
    assert ddb("check", "start", "-a", "off", "-D", root).exit_code == 4
    assert ddb("check", "stop", "-D", root).stdout == "Checker status: STOPPED\n"
    assert json.loads(ddb("check", "query", "--json", "-D", root).stdout)["status"] == "STOPPED"
    ddb("check", "set-policy", "--reset-defaults", "-D", root)
    r = ddb("check", "start", "-y", "-D", root)           # resumes: the pending finding is rediscovered
    assert r.exit_code == 1 and r.stdout.count("VALUE_CSUM_MISMATCH") == 1


def _check_json(root, mode):
    r = ddb("--json", "check", "start", mode, "-D", root)
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
    return r.exit_code, json.loads(r.stdout)["reports"]


def test_truncated_shards_are_findings_and_an_empty_one_is_unreadable(bases, tmp_path):
    """A shard cut anywhere after its superblock pages is SHARD_TRUNCATED (-n: exit 4, nothing
    written), which -y repairs so that -n is then clean; a zero-length one cannot be opened at
    all: SHARD_UNREADABLE, left (exit 4) by -n and -y alike, never an operational error."""
    rng = random.Random(9)
    for i in range(int(os.environ.get("DDB_FUZZ_ROUNDS", "10"))):
        root = str(tmp_path / f"t{i}")
        shutil.copytree(bases["small"], root)
        path = list_shards(root)[0]
        with open(path, "r+b") as f:
            f.truncate(rng.randrange(2 * PAGE_SIZE, os.path.getsize(path)))
        cut = _images(root)
        code, found = _check_json(root, "-n")
        assert code == 4 and "SHARD_TRUNCATED" in {f["name"] for f in found}, found
        assert "SHARD_UNREADABLE" not in {f["name"] for f in found}
        assert _images(root) == cut                                   # -n wrote nothing
        code, found = _check_json(root, "-y")
        assert code == 1 and "SHARD_TRUNCATED" in {f["name"] for f in found}, found
        assert _check_json(root, "-n") == (0, [])
        shutil.rmtree(root)
    root = str(tmp_path / "empty")
    shutil.copytree(bases["small"], root)
    path = list_shards(root)[0]
    os.truncate(path, 0)
    for mode in ("-n", "-y"):
        code, found = _check_json(root, mode)
        assert code == 4
        assert [(f["name"], f["result"]) for f in found] == [("SHARD_UNREADABLE", Result.IGNORED)]
        assert os.path.relpath(path, root) in found[0]["msg"] and "no superblock magic" in found[0]["msg"]
        assert os.path.getsize(path) == 0


def test_random_damage_never_crashes(bases, tmp_path):
    """Byte flips anywhere in a shard: a clear finding or a clear error, never a traceback.

    DDB_FUZZ_ROUNDS=5000 runs the long version."""
    rng = random.Random(5)
    src = bases["small"]
    shard = list_shards(src)[0]
    size = os.path.getsize(shard)
    from vosfmt import open_shard
    from vosfmt.usage import space_usage
    with open_shard(shard, db_root=src) as sh:
        meta = sorted(p for p, o in space_usage(sh).pages.items() if o.endswith("tree node"))
    for i in range(int(os.environ.get("DDB_FUZZ_ROUNDS", "60"))):
        root = str(tmp_path / f"r{i}")
        shutil.copytree(src, root)
        path = list_shards(root)[0]
        in_meta = i % 2 == 0
        off = (rng.choice(meta) * PAGE_SIZE + rng.randrange(8, PAGE_SIZE)) if in_meta else rng.randrange(size)
        with open(path, "r+b") as f:
            f.seek(off)
            b = f.read(1)
            f.seek(off)
            f.write(bytes([b[0] ^ 0xFF]))
        r = ddb("check", "start", "-n", "-D", root)
        assert r.exit_code in (0, 4, 8), r.stderr
        assert "Traceback" not in r.stderr and "internal error" not in r.stderr
        if in_meta:
            assert r.exit_code in (4, 8)                               # live metadata: always detected
        shutil.rmtree(root)


def test_killed_check_resumes_without_losing_or_repeating(tmp_path):
    """SIGKILL the leader mid-run; the next start takes over and resumes from the bookmarks."""
    import subprocess
    import sys
    root = str(tmp_path / "img")
    build({"targets": 3, "containers": [
        {"target": t, "objects": [{"dkeys": [{"key": "d", "akeys": [
            {"key": "a", "sv": [{"epoch": 5, "random": 3000}]}]}]}]} for t in range(3)]}, root)
    for shard in list_shards(root):                 # one leaked page in every shard
        from vosfmt import open_shard
        with open_shard(shard, write=True, db_root=root) as sh, Transaction(sh) as tx:
            tx.pages.alloc(1)
            tx.put_container(next(sh.containers()).rec.uuid)
    code = ("import os, signal, sys\n"
            "from ddb.checker import Checker, Options\n"
            "seen = []\n"
            "def progress(path, i, n, p, total):\n"
            "    if i == 1 and p == total:\n"
            "        os.kill(os.getpid(), signal.SIGKILL)\n"
            "Checker(sys.argv[1], (), Options(mode='yes', auto=True), progress=progress).start()\n")
    p = subprocess.run([sys.executable, "-c", code, root], capture_output=True, text=True, timeout=120,
                       cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert p.returncode == -9
    q = json.loads(ddb("check", "query", "--json", "-D", root).stdout)
    assert q["status"] == "PAUSED"
    done = [s for s, m in q["shards"].items() if m["status"] == "CHECKED"]
    assert len(done) == 1 and len(q["reports"]) == 1      # shard 0 repaired; shard 1 was mid-pass
    r = ddb("check", "start", "-y", "-D", root)
    assert r.exit_code == 1
    q = json.loads(ddb("check", "query", "--json", "-D", root).stdout)
    assert q["status"] == "COMPLETED"
    shards = [r["shard"] for r in q["reports"]]
    assert sorted(shards) == sorted(list_shards(root))     # one finding per shard: none lost or doubled
    assert ddb("check", "start", "-n", "-D", root).exit_code == 0


@pytest.mark.parametrize("tclass", list(TreeClass))
def test_malformed_record_in_a_sound_node_is_a_finding(tclass):
    """A record whose node checksums fine but whose bytes do not decode is reported, not raised."""
    from ddb.checker.scan import read_tree
    from vosfmt.constants import RootFlags
    from vosfmt.records import TreeRoot

    class OneLeaf:
        def embedded_entries(self, root, path=None):
            return [b"\x00" * 8, b"\x01" * 40], [b"\x01", b""]

    root = TreeRoot(tclass, flags=RootFlags.EMBEDDED, count=2)
    items, bad = read_tree(OneLeaf(), root)
    assert len(bad) >= 1 and all(reason.startswith("malformed record") for _, reason in bad)


def test_a_value_with_an_unknown_media_type_is_reported_by_number():
    from ddb.checker.scan_records import media_name
    from vosfmt.constants import Media
    assert media_name(Media.NVME) == "NVME"
    assert media_name(9) == "unknown media 9"


@pytest.mark.parametrize("embed, reason", [
    (b"\x08\x00\x03\x00" + b"\x00" * 8 + b"abc" + b"!", "trailing bytes"),     # one byte too many
    (b"\x08\x00", "malformed embedded tree"),                                 # cut short
    (b"\x08\x00\x03\x00" + b"\x00" * 8 + b"abc", "malformed record"),         # value does not decode
])
def test_a_damaged_one_record_embedded_tree_is_a_finding(tmp_path, embed, reason):
    """The checker's fast path for one-record trees falls back to naming what is wrong."""
    from ddb.checker.scan import ShardScan
    from vosfmt import open_shard
    from vosfmt.constants import RootFlags
    from vosfmt.records import TreeRoot
    build("unit", str(tmp_path))
    with open_shard(list_shards(str(tmp_path))[0]) as sh:
        scan = ShardScan(sh)
        root = TreeRoot(TreeClass.SINGV, flags=RootFlags.EMBEDDED, count=1, embed=embed)
        assert scan.walk(root, ["c", "o", "64", "61"], "child_root") is None
        (f,) = scan.findings
        assert f.code == Code.TREE_NODE_UNREADABLE and reason in f.ctx["reason"], f.ctx
