"""Kill -9 of the system check leader at every point of a repair, then resume.

The harness: this file is also the child's script. ``python test_syscheck_crash.py ROOT
KILL_AT ARGS`` runs ``SystemChecker.start`` with every write the leader makes wrapped
(monkeypatched in the child only): each MS or PS replica ``store``/``create`` (one replica
of one raft index; an MS store is labelled by whether it holds only the checker's rows), each engine order sent over the transport (``destroy_*``,
``local_check``) and each shard an order removes. Before the KILL_AT-th write the child
SIGKILLs itself (no ``finally``, no atexit: what a dead leader leaves); KILL_AT past the
last write kills it after ``start`` returned, before exit. With KILL_AT 0 it runs to the
end and prints the number of writes it made (the points of the uninterrupted run).

For each kill point the test then runs ``start`` again (until the instance is no longer
RUNNING) and checks: ``query`` worked in between (a dead RUNNING instance shows
PAUSED), the findings table holds exactly the uninterrupted run's findings (by class,
pool, rank, target, container: each once, with the same final action and result), the
system (``system_dump`` without raft positions and times) and every engine file but the
replicas and the ranks' own check stores are those of the uninterrupted run, and the next
dry run finds what the uninterrupted run's does (nothing, or what it left: an IGNORE).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

from ddb.checker.problems import Action, Cls
from ddb.checker.system import engine
from ddb.checker.system.leader import SystemChecker
from ddb.checker.system.state import SEQ_COUNTER_MASK, CheckerState
from ddb.checker.system.transport import LocalTransport
from fixtures import build
from fixtures.system_injectors import inject_system
from support import sparse_copy
from vosfmt.ms import ManagementService, MsReplica
from vosfmt.rdb import RdbReplica
from vosfmt.safefs import remove_dir
from vosfmt.sysdump import system_dump
from vosfmt.system import ms_path, rank_dirs

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)



VOLATILE = {"term", "last_index", "start_time", "elapsed", "timestamp", "seq", "counters",
            "findings", "vote", "seq_next"}


def run_child(root: str, kill_at: int, args: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([REPO, HERE])}
    return subprocess.run([sys.executable, os.path.abspath(__file__), root, str(kill_at),
                           json.dumps(args or {})], env=env, capture_output=True, text=True,
                          timeout=300)


def stable(doc):
    """``doc`` without raft positions, times, seqs and counters (what differs between an
    interrupted and an uninterrupted run that reach the same state)."""
    if isinstance(doc, dict):
        return {k: stable(v) for k, v in doc.items() if k not in VOLATILE}
    if isinstance(doc, list):
        return [stable(v) for v in doc]
    return doc


def engine_digests(root: str) -> dict:
    """Every engine file's digest but the PS replicas (raft positions differ), LMDB lock
    files and the ranks' own check stores (their times differ)."""
    out = {}
    for rdir in rank_dirs(root).values():
        for d, _dirs, files in os.walk(rdir):
            if d.endswith(os.path.join("daos_sys", "check_db")):
                continue
            for f in files:
                if f in ("rdb-pool", "lock.mdb"):     # LMDB's lock file holds pids
                    continue
                p = os.path.join(d, f)
                with open(p, "rb") as fh:
                    out[os.path.relpath(p, root)] = hashlib.sha1(fh.read()).hexdigest()
    return out


def finding_rows(c: SystemChecker) -> list[tuple]:
    return sorted((r["class"], r["pool_uuid"], r["rank"], r["target"], r["cont_uuid"],
                   r["action"], r["result"]) for r in (c.query()["reports"] or []))


def kinds(labels: list[str]) -> list[str]:
    return [" ".join(x.split()[:2]) for x in labels]


def sample(labels: list[str]) -> list[int]:
    """The kill points around every change of kind of write (the checker's MS rows, a
    repair's MS, PS or engine writes, the ranks' local checks): the first of each run of
    one kind and the one before it, and the end."""
    k = kinds(labels)
    out = {len(labels)}
    for i in range(1, len(k)):
        if k[i - 1] != k[i]:
            out.update((i, i + 1))
    return sorted(out)


def repair_window(labels: list[str]) -> list[int]:
    """The kill points of the repairs: every write that is not the checker's own rows or a
    local check, and the checker's write just after each run of them."""
    k = kinds(labels)
    ours = [i + 1 for i, x in enumerate(k) if x not in ("ms checker", "engine local_check",
                                                         "after start")]
    return sorted(set(ours) | {n + 1 for n in ours})


def assert_seqs_not_reused(root: str) -> None:
    """The stored counter is past every stored finding's: no seq is handed out twice."""
    st = CheckerState(root)
    assert all(q & SEQ_COUNTER_MASK < st.state["seq_next"] for q in st.findings)


def outcome(root: str) -> dict:
    """The run's findings and engine files, then (after the next dry run, which must be
    clean and converges what is left of the checker's own writes) the system."""
    c = SystemChecker(root, transport=LocalTransport(root, workers=1))
    out = {"findings": finding_rows(c), "files": engine_digests(root),
           "status": c.query()["status"]}
    out["dry_run"] = c.start(dry_run=True)
    out["dump"] = stable(system_dump(root))
    return out


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("base") / "sys")
    build("system", root, seed=0)
    SystemChecker(root).enable()
    return root


class Scenario:
    """One injected system, its uninterrupted default run (the reference), and a fresh copy
    per kill point."""

    def __init__(self, base: str, where: str, injects, args: dict | None = None):
        self.where = where
        self.damaged = os.path.join(where, "damaged")
        sparse_copy(base, self.damaged)
        for cls, kw in injects:
            inject_system(self.damaged, cls, **kw)
        self.args = args or {}
        if "repair" in self.args:           # the killed leader answers a pending finding
            c = SystemChecker(self.damaged, transport=LocalTransport(self.damaged, workers=1))
            c.set_policy(all_interactive=True)
            assert c.start() == 4
        ref = self.copy("reference")
        done = run_child(ref, 0, self.args)
        assert done.returncode == 0, done.stderr
        out = json.loads(done.stdout)
        self.points, self.labels, self.rc = out["points"], out["labels"], out["rc"]
        self.expected = outcome(ref)
        shutil.rmtree(ref)

    def copy(self, name: str) -> str:
        dst = os.path.join(self.where, name)
        sparse_copy(self.damaged, dst)
        return dst

    def kill_and_resume(self, n: int, between=None, *, ms_too: bool = True) -> None:
        """Kill the leader before write ``n``, ``between(root)`` (the MS losing a replica...),
        start again until done, and compare with the uninterrupted run."""
        root = self.copy(f"kill-{n}")
        try:
            killed = run_child(root, n, self.args)
            assert killed.returncode == -signal.SIGKILL, (n, killed.stdout, killed.stderr)
            what = killed.stderr.strip().splitlines()[-1]
            c = SystemChecker(root, transport=LocalTransport(root, workers=1))
            status = c.query()["status"]                 # never fails on a dead leader's state
            assert status in ("INIT", "PAUSED", "COMPLETED") or \
                (status == "RUNNING" and "repair" in self.args), (what, status)
            assert status != "INIT" or n == 1, what
            assert_seqs_not_reused(root)
            if between is not None:
                between(root, self)
            for _ in range(3):                           # start again while it is not done
                q = c.query()
                if q["status"] == "COMPLETED":
                    break
                if q["status"] == "RUNNING":            # the answer died with the leader
                    seq = next(r["seq"] for r in q["reports"] if r["action"] == "INTERACT")
                    c.repair(seq, self.args["repair"])
                else:
                    c.start(**self.args_for_start())
            assert_seqs_not_reused(root)
            got = outcome(root)
            assert c.query()["leader"] == 0
            if not ms_too:
                got["dump"]["ms"] = None
            assert got["status"] == "COMPLETED", what
            assert got["findings"] == self.expected["findings"], what
            assert got["files"] == self.expected["files"], what
            assert got["dry_run"] == self.expected["dry_run"], what
            assert got["dump"] == self.expected["dump"], what
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def args_for_start(self) -> dict:
        return {"policies": {Cls[k]: Action[v] for k, v in self.args.get("policies", {}).items()}}

# --- the tests --------------------------------------------------------------------------------

# every class's default repair (the injector arguments of test_syscheck_leader's CASES)
EVERY_CLASS = [
    ("POOL_NONEXIST_ON_MS", {}), ("POOL_NONEXIST_ON_ENGINE", {}),
    ("POOL_BAD_LABEL", {"side": "ms"}), ("POOL_BAD_LABEL", {"side": "ps"}),
    ("POOL_LESS_SVC_WITHOUT_QUORUM", {"seed": 1}), ("POOL_LESS_SVC_WITHOUT_QUORUM", {"seed": 0}),
    ("ENGINE_NONEXIST_IN_MAP", {}), ("ENGINE_HAS_NO_STORAGE", {"seed": 0}),
    ("ENGINE_HAS_NO_STORAGE", {"seed": 1}), ("ENGINE_DOWN_IN_MAP", {}),
    ("CONT_NONEXIST_ON_PS", {}), ("CONT_BAD_LABEL", {}), ("MS_REPLICA_BEHIND", {}),
]
# several classes in one run, in three pools and the MS
MULTI = [("POOL_NONEXIST_ON_MS", {"pool": "scratch"}), ("CONT_NONEXIST_ON_PS", {"pool": "tank"}),
         ("POOL_BAD_LABEL", {"pool": "archive", "side": "ps"}), ("MS_REPLICA_BEHIND", {})]
# exhaustively: a repair through engine orders, through the MS, through a PS dictate
EXHAUSTIVE = [[("CONT_NONEXIST_ON_PS", {})], [("POOL_NONEXIST_ON_MS", {})],
              [("POOL_LESS_SVC_WITHOUT_QUORUM", {"seed": 1})], MULTI]


def _ids(cases):
    return ["+".join(f"{c}{'-' + '-'.join(map(str, kw.values())) if kw else ''}"
                     for c, kw in case) for case in cases]


@pytest.mark.parametrize("injects", [[c] for c in EVERY_CLASS], ids=_ids([[c] for c in EVERY_CLASS]))
def test_kill_during_each_class_repair(base, tmp_path, injects):
    sc = Scenario(base, str(tmp_path), injects)
    assert [f[0] for f in sc.expected["findings"]] == [injects[0][0]]
    for n in repair_window(sc.labels):
        sc.kill_and_resume(n)


def test_kill_around_each_kind_of_write_of_several_classes(base, tmp_path):
    sc = Scenario(base, str(tmp_path), MULTI)
    assert sorted({f[0] for f in sc.expected["findings"]}) == sorted(c for c, _ in MULTI)
    for n in sample(sc.labels):
        sc.kill_and_resume(n)


def _lose_ms_replica(rank: int):
    def between(root, sc):
        remove_dir(root, ms_path(root, rank), ("data.mdb", "lock.mdb"))
        q = SystemChecker(root).query()
        assert (q["status"], q["leader"]) == ("PAUSED", 0)
    return between


def _ms_replica_0_behind(root, sc):
    """Replica 0 back to what it held before the check: 1 and 2 (a majority, ahead) are
    authoritative."""
    shutil.copyfile(os.path.join(ms_path(sc.damaged, 0), "data.mdb"),
                    os.path.join(ms_path(root, 0), "data.mdb"))
    v = ManagementService(root).status()
    assert v.authoritative in (1, 2) and 0 in v.behind
    q = SystemChecker(root).query()
    assert (q["status"], q["leader"]) == ("PAUSED", 0)


@pytest.mark.parametrize("between,same_ms", [(_lose_ms_replica(0), False),
                                             (_lose_ms_replica(2), False),
                                             (_ms_replica_0_behind, True)],
                         ids=["leader-rank-replica-lost", "other-replica-lost",
                              "replica-0-behind-1-2-ahead"])
def test_the_leader_rank_survives_the_ms_losing_a_replica(base, tmp_path, between, same_ms):
    """Killed during a repair; the MS then loses a replica (or another one is authoritative):
    the next start resumes with the same leader rank, no finding lost or doubled."""
    sc = Scenario(base, str(tmp_path), [("CONT_NONEXIST_ON_PS", {})])
    if not same_ms:                     # the MS keeps a replica missing: compare the rest
        sc.expected["dump"]["ms"] = None
    n = repair_window(sc.labels)[1]
    sc.kill_and_resume(n, between, ms_too=same_ms)


@pytest.mark.parametrize("injects,idx", [([("CONT_BAD_LABEL", {})], 2),
                                         ([("POOL_NONEXIST_ON_MS", {})], 1),
                                         ([("MS_WITHOUT_QUORUM", {})], 0)],
                         ids=["CONT_BAD_LABEL-TRUST_TARGET", "POOL_NONEXIST_ON_MS-DISCARD",
                              "MS_WITHOUT_QUORUM-TRUST_MS"])
def test_kill_during_the_repair_of_an_answered_finding(base, tmp_path, injects, idx):
    """``repair SEQ IDX`` killed: the next start acts on the answer under the same seq (or,
    killed before the answer was kept, the admin answers again); exactly one finding."""
    sc = Scenario(base, str(tmp_path), injects, {"repair": idx})
    assert [f[0] for f in sc.expected["findings"]] == [injects[0][0]]
    for n in sample(sc.labels):
        sc.kill_and_resume(n)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("DDB_CRASH_EVERY_POINT"),
                    reason="the long run (about 7 minutes on 2 cores): DDB_CRASH_EVERY_POINT=1")
@pytest.mark.parametrize("injects", EXHAUSTIVE, ids=_ids(EXHAUSTIVE))
def test_kill_at_every_point(base, tmp_path, injects):
    """Every write of the leader in turn (the per-class tests above cover each repair's own
    window in CI)."""
    sc = Scenario(base, str(tmp_path), injects)
    for n in range(1, sc.points + 1):
        sc.kill_and_resume(n)


# --- the child ------------------------------------------------------------------------------

def _child(root: str, kill_at: int, args: dict) -> None:
    count = [0]
    labels = []

    def point(what: str) -> None:
        count[0] += 1
        labels.append(what)
        if count[0] == kill_at:
            sys.stderr.write(f"killed before write {kill_at}: {what}\n")
            sys.stderr.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    def wrap(owner, name, what):
        real = owner[name] if isinstance(owner, dict) else getattr(owner, name)

        def wrapped(*a, **kw):
            point(f"{what} {a[0] if a else ''}")
            return real(*a, **kw)
        if isinstance(owner, dict):
            owner[name] = wrapped
        else:
            setattr(owner, name, wrapped)

    real_store = MsReplica.store

    def ms_store(self, meta, puts, deletes):        # the checker's own rows, or a repair's
        tables = {t for t, _k in puts} | {t for t, _k in deletes}
        point(f"ms {'checker' if tables <= {'checker', 'findings'} else 'repair'} {self!r}")
        return real_store(self, meta, puts, deletes)
    MsReplica.store = ms_store
    wrap(MsReplica, "create", "ms create")
    wrap(RdbReplica, "store", "rdb store")
    wrap(RdbReplica, "create", "rdb create")
    for op in ("destroy_pool", "destroy_shards", "destroy_container", "local_check"):
        wrap(engine.OPS, op, f"engine {op}")
    wrap(engine, "remove_shard", "remove_shard")

    c = SystemChecker(root, transport=LocalTransport(root, workers=1))
    if "repair" in args:
        seq = next(r["seq"] for r in c.query()["reports"] if r["action"] == "INTERACT")
        rc = c.repair(seq, args["repair"])
    else:
        policies = {Cls[k]: Action[v] for k, v in args.get("policies", {}).items()}
        rc = c.start(dry_run=args.get("dry_run", False), policies=policies)
    point("after start")
    print(json.dumps({"rc": rc, "points": count[0], "labels": labels}))


if __name__ == "__main__":
    _child(sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]))
    sys.exit(0)
