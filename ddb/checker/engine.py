"""Running a check: scan, decide, repair, verify, record, round after round; resume.

Each shard is scanned (the first round of several shards in parallel), its
findings decided (``policies``), the chosen repairs applied in one
transaction (``repair``), and the next round's scan verifies them and finds
their consequences; SMD and the blobs follow the shards. Findings and
per-shard bookmarks go to the report store as they happen, so a check that
dies can be resumed by the next one. A dry run writes nothing in the image:
its report goes to the dry-run store outside it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from vosfmt import VosError, lock, open_shard

from .dryrun import dry_run_next_seq, dry_run_store, image_id
from .errors import CheckError
from .exits import EXIT_CLEAN, EXIT_FIXED, EXIT_INTERRUPTED, EXIT_LEFT
from .finding import FindingSet
from .image import require_image, targets_of
from .imagelock import ImageLock
from .parallel import FAILED, scan_in_parallel
from .policies import Decider, PreenHalt
from .problems import Action
from .repair import repair_image, repair_shard
from .report import finding_doc, new_counts, outcome, verified
from .scan import ShardScan, unreadable_finding
from .scan_smd import scan_image_smd
from .stopping import CheckStopped, StopWatch
from .store import ReportStore, writing

MAX_ROUNDS = 4


@dataclass
class Options:
    dry_run: bool = False
    mode: str = "default"            # default | yes | preen | interactive
    auto: bool = False
    failout: bool = False
    reset: bool = False
    policies: dict = field(default_factory=dict)      # Cls -> Action for this run
    jobs: int | None = None         # processes for the first scan (None: one per core; 1: none)


def _acting(act: Action) -> bool:
    """Does the decision change anything (not left, not asked)?"""
    return act not in (Action.IGNORE, Action.INTERACT)


def exit_status(totals: dict, halted, stopped) -> int:
    """e2fsck's bits: EXIT_LEFT when anything is left (which clears EXIT_FIXED),
    EXIT_INTERRUPTED when stopped, EXIT_FIXED when repaired."""
    left = (totals["pending"] or totals["failed"] or totals["dry_run"] or totals["ignored"]
            or halted)
    if stopped:
        return EXIT_INTERRUPTED | (EXIT_LEFT if left else 0)
    if left:
        return EXIT_LEFT
    return EXIT_FIXED if totals["repaired"] else EXIT_CLEAN


def _add(totals: dict, counts: dict) -> None:
    for k, v in counts.items():
        totals[k] += v


class Checker:
    def __init__(self, db_root: str, targets=(), options: Options | None = None, *, ask=None,
                 progress=None, hooks=None):
        self._first: dict = {}
        self.db_root = db_root
        self.names = list(targets)
        self.opt = options or Options()
        self.decider = Decider(self.opt, ask)
        self.progress = progress
        self.hooks = hooks
        self.stop_watch = None

    # --- start ----------------------------------------------------------------------
    def start(self) -> int:
        """Run the check. A dry run writes nothing in the image (its report goes to the
        dry-run store outside it); any other run holds the image exclusively."""
        require_image(self.db_root)
        self.stop_watch = StopWatch(self.db_root)
        if self.opt.dry_run:
            return self._dry_start()
        with writing(self.db_root) as store:
            store.seq_floor = dry_run_next_seq(self.db_root)
            return self._start(store, store.policies())

    def _dry_start(self) -> int:
        with ImageLock(self.db_root, exclusive=False, wait=0):
            policies, floor = {}, None
            if ReportStore.exists(self.db_root):
                with ReportStore(self.db_root, lock_readers=False) as base:
                    policies, floor = base.policies(), base.next_seq()
            with dry_run_store(self.db_root) as store:
                if floor is not None:
                    store.seq_floor = floor
                store.clear()
                store.put(instance={"status": "INIT", "image": image_id(self.db_root)})
                return self._start(store, policies)

    def _start(self, store: ReportStore, stored: dict) -> int:
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
        inst = {**inst, "status": "RUNNING", "leader": lock.holder_details(),
                "start_time": time.time(), "resumed_from": prev if not reset else None, **flags,
                "stop_time": None,
                "policies": {str(int(k)): int(v) for k, v in self.opt.policies.items()}}
        todo = [p for p in shards if marks.get(p, {}).get("status") != "CHECKED"]
        # every shard to check is bookmarked first, so a run stopped before its end resumes
        store.put(instance=inst, shards={p: marks.get(p) or {"status": "UNCHECKED", "phase": 0}
                                         for p in todo})
        totals = new_counts()
        halted = stopped = None
        try:
            self._first = scan_in_parallel(self.db_root, todo, self.stop_watch.base, self.opt.jobs)
            for i, path in enumerate(shards):
                if path not in todo:
                    continue
                self.stop_watch.check()
                _add(totals, self._check_shard(store, path, stored, i, len(shards)))
            self.stop_watch.check()
            _add(totals, self._check_image(store, shards, stored))
        except PreenHalt as h:
            halted = h.finding
            self._record(store, [h.finding], {id(h.finding): (Action.INTERACT, None)})
            totals["pending"] += 1
        except CheckStopped:
            stopped = True
        status = "STOPPED" if stopped else "RUNNING" if totals["pending"] else "COMPLETED"
        inst.update(status=status, stop_time=time.time(), counters=totals,
                    preen_halt=halted.message if halted else None)
        store.put(instance=inst)
        return exit_status(totals, halted, stopped)

    # --- one shard, round after round ----------------------------------------------------
    def _check_shard(self, store, path: str, stored: dict, index: int, count: int) -> dict:
        counts = new_counts()
        seen = FindingSet()
        held = None         # the last round's repairs: recorded once the next scan has verified them
        bookmark = {"status": "CHECKING", "phase": 0, "started": time.time()}
        store.put(shards={path: bookmark})
        for rnd in range(MAX_ROUNDS + 1):
            pre = self._first.pop(path, None) if rnd == 0 else None
            if pre is not None and pre[0] == FAILED:
                raise CheckError(f"cannot check {path}: {pre[1]}")
            if pre is not None:
                findings = pre[1]
                if self.progress:
                    self.progress(path, index, count, 3, 3)
            else:
                try:
                    findings = self._scan(store, path, bookmark, index, count, first=rnd == 0)
                except VosError as e:
                    if held is not None:        # what was repaired before stays on record
                        self._record(store, *held, counts)
                    raise CheckError(f"cannot check {path}: {e}") from None
            if held is not None:
                self._record(store, *verified(*held, findings), counts)
                held = None
            findings = [f for f in findings if f not in seen]
            if not findings:
                break
            if rnd == MAX_ROUNDS:       # still more after the last round: left uncorrected
                self._record(store, findings, {id(f): (Action.IGNORE, None) for f in findings},
                             counts)
                break
            for f in findings:
                seen.add(f)
            decisions = {id(f): (self.decider.decide(f, stored), None) for f in findings}
            to_fix = [(f, a) for f in findings for a, _ in [decisions[id(f)]]
                      if _acting(a) and not self.opt.dry_run]
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
            if not to_fix:
                self._record(store, findings, decisions, counts)
                break
            held = (findings, decisions)
        bookmark.update(status="PENDING" if counts["pending"] else "CHECKED", phase=4,
                        counters=counts, finished=time.time())
        store.put(shards={path: bookmark})
        return counts

    def _scan(self, store, path: str, bookmark: dict, index: int, count: int, *, first: bool):
        """One scan of a shard. A shard that its damage keeps from being opened is one
        SHARD_UNREADABLE finding (first round only: one a repair made unopenable is an error)."""
        try:
            shard = open_shard(path, db_root=self.db_root, truncated_ok=True)
        except VosError as e:
            unopenable = unreadable_finding(self.db_root, path, e) if first else None
            if unopenable is None:
                raise
            return [unopenable]
        with shard:
            def prog(n, total):
                bookmark["phase"] = n
                store.put(shards={path: bookmark})
                if self.progress:
                    self.progress(path, index, count, n, total)
            return ShardScan(shard, prog, tick=self.stop_watch.ticker()).run()

    # --- SMD and blobs ------------------------------------------------------------------
    def _check_image(self, store, shards, stored) -> dict:
        counts = new_counts()
        findings = self._scan_smd(shards)
        if not findings:
            return counts
        decisions = {id(f): (self.decider.decide(f, stored), None) for f in findings}
        for f in findings:
            act = decisions[id(f)][0]
            if not _acting(act) or self.opt.dry_run:
                continue
            try:
                repair_image(self.db_root, f, act)
            except VosError as e:
                decisions[id(f)] = (act, str(e))
        if not self.opt.dry_run and any(_acting(a) and e is None for a, e in decisions.values()):
            findings, decisions = verified(findings, decisions, self._scan_smd(shards))
        self._record(store, findings, decisions, counts)
        return counts

    def _scan_smd(self, shards) -> list:
        opened = []
        try:
            for p in shards:
                try:
                    opened.append(open_shard(p, db_root=self.db_root, truncated_ok=True))
                except VosError:
                    pass
            return scan_image_smd(self.db_root, opened)
        finally:
            for sh in opened:
                sh.close()

    def _record(self, store, findings, decisions, counts=None) -> None:
        seqs = store.next_seqs(len(findings))
        docs = []
        for seq, f in zip(seqs, findings):
            act, err = decisions[id(f)]
            result, key = outcome(act, err, self.opt.dry_run)
            if counts is not None:
                counts["total"] += 1
                counts[key] += 1
            docs.append(finding_doc(seq, f, act, result, err))
        store.put(findings=docs)
