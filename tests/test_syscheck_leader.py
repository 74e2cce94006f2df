"""The system check leader (``ddb.checker.system.leader.SystemChecker``) through its Python API.

For each class, on a fresh copy of the system preset: inject -> a dry run reports exactly
that class with DAOS's message and changes no engine file -> an all-interactive dry run
offers DAOS's choices -> an all-interactive run with auto on changes nothing -> the default
policies repair -> the next dry run is clean -> system_dump shows what DAOS's tests expect.
Then DAOS's sequences: a pending pool while the others finish, repair later and its
errors, stop/start keeping one finding, STALE findings across pool-limited starts,
set-policy answering a pending finding, a dead leader resumed (also after losing an MS
replica), a second leader refused.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import shutil

import pytest

from ddb.checker.errors import CheckError
from ddb.checker.problems import Action, Cls
from ddb.checker.system import repairs
from ddb.checker.system.leader import SystemChecker
from ddb.checker.system.runner import Run
from ddb.checker.system.state import CheckerState
from ddb.checker.system.transport import LocalTransport
from fixtures.system_injectors import inject_system
from support import sparse_copy
from vosfmt.errors import VosError
from vosfmt.safefs import remove_dir
from vosfmt.sysdump import system_dump
from vosfmt.system import ms_path, pools_on_engines, rank_dirs

ORPHAN_POOL = "Check leader detects orphan pool."


@pytest.fixture
def system(built, tmp_path):
    """A private copy of the system preset; sparse (its NVMe blobs are mostly holes), and
    removed after the test: a dense copy is hundreds of MiB."""
    dst = str(tmp_path / "sys")
    sparse_copy(built("system"), dst)
    yield dst
    shutil.rmtree(dst, ignore_errors=True)


def checker(root: str) -> SystemChecker:
    return SystemChecker(root, transport=LocalTransport(root, workers=1))


def engine_files(root: str, reports_too: bool = True) -> dict:
    """Every file under rank-*/: its bytes' digest and its mtime (without the ranks' local
    check report stores when ``reports_too`` is off)."""
    out = {}
    for rdir in rank_dirs(root).values():
        for d, _dirs, files in os.walk(rdir):
            if not reports_too and d.endswith(os.path.join("daos_sys", "check_db")):
                continue
            for f in files:
                p = os.path.join(d, f)
                with open(p, "rb") as fh:
                    out[os.path.relpath(p, root)] = (hashlib.sha1(fh.read()).hexdigest(),
                                                     os.stat(p).st_mtime_ns)
    return out


def reports(c: SystemChecker, pools=()) -> list[dict]:
    return c.query(pools)["reports"] or []


def pool_doc(root: str, uuid: str) -> dict | None:
    return next((p for p in system_dump(root)["pools"] if p["uuid"] == uuid), None)


# --- one class at a time ---------------------------------------------------------------------

def _readded(root, w, before):
    p = pool_doc(root, w["pool"])
    assert p["on_ms"] and p["label_ms"] == w["label"]


def _gone(root, w, before):
    assert pool_doc(root, w["pool"]) is None
    assert w["pool"] not in pools_on_engines(root)


def _label_is(side_label):
    def check(root, w, before):
        p = pool_doc(root, w["pool"])
        want = side_label(w)
        assert p["label"] == p["label_ms"] == want
    return check


def _svc_restored(root, w, before):
    p = pool_doc(root, w["pool"])
    assert p["quorum"] and not p["missing"]
    assert len(p["membership"]) == len(before["membership"])
    assert sum(e["rdb"] for e in p["engines"]) == len(before["membership"])


def _rank_left(root, w, before):
    p = pool_doc(root, w["pool"])
    assert w["rank"] not in [e["rank"] for e in p["engines"]]


def _target_down(root, w, before):
    p = pool_doc(root, w["pool"])
    assert p["pool_map"]["version"] == before["pool_map"]["version"] + 1
    entry = next(e for e in p["pool_map"]["ranks"] if e["rank"] == w["rank"])
    if w["mode"] == "pool-dir":
        assert entry["state"] == "DOWN"
    assert [t["state"] for t in entry["targets"] if t["index"] == 0] == ["DOWN"]


def _unchanged_map(root, w, before):
    assert pool_doc(root, w["pool"])["pool_map"] == before["pool_map"]


def _cont_gone(root, w, before):
    t = LocalTransport(root, workers=1)
    for rank in t.ranks():
        clue = t.call(rank, {"op": "clues"})["pools"].get(w["pool"], {})
        assert all(w["container"] not in c for c in clue.get("containers", {}).values())


def _cont_label_back(root, w, before):
    c = next(x for x in pool_doc(root, w["pool"])["containers"] if x["uuid"] == w["container"])
    assert c["label"] == c["prop_label"] == w["new_label"][:-len("-fault")]
    assert c["label_index"] == w["container"]


def _ms_caught_up(root, w, before):
    assert system_dump(root)["ms"]["behind"] == []


# class, injector args, DAOS's message text, the dry run's action, the choices of an
# interaction, the default run's exit status, what system_dump shows after
CASES = [
    ("POOL_NONEXIST_ON_MS", {}, ORPHAN_POOL, "READD", ["READD", "DISCARD", "IGNORE"], 1,
     _readded),
    ("POOL_NONEXIST_ON_ENGINE", {}, "dangling pool", "DISCARD", ["DISCARD", "IGNORE"], 1, _gone),
    ("POOL_BAD_LABEL", {"side": "ms"}, "inconsistent pool label", "TRUST_MS",
     ["TRUST_MS", "TRUST_PS", "IGNORE"], 1, _label_is(lambda w: w["new_label"])),
    ("POOL_BAD_LABEL", {"side": "ps"}, "inconsistent pool label", "TRUST_MS",
     ["TRUST_MS", "TRUST_PS", "IGNORE"], 1, _label_is(lambda w: w["label"])),
    ("POOL_LESS_SVC_WITHOUT_QUORUM", {"seed": 1}, "corrupted pool without quorum", "TRUST_PS",
     ["TRUST_PS", "DISCARD", "IGNORE"], 1, _svc_restored),
    ("POOL_LESS_SVC_WITHOUT_QUORUM", {"seed": 0}, "corrupted pool without quorum", "DISCARD",
     ["DISCARD", "IGNORE"], 1, _gone),
    ("ENGINE_NONEXIST_IN_MAP", {}, "orphan rank entry in pool map", "DISCARD",
     ["DISCARD", "IGNORE"], 1, _rank_left),
    ("ENGINE_HAS_NO_STORAGE", {"seed": 0}, "dangling target entry in pool map", "TRUST_TARGET",
     ["TRUST_TARGET", "IGNORE"], 1, _target_down),
    ("ENGINE_HAS_NO_STORAGE", {"seed": 1}, "dangling rank entry in pool map", "TRUST_TARGET",
     ["TRUST_TARGET", "IGNORE"], 1, _target_down),
    ("ENGINE_DOWN_IN_MAP", {}, "orphan rank entry in pool map", "IGNORE",
     ["IGNORE", "DISCARD"], 4, _unchanged_map),
    ("CONT_NONEXIST_ON_PS", {}, "orphan container", "DISCARD", ["DISCARD", "IGNORE"], 1,
     _cont_gone),
    ("CONT_BAD_LABEL", {}, "inconsistent container label: journal (CS) vs journal-fault "
     "(property)", "TRUST_PS", ["TRUST_PS", "IGNORE", "TRUST_TARGET"], 1, _cont_label_back),
    ("MS_REPLICA_BEHIND", {}, "behind the authoritative one", "TRUST_MS", ["TRUST_MS", "IGNORE"],
     1, _ms_caught_up),
]


@pytest.mark.parametrize("cls,inject,text,dry_action,choices,fixed,after", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_each_class_dry_run_interact_repair_clean(system, cls, inject, text, dry_action,
                                                 choices, fixed, after):
    c = checker(system)
    c.enable()
    w = inject_system(system, cls, **inject)
    before = pool_doc(system, w["pool"]) if "pool" in w else None
    files = engine_files(system)

    assert c.start(dry_run=True) == 4
    [r] = reports(c)
    assert (r["class"], r["action"], r["result"]) == (cls, dry_action,
                                                      2 if dry_action == "IGNORE" else 1)
    assert text in r["msg"] and r["act_choices"] == []
    assert c.query()["status"] == "COMPLETED"
    assert engine_files(system) == files

    c.set_policy(all_interactive=True)
    assert c.start(dry_run=True) == 4
    [r] = reports(c)
    assert (r["action"], r["act_choices"]) == ("INTERACT", choices)
    assert r["act_details"][0].endswith("[suggested].") and len(r["act_msgs"]) == len(choices)
    c.stop()
    assert c.start(auto=True) == 4
    assert [x["action"] for x in reports(c)] == ["IGNORE"]
    assert engine_files(system, reports_too=False) == \
        {k: v for k, v in files.items() if "check_db" not in k}

    c.set_policy(reset_defaults=True)
    assert c.start(auto=False) == fixed
    [r] = reports(c)
    assert r["result"] == (0 if fixed == 1 else 2) and r["act_choices"] == []
    assert c.query()["status"] == "COMPLETED"

    rc = c.start(dry_run=True)
    left = [x["class"] for x in reports(c)]
    assert (rc, left) == ((0, []) if fixed == 1 else (4, [cls]))
    after(system, w, before)


def test_orphan_pool_trust_ms_destroys_its_storage(system):
    c = checker(system)
    c.enable()
    w = inject_system(system, "POOL_NONEXIST_ON_MS")
    assert c.start(policies={Cls.POOL_NONEXIST_ON_MS: Action.TRUST_MS}) == 1
    assert [(r["action"], r["result"]) for r in reports(c)] == [("DISCARD", 0)]
    _gone(system, w, None)
    assert c.start(dry_run=True) == 0


def test_ms_without_quorum_waits_for_the_admin_then_dictates(system):
    c = checker(system)
    c.enable()
    inject_system(system, "MS_WITHOUT_QUORUM")
    assert c.start() == 4
    [r] = reports(c)
    assert (r["class"], r["action"], r["act_choices"]) == ("MS_WITHOUT_QUORUM", "INTERACT",
                                                          ["TRUST_MS", "IGNORE"])
    q = c.query()
    assert q["status"] == "RUNNING"
    assert {p["status"] for p in q["pools"].values()} == {"CPS_CHECKED"}
    assert c.repair(r["seq"], 0) == 1
    assert c.query()["status"] == "COMPLETED"
    assert system_dump(system)["ms"]["quorum"]
    assert c.start(dry_run=True) == 0


# --- DAOS's sequences --------------------------------------------------------------------------

def test_pending_pool_waits_while_the_others_finish_then_repair(system):
    c = checker(system)
    c.enable()
    w = inject_system(system, "CONT_BAD_LABEL")
    c.set_policy(all_interactive=True)
    files = engine_files(system)
    assert c.start() == 4
    q = c.query()
    assert q["status"] == "RUNNING" and q["leader"] == 0
    states = {u: (p["status"], p["phase"]) for u, p in q["pools"].items()}
    assert states.pop(w["pool"]) == ("CPS_PENDING", "CSP_CONT_CLEANUP")
    assert set(states.values()) == {("CPS_CHECKED", "CSP_DONE")}
    [r] = q["reports"]
    seq = r["seq"]
    assert seq >> 63 == 0 and seq >> 40 != (1 << 23) - 1        # reported by the PS leader
    with pytest.raises(CheckError, match=f"finding 0x{seq + 1:x} not found"):
        c.repair(seq + 1, 0)
    with pytest.raises(CheckError, match=f"invalid action 3 for seq 0x{seq:x}"):
        c.repair(seq, 3)
    with pytest.raises(CheckError, match="Operation already performed"):
        c.start()
    assert engine_files(system) == files
    assert c.repair(seq, 2) == 1                                   # TRUST_TARGET
    q = c.query()
    assert q["status"] == "COMPLETED"
    [r] = q["reports"]
    assert (r["seq"], r["action"], r["result"], r["act_choices"]) == (seq, "TRUST_TARGET", 0, [])
    assert len(r["act_msgs"]) == len(r["act_details"]) == 1
    with pytest.raises(CheckError, match=f"finding 0x{seq:x} is already resolved: TRUST_TARGET"):
        c.repair(seq, 0)
    cont = next(x for x in pool_doc(system, w["pool"])["containers"]
                if x["uuid"] == w["container"])
    assert cont["label"] == cont["prop_label"] == w["new_label"]
    assert cont["label_index"] == w["container"]


def test_stop_start_keeps_exactly_one_finding(system):
    c = checker(system)
    c.enable()
    inject_system(system, "POOL_BAD_LABEL")
    c.set_policy(all_interactive=True)
    assert c.start() == 4
    c.stop()
    assert c.query()["status"] == "STOPPED"
    assert [r["action"] for r in reports(c)] == ["INTERACT"]
    assert c.start() == 4
    assert [(r["class"], r["action"]) for r in reports(c)] == [("POOL_BAD_LABEL", "INTERACT")]


def test_stale_findings_across_pool_limited_starts(system):
    c = checker(system)
    c.enable()
    a = inject_system(system, "CONT_BAD_LABEL", pool="scratch")
    b = inject_system(system, "CONT_NONEXIST_ON_PS", pool="tank")
    c.set_policy(all_interactive=True)
    assert c.start() == 4
    assert sorted(r["pool_uuid"] for r in reports(c)) == sorted([a["pool"], b["pool"]])
    c.stop()
    assert c.start([a["pool"]]) == 4
    by_pool = {r["pool_uuid"]: r for r in reports(c)}
    assert by_pool[a["pool"]]["action"] == "INTERACT"
    assert (by_pool[b["pool"]]["action"], by_pool[b["pool"]]["act_choices"]) == ("STALE", [])
    assert c.query([b["pool"]])["reports"] == [by_pool[b["pool"]]]
    with pytest.raises(CheckError, match="already resolved: STALE"):
        c.repair(by_pool[b["pool"]]["seq"], 0)


def test_stop_of_one_pool_while_the_others_finish(system):
    c = checker(system)
    c.enable()
    a = inject_system(system, "CONT_BAD_LABEL", pool="scratch")
    b = inject_system(system, "CONT_BAD_LABEL", pool="tank")
    c.set_policy(all_interactive=True)
    assert c.start() == 4
    c.stop([a["pool"]])
    q = c.query()
    assert q["pools"][a["pool"]]["status"] == "CPS_STOPPED" and q["status"] == "RUNNING"
    [seq] = [r["seq"] for r in q["reports"] if r["pool_uuid"] == b["pool"]]
    assert c.repair(seq, 0) == 1
    q = c.query()
    assert q["status"] == "COMPLETED" and q["pools"][b["pool"]]["status"] == "CPS_CHECKED"


def test_set_policy_during_a_run_answers_pending_findings(system):
    c = checker(system)
    c.enable()
    w = inject_system(system, "CONT_BAD_LABEL")
    c.set_policy(all_interactive=True)
    assert c.start() == 4
    c.set_policy({Cls.CONT_BAD_LABEL: Action.TRUST_OLDEST})      # not a choice: still pending
    assert [r["action"] for r in reports(c)] == ["INTERACT"]
    c.set_policy({Cls.CONT_BAD_LABEL: Action.TRUST_PS})
    assert [(r["action"], r["result"]) for r in reports(c)] == [("TRUST_PS", 0)]
    assert c.query()["status"] == "COMPLETED"
    _cont_label_back(system, w, None)


@pytest.mark.parametrize("failout", [True, False])
def test_a_failing_repair_with_and_without_failout(system, monkeypatch, failout):
    def broken(r, inc):
        raise VosError("injected I/O error")
    monkeypatch.setitem(repairs._REPAIRS, (Cls.CONT_BAD_LABEL, Action.TRUST_PS), broken)
    c = checker(system)
    c.enable()
    w = inject_system(system, "CONT_BAD_LABEL")
    rc = c.start(failout=failout)
    q = c.query()
    [r] = q["reports"]
    assert (r["action"], r["result"]) == ("TRUST_PS", -5)
    assert c.get_policy()["checker_flags"] == ("FAILOUT" if failout else "NONE")
    if failout:
        assert rc == 4 | 8 and q["status"] == "FAILED"
        assert q["pools"][w["pool"]]["status"] == "CPS_FAILED"
        monkeypatch.undo()                  # the failed pool is resumed, its old report kept
        assert c.start(failout=False) == 1
        assert sorted(r["result"] for r in reports(c)) == [-5, 0]
        assert c.query()["status"] == "COMPLETED"
    else:
        assert rc == 4 and q["status"] == "COMPLETED"
        assert q["pools"][w["pool"]]["status"] == "CPS_CHECKED"


def test_a_resumed_check_finds_a_new_orphan_only_with_find_orphans(system):
    c = checker(system)
    c.enable()
    inject_system(system, "CONT_BAD_LABEL", pool="scratch")
    c.set_policy(all_interactive=True)
    assert c.start() == 4
    c.stop()
    w = inject_system(system, "POOL_NONEXIST_ON_MS", pool="tank")
    assert c.start() == 4
    assert [r["class"] for r in reports(c)] == ["CONT_BAD_LABEL"]
    c.stop()
    assert c.start(find_orphans=True) == 4
    assert sorted(r["class"] for r in reports(c)) == ["CONT_BAD_LABEL", "POOL_NONEXIST_ON_MS"]
    assert w["pool"] in c.query()["pools"]


def test_dead_leader_is_paused_and_resumed_after_losing_an_ms_replica(system, monkeypatch):
    c = checker(system)
    c.enable()
    w = inject_system(system, "CONT_BAD_LABEL")
    real = Run._phase

    def dies(self, phase, uuid):
        if phase == "CSP_CONT_CLEANUP":
            raise KeyboardInterrupt         # the leader dies as this phase begins
        return real(self, phase, uuid)
    monkeypatch.setattr(Run, "_phase", dies)
    with pytest.raises(KeyboardInterrupt):
        c.start()
    monkeypatch.setattr(Run, "_phase", real)
    q = c.query()
    assert (q["status"], q["leader"]) == ("PAUSED", 0)
    assert q["pools"][w["pool"]]["status"] == "CPS_PAUSED"
    remove_dir(system, ms_path(system, 0), ("data.mdb", "lock.mdb"))   # the MS loses rank 0
    assert c.query()["leader"] == 0
    assert c.start() == 1
    q = c.query()
    assert (q["status"], q["leader"]) == ("COMPLETED", 0)
    assert [(r["pool_uuid"], r["action"], r["result"]) for r in q["reports"]] == \
        [(w["pool"], "TRUST_PS", 0)]
    assert c.start(dry_run=True) == 0


def test_a_second_leader_is_refused_and_disabled_refuses(system):
    c = checker(system)
    with pytest.raises(CheckError, match="not enabled"):
        c.start()
    c.enable()
    fd = os.open(os.path.join(system, "ms"), os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(CheckError, match="already running"):
            c.start()
    finally:
        os.close(fd)
    assert c.start() == 0
    assert c.query()["status"] == "COMPLETED"
    local = CheckerState(system).state["local"]            # every rank's own check ran
    assert sorted(local) == [str(r) for r in rank_dirs(system)]
    assert {(x["ok"], x["exit"], x["status"]) for x in local.values()} == {(True, 0, "COMPLETED")}
    assert c.get_policy()["policies"][0].startswith("POOL_LESS_SVC_WITHOUT_QUORUM:")
