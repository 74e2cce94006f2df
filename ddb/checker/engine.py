"""Running a check: scan, decide per policy and answer mode, repair, record, resume.

The decision follows DAOS's per-class algorithm (policy, DEFAULT → the
problem's default, an action that is not a choice → INTERACT, auto turns
INTERACT into IGNORE, dry runs change nothing) and e2fsck's answer modes
(-n, -y, -p preen). Findings and per-shard bookmarks go to the report
store as they happen, so a check that dies can be resumed by the next one.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass, field

from vosfmt import VosError, open_shard
from vosfmt.image import list_shards

from .problems import Action, problem
from .repair import repair_shard
from .scan import Finding, ShardScan, scan_image_smd
from .store import ReportStore

RESULT_REPAIRED, RESULT_DRY_RUN, RESULT_IGNORED, RESULT_FAILED = 0, 1, 2, -5
EXIT_CLEAN, EXIT_FIXED, EXIT_LEFT, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 4, 8, 16, 32
MAX_ROUNDS = 4


class CheckError(Exception):
    """An operational error of the checker (exit 8), with a one-line message."""


class PreenHalt(Exception):
    def __init__(self, finding: Finding):
        self.finding = finding


@dataclass
class Options:
    dry_run: bool = False
    mode: str = "default"            # default | yes | preen | interactive
    auto: bool = False
    failout: bool = False
    reset: bool = False
    policies: dict = field(default_factory=dict)      # Cls -> Action for this run


def _leader() -> dict:
    return {"host": socket.gethostname(), "pid": os.getpid(), "since": time.time()}


class Leadership:
    """The running check's lock: ``daos_sys/check.lock`` (flock) names the leader."""

    def __init__(self, db_root: str):
        self.path = os.path.join(db_root, "daos_sys", "check.lock")
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            info = _read_leader(self.path)
            os.close(self.fd)
            raise CheckError(f"a check is already running, led by {info}") from None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, json.dumps(_leader()).encode(), 0)

    def release(self) -> None:
        os.ftruncate(self.fd, 0)
        os.close(self.fd)


def _read_leader(path: str) -> str:
    try:
        with open(path) as f:
            d = json.load(f)
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(d["since"]))
        return f"pid {d['pid']} on {d['host']} (since {since})"
    except (OSError, ValueError, KeyError):
        return "another process"


def leader_alive(db_root: str) -> bool:
    path = os.path.join(db_root, "daos_sys", "check.lock")
    if not os.path.exists(path):
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def targets_of(db_root: str, names) -> list[str]:
    """Shard paths for TARGET arguments: shard files, pool directories or pool uuids."""
    shards = list_shards(db_root)
    if not names:
        return shards
    out = []
    for n in names:
        p = os.path.abspath(n) if os.path.exists(n) else os.path.join(db_root, n)
        match = [s for s in shards if os.path.abspath(s) == os.path.abspath(p)
                 or os.path.dirname(os.path.abspath(s)) == os.path.abspath(p)]
        if not match:
            raise CheckError(f"no pool shard matches '{n}' under {db_root}")
        out += [m for m in match if m not in out]
    return out


class Checker:
    def __init__(self, db_root: str, targets=(), options: Options | None = None, *, ask=None,
                 progress=None, hooks=None):
        self._first: dict = {}
        self.db_root = db_root
        self.names = list(targets)
        self.opt = options or Options()
        self.ask = ask                      # interactive: (finding, choices) -> Action
        self.progress = progress
        self.hooks = hooks
        self.remember: dict = {}            # class -> Action ('a' = the suggestion for all)

    # --- decisions ---------------------------------------------------------------
    def decide(self, f: Finding, stored_policies: dict) -> Action:
        prob = f.problem
        if prob.report_only:
            return Action.IGNORE
        acts = [a for a, _ in prob.choices]
        default = Action(f.ctx["default"]) if "default" in f.ctx else prob.default
        if default == Action.IGNORE and self.opt.mode in ("yes", "preen"):
            return Action.IGNORE           # nothing can repair this one
        pol = Action.DEFAULT if self.opt.mode == "yes" else \
            Action(self.opt.policies.get(prob.cls, stored_policies.get(int(prob.cls), Action.DEFAULT)))
        act = default if pol == Action.DEFAULT else pol
        if act not in acts and act != Action.IGNORE:
            act = Action.INTERACT
        if self.opt.mode == "interactive" and not self.opt.dry_run:
            act = Action.INTERACT
        if self.opt.mode == "preen" and act != Action.IGNORE and not prob.safe_auto:
            raise PreenHalt(f)
        if act == Action.INTERACT and self.opt.auto:
            act = Action.IGNORE
        if act == Action.INTERACT and self.ask is not None and not self.opt.dry_run:
            if prob.cls in self.remember:
                return self.remember[prob.cls]
            choice, for_all = self.ask(f, prob.choices)
            if for_all:
                self.remember[prob.cls] = choice
            return choice
        return act

    # --- start ----------------------------------------------------------------------
    def start(self) -> int:
        lead = Leadership(self.db_root)
        try:
            with ReportStore(self.db_root, write=True) as store:
                return self._start(store)
        finally:
            lead.release()

    def _start(self, store: ReportStore) -> int:
        shards = targets_of(self.db_root, self.names)
        inst = store.instance()
        marks = store.shards()
        prev = inst.get("status", "INIT")
        reset = (self.opt.reset or prev in ("INIT", "COMPLETED") or inst.get("dry_run")
                 or not any(m.get("status") not in ("CHECKED",) for p, m in marks.items() if p in shards))
        old = store.findings()
        if reset:
            store.put(delete_findings=[f["seq"] for f in old if f["shard"] in shards or not f["shard"]],
                      delete_shards=[p for p in marks if p in shards])
            marks = {}
            rescan = set(shards)
        else:       # resume: pending findings of shards scanned again are rediscovered
            rescan = {p for p in shards if marks.get(p, {}).get("status") != "CHECKED"}
            store.put(delete_findings=[f["seq"] for f in old
                                       if f["action"] == Action.INTERACT and f["shard"] in rescan])
        # a pending question this run will not ask again can no longer be answered (DAOS STALE)
        stale = [dict(f, action=int(Action.STALE), choices=[]) for f in store.findings()
                 if f["action"] == Action.INTERACT and f["shard"] and f["shard"] not in rescan]
        if stale:
            store.put(findings=stale)
        flags = {"dry_run": self.opt.dry_run, "auto": self.opt.auto, "failout": self.opt.failout}
        inst = {"status": "RUNNING", "leader": _leader(), "start_time": time.time(),
                "resumed_from": prev if not reset else None, **flags,
                "policies": {str(int(k)): int(v) for k, v in self.opt.policies.items()}}
        store.put(instance=inst)
        stored = store.policies()
        totals = {"total": 0, "repaired": 0, "ignored": 0, "failed": 0, "pending": 0, "dry_run": 0}
        halted = None
        todo = [p for p in shards if marks.get(p, {}).get("status") != "CHECKED"]
        self._first = scan_in_parallel(self.db_root, todo) if len(todo) > 1 else {}
        try:
            for i, path in enumerate(shards):
                if marks.get(path, {}).get("status") == "CHECKED":
                    continue
                if store.instance().get("stop"):
                    inst.update(status="STOPPED", stop_time=time.time())
                    store.put(instance=inst)
                    return EXIT_LEFT
                counts = self._check_shard(store, path, stored, i, len(shards))
                for k, v in counts.items():
                    totals[k] += v
            counts = self._check_image(store, shards, stored)
            for k, v in counts.items():
                totals[k] += v
        except PreenHalt as h:
            halted = h.finding
            self._record(store, [h.finding], {id(h.finding): (Action.INTERACT, None)})
            totals["pending"] += 1
        status = "RUNNING" if totals["pending"] else "COMPLETED"
        inst.update(status=status, stop_time=time.time(), counters=totals,
                    preen_halt=halted.message if halted else None)
        store.put(instance=inst)
        left = (totals["pending"] or totals["failed"] or totals["dry_run"]
                or totals["ignored"] or halted)
        if left:
            return EXIT_LEFT
        return EXIT_FIXED if totals["repaired"] else EXIT_CLEAN

    def _check_shard(self, store, path: str, stored: dict, index: int, count: int) -> dict:
        counts = {"total": 0, "repaired": 0, "ignored": 0, "failed": 0, "pending": 0, "dry_run": 0}
        seen = set()
        bookmark = {"status": "CHECKING", "phase": 0, "started": time.time()}
        store.put(shards={path: bookmark})
        for rnd in range(MAX_ROUNDS):
            pre = self._first.pop(path, None) if rnd == 0 else None
            if isinstance(pre, str):
                raise CheckError(f"cannot check {path}: {pre}")
            if pre is not None:
                findings = pre
                if self.progress:
                    self.progress(path, index, count, 3, 3)
            else:
                try:
                    with open_shard(path, db_root=self.db_root) as shard:
                        def prog(n, total):
                            bookmark["phase"] = n
                            store.put(shards={path: bookmark})
                            if self.progress:
                                self.progress(path, index, count, n, total)
                        findings = ShardScan(shard, prog).run()
                except VosError as e:
                    raise CheckError(f"cannot check {path}: {e}") from None
            findings = [f for f in findings if f.identity() not in seen]
            if not findings:
                break
            seen.update(f.identity() for f in findings)
            decisions = {id(f): (self.decide(f, stored), None) for f in findings}
            to_fix = [(f, a) for f in findings for a, _ in [decisions[id(f)]]
                      if a not in (Action.IGNORE, Action.INTERACT) and not self.opt.dry_run]
            if to_fix:
                try:
                    repair_shard(path, self.db_root, to_fix, hooks=self.hooks)
                except VosError as e:
                    for f, a in to_fix:
                        decisions[id(f)] = (a, str(e))
                    if self.opt.failout:
                        self._record(store, findings, decisions, counts)
                        bookmark.update(status="FAILED")
                        store.put(shards={path: bookmark})
                        raise CheckError(f"repair failed on {path}: {e}") from None
            self._record(store, findings, decisions, counts)
            if not to_fix:
                break
        bookmark.update(status="PENDING" if counts["pending"] else "CHECKED", phase=4,
                        counters=counts, finished=time.time())
        store.put(shards={path: bookmark})
        return counts

    def _check_image(self, store, shards, stored) -> dict:
        counts = {"total": 0, "repaired": 0, "ignored": 0, "failed": 0, "pending": 0, "dry_run": 0}
        opened = []
        try:
            for p in shards:
                try:
                    opened.append(open_shard(p, db_root=self.db_root))
                except VosError:
                    pass
            findings = scan_image_smd(self.db_root, opened)
        finally:
            for sh in opened:
                sh.close()
        if not findings:
            return counts
        decisions = {id(f): (self.decide(f, stored), None) for f in findings}
        for f in findings:
            act = decisions[id(f)][0]
            if act in (Action.IGNORE, Action.INTERACT) or self.opt.dry_run:
                continue
            try:
                apply_image_repair(self.db_root, f, act)
            except VosError as e:
                decisions[id(f)] = (act, str(e))
        self._record(store, findings, decisions, counts)
        return counts

    def _record(self, store, findings, decisions, counts=None) -> None:
        seqs = store.next_seqs(len(findings))
        docs = []
        for seq, f in zip(seqs, findings):
            act, err = decisions[id(f)]
            if act == Action.INTERACT:
                result, key = None, "pending"
            elif err is not None:
                result, key = RESULT_FAILED, "failed"
            elif act == Action.IGNORE:
                result, key = RESULT_IGNORED, "ignored"
            elif self.opt.dry_run:
                result, key = RESULT_DRY_RUN, "dry_run"
            else:
                result, key = RESULT_REPAIRED, "repaired"
            if counts is not None:
                counts["total"] += 1
                counts[key] += 1
            docs.append(finding_doc(seq, f, act, result, err))
        store.put(findings=docs)


def _scan_one(args):
    db_root, path = args
    try:
        with open_shard(path, db_root=db_root) as shard:
            return path, ShardScan(shard).run()
    except VosError as e:
        return path, str(e)


def scan_in_parallel(db_root: str, paths: list[str]) -> dict:
    """First-round findings of several shards, scanned by one process per core.

    Scans only read; repairs and the report store stay in the leader process.
    """
    import multiprocessing as mp
    workers = min(len(paths), os.cpu_count() or 1)
    if workers < 2:
        return {}
    try:
        with mp.get_context("fork").Pool(workers) as pool:
            return dict(pool.map(_scan_one, [(db_root, p) for p in paths]))
    except (OSError, ValueError):       # no fork here: the leader scans them one by one
        return {}


def finding_doc(seq: int, f: Finding, act: Action, result, err=None) -> dict:
    prob = f.problem
    pending = act == Action.INTERACT
    return {"seq": seq, "code": f.code, "name": prob.name, "class": int(prob.cls),
            "class_name": prob.cls.name, "pass": prob.pass_, "shard": f.shard,
            "msg": f.message, "action": int(act), "result": result, "error": err,
            "choices": [int(a) for a, _ in prob.choices] if pending else [],
            "details": [d for _, d in prob.choices] if pending else
            [d for a, d in prob.choices if a == act][:1],
            "report_only": prob.report_only, "ctx": f.ctx, "timestamp": time.time()}


def apply_image_repair(db_root: str, f: Finding, act: Action) -> None:
    from vosfmt.image import smd_sync
    from vosfmt.keys import uuid_bytes
    from vosfmt.smd import SysDb
    if f.code == 0x060001:
        smd_sync(db_root)
    elif f.code == 0x060002:
        with SysDb(db_root, write=True) as db:
            pool = db.pools().get(uuid_bytes(f.ctx["pool"]))
            if pool is None:
                return
            keep = [(t, b) for t, b in zip(pool.tgts, pool.blobs) if t != f.ctx["target"]]
            if keep:
                pool.tgts, pool.blobs = [t for t, _ in keep], [b for _, b in keep]
                db.write(pools=[pool])
            else:
                db.write(delete_pools=[pool.uuid])


def repair_finding(db_root: str, seq: int, idx: int) -> dict:
    """``check repair SEQ IDX``: apply choice IDX of a pending finding (DAOS error texts)."""
    with ReportStore(db_root, write=True) as store:
        doc = store.finding(seq)
        if doc is None:
            raise CheckError(f"finding {seq:#x} not found")
        if doc["action"] == Action.STALE:
            raise CheckError(f"finding {seq:#x} is stale: the current checker instance cannot act on "
                             "it; restart the checker against its shard")
        if doc["action"] != Action.INTERACT:
            raise CheckError(f"finding {seq:#x} is already resolved: {resolution(doc)}")
        if not 0 <= idx < len(doc["choices"]):
            raise CheckError(f"invalid action {idx} for seq {seq:#x}")
        act = Action(doc["choices"][idx])
        inst = store.instance()
        f = Finding(doc["code"], doc["ctx"], doc["shard"])
        err = None
        if act != Action.IGNORE and not inst.get("dry_run"):
            try:
                if f.shard:
                    current = _still_there(db_root, f)
                    if current is not None:
                        repair_shard(f.shard, db_root, [(current, act)])
                else:
                    apply_image_repair(db_root, f, act)
            except VosError as e:
                err = str(e)
        result = (RESULT_FAILED if err else RESULT_IGNORED if act == Action.IGNORE
                  else RESULT_DRY_RUN if inst.get("dry_run") else RESULT_REPAIRED)
        doc.update(action=int(act), result=result, error=err, choices=[],
                   details=[d for a, d in problem(f.code).choices if a == act][:1])
        store.put(findings=[doc])
        pending = [d for d in store.findings() if d["action"] == Action.INTERACT]
        if not [d for d in pending if d["shard"] == f.shard] and f.shard:
            marks = store.shards()
            bm = marks.get(f.shard, {})
            bm["status"] = "CHECKED"
            store.put(shards={f.shard: bm})
        if not pending and inst.get("status") == "RUNNING":
            inst["status"] = "COMPLETED"
            store.put(instance=inst)
        return doc


def _still_there(db_root: str, f: Finding):
    """The same inconsistency found by a fresh scan (None if it is gone)."""
    with open_shard(f.shard, db_root=db_root) as shard:
        for g in ShardScan(shard).run():
            if g.identity() == f.identity():
                return g
    return None


def resolution(doc: dict) -> str:
    act = Action(doc["action"]).name
    if doc.get("result") == RESULT_DRY_RUN:
        return f"{act} (dry run)"
    if doc.get("result") == RESULT_FAILED:
        return f"{act} (failed: {doc.get('error')})"
    return act


def stop(db_root: str) -> str:
    with ReportStore(db_root, write=True) as store:
        inst = store.instance()
        if inst.get("status") != "RUNNING":
            return inst.get("status", "INIT")
        if leader_alive(db_root):
            inst["stop"] = True
            store.put(instance=inst)
            return "STOPPING"
        inst.update(status="STOPPED", stop_time=time.time())
        store.put(instance=inst)
        return "STOPPED"


def query(db_root: str) -> dict:
    if not ReportStore.exists(db_root):
        return {"status": "INIT", "shards": {}, "reports": []}
    with ReportStore(db_root) as store:
        inst = store.instance()
        if inst.get("status") == "RUNNING" and not leader_alive(db_root) and \
                not any(f["action"] == Action.INTERACT for f in store.findings()):
            inst["status"] = "PAUSED"           # its leader died mid-run: start resumes it
        return {"status": inst.get("status", "INIT"), "instance": inst, "shards": store.shards(),
                "reports": sorted(store.findings(), key=lambda d: (d["class"], d["seq"]))}
