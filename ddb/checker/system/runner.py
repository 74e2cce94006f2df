"""One run of the check leader: PREPARE, then each pool through phases 1-5 from its bookmark.

Each pool's bookmark (its status and phase in the MS state) is written BEFORE
the phase's work starts, so a leader that dies is resumed by the next run from
that phase (the phase's passes are idempotent: they compare again and repair
what is still wrong). A finding is decided by ``classes.decide`` with the run's
policies and flags; an INTERACT one is recorded and its pool left PENDING
while the other pools go on. A pool resumed after ``repair`` meets the same
inconsistency again in its phase, finds the pending finding of that identity
and the admin's answer, and applies it under the same seq (DAOS's second
report). A repair is reported (result pending) and kept as "acting" in the same MS
write before it starts: a leader killed during it is resumed by ``complete``, which
applies it again (every repair is idempotent) before the passes run, so the finding is
acted on once and never reported twice. The MS's own findings (PREPARE) never block a pool. Once every pool
is done, today's single-engine check runs on every rank's shards.
"""
from __future__ import annotations

import time

from vosfmt.errors import VosError

from ..errors import CheckError
from ..exits import EXIT_ERROR
from ..problems import Action, Cls
from ..report import Result
from .classes import CLASSES, answer, decide, sys_class
from .passes import (
    NEXT,
    SKIP,
    Facts,
    Inconsistency,
    PoolPending,
    cont_cleanup,
    cont_list,
    pool_cleanup,
    pool_list,
    pool_shards,
)
from .repairs import Repairer, fix_pool_label
from .state import DONE_POOL, PHASES, CheckerState, seq_key

POOL_PHASES = ("CSP_POOL_LIST", "CSP_POOL_MBS", "CSP_POOL_CLEANUP", "CSP_CONT_LIST",
               "CSP_CONT_CLEANUP")
DER_IO = -5             # what a failed repair's result says (DAOS's -DER_IO)


class RunFailed(Exception):
    """A repair failed with failout on: the instance and the pool end FAILED."""


class RunStopped(Exception):
    """``stop`` asked for the whole instance to end."""


def report_where(inc: Inconsistency, leader: int | None) -> tuple:
    """The report's (rank, target): the rank it concerns, else its reporter, else the leader."""
    rank = inc.rank if inc.rank is not None else inc.reporter if inc.reporter is not None \
        else leader
    return rank, inc.target if inc.target is not None else 0


def identity_of(report: dict) -> tuple:
    return (report["class"], report["pool_uuid"] or None, report["rank"], report["target"],
            report["cont_uuid"] or None)


class Run:
    """A run over ``store`` (the checker's MS rows). ``opts``: dry_run, auto, failout;
    ``policies``: Cls -> Action for this run."""

    def __init__(self, sys_root: str, store: CheckerState, transport, *, dry_run: bool,
                 auto: bool, failout: bool, policies: dict):
        self.sys_root = sys_root
        self.store = store
        self.transport = transport
        self.dry_run, self.auto, self.failout = dry_run, auto, failout
        self.policies = policies
        self.facts: Facts | None = None
        self.repairer: Repairer | None = None
        self.completed: dict = {}          # identity -> Decision: a dead leader's repairs done
        self.counts = {"total": 0, "repaired": 0, "ignored": 0, "failed": 0, "pending": 0,
                       "dry_run": 0}

    @property
    def state(self) -> dict:
        return self.store.state

    # --- PREPARE ---------------------------------------------------------------------------
    def prepare(self) -> None:
        """Every rank's clues; a rank whose engine fails is an error of the run."""
        resp = self.transport.map({r: {"op": "clues"} for r in self.transport.ranks()})
        bad = {r: x.get("error") for r, x in resp.items() if not x.get("ok")}
        if bad:
            raise CheckError("; ".join(f"rank {r}: {e}" for r, e in sorted(bad.items())))
        self.facts = Facts(self.sys_root, resp, self.transport)
        self.repairer = Repairer(self.sys_root, self.facts, self.transport, self.store.pool)

    def check_ms(self, found: list[Inconsistency]) -> None:
        """The MS's own findings (surveyed before the run's first MS write; the checker's
        writes skip the replicas left behind until a TRUST_MS repair catches them up)."""
        self.complete(None)
        for inc in found:
            self.handle(inc, blocking=False)

    def _repaired(self, inc: Inconsistency, action: Action) -> None:
        """What a repair changes in the checker's own rows, saved with its result: an MS
        replica caught up is written again by the checker (and no longer counted behind
        at the instance's start)."""
        if inc.cls == Cls.MS_REPLICA_BEHIND and action == Action.TRUST_MS:
            self.store.skip.discard(inc.rank)
            behind = self.state.get("ms_behind") or []
            self.state["ms_behind"] = [r for r in behind if r != inc.rank]

    # --- a dead leader's repairs -----------------------------------------------------------
    def _acting(self, pool: str | None) -> dict:
        """seq hex -> {"action", "inc"}: the repairs reported and begun, not yet recorded done
        (of ``pool``; None: the MS's)."""
        where = self.state if pool is None else self.store.pool(pool)
        return where.setdefault("acting", {})

    def complete(self, pool: str | None) -> list:
        """The repairs a dead leader was making (of ``pool``; None: the MS's), applied again
        before the passes meet their half-done work as other inconsistencies (each repair is
        idempotent: it finds its work half or fully done and completes it); their findings'
        results recorded, under their seqs. The engines' clues are read again after. Returns
        the (Inconsistency, Decision) completed; the run's passes that meet one of them again
        (a repair deferred to a later phase) take it as handled."""
        acting = self._acting(pool)
        if not acting:
            return []
        done, error = [], None
        for key, a in sorted(acting.items()):
            inc = Inconsistency.from_json(a["inc"])
            d = answer(inc.cls, inc.situation, Action[a["action"]])
            result = int(Result.REPAIRED)
            try:
                self.repairer.apply(inc, d.action)
                self._repaired(inc, d.action)
            except VosError as e:
                result, error = DER_IO, str(e)
            r = self.store.findings.get(int(key, 16))
            if r is not None:
                self.store.put_finding({**r, "result": result})
            self.counts["total"] += 1
            self.counts["repaired" if result == 0 else "failed"] += 1
            del acting[key]
            done.append((inc, d))
            self.completed[inc.identity()] = d
        self.store.save()
        if error is not None and self.failout:
            raise RunFailed(f"a resumed repair failed: {error}")
        self.prepare()
        return done

    # --- pools -----------------------------------------------------------------------------
    def run_pools(self, pools, stop_requested) -> None:
        for uuid in pools:
            bm = self.store.pool(uuid)
            if bm is None or bm["status"] in DONE_POOL:
                continue
            request = stop_requested()
            if request is not None and (not request or uuid in request):
                if not request:
                    raise RunStopped()
                bm["status"] = "CPS_STOPPED"
                self.store.save()
                continue
            self.run_pool(uuid)

    def run_pool(self, uuid: str) -> None:
        bm = self.store.pool(uuid)
        bm["status"] = "CPS_CHECKING"
        bm["start_time"] = bm.get("start_time") or time.time()
        bm["label"] = self.facts.label(uuid) or bm.get("label")
        start = POOL_PHASES.index(bm["phase"]) if bm["phase"] in POOL_PHASES else 0
        began = time.monotonic()
        try:
            if any(d.skips_pool for _i, d in self.complete(uuid)):
                start = len(POOL_PHASES)
            for phase in POOL_PHASES[start:]:
                bm["phase"] = phase
                bm["remaining"] = len(POOL_PHASES) - POOL_PHASES.index(phase)
                self.store.save()                   # the bookmark, before the phase's work
                if self._phase(phase, uuid) == SKIP:
                    break
        except PoolPending:
            bm["status"] = "CPS_PENDING"
            bm["elapsed"] = bm.get("elapsed", 0) + time.monotonic() - began
            self.store.save()
            return
        except RunFailed:
            bm["status"] = "CPS_FAILED"
            self.store.save()
            raise
        bm.update(status="CPS_CHECKED", phase="CSP_DONE", remaining=0,
                  elapsed=bm.get("elapsed", 0) + time.monotonic() - began)
        self.store.save()

    def _phase(self, phase: str, uuid: str) -> str:
        f, h = self.facts, self.handle
        if phase == "CSP_POOL_LIST":
            return pool_list(f, uuid, h)
        if phase == "CSP_POOL_MBS":
            self.state["pools"][uuid]["rank_count"] = len(pool_shards(f, uuid))
            return NEXT
        if phase == "CSP_POOL_CLEANUP":
            out = pool_cleanup(f, uuid, h)
            bm = self.store.pool(uuid)
            if bm.get("label_fix") is not None and not self.dry_run:
                self._apply(lambda: fix_pool_label(self.repairer, uuid, bm["label_fix"]))
                bm["label_fix"] = None
            return out
        if phase == "CSP_CONT_LIST":
            cont_list(f, uuid)
            return NEXT
        return cont_cleanup(f, uuid, h)

    # --- one finding -----------------------------------------------------------------------
    def handle(self, inc: Inconsistency, blocking: bool = True):
        """Decide, record and (unless a dry run) repair one inconsistency; returns the
        Decision. An INTERACT one raises PoolPending (``blocking``) once recorded."""
        if inc.identity() in self.completed:
            return self.completed[inc.identity()]
        leader = self.state.get("leader")
        rank, target = report_where(inc, leader)
        ident = (inc.cls.name, inc.pool, rank, target, inc.cont)
        names = {"pool": (self.facts.label(inc.pool) if inc.pool else None) or inc.pool or "",
                 "cont": inc.cont_label or inc.cont or ""}
        done = next((r for r in self.store.findings.values()
                     if r["result"] == Result.REPAIRED and identity_of(r) == ident), None)
        if done is not None:        # met again by a resumed phase: its deferred part is to come
            return answer(inc.cls, inc.situation, Action[done["action"]], names=names)
        pending = next((s for s, r in sorted(self.store.findings.items())
                        if r["action"] == "INTERACT" and identity_of(r) == ident), None)
        answers = self._answers(inc.pool)
        chosen = answers.pop(seq_key(pending), None) if pending is not None else None
        if chosen is not None:
            d = answer(inc.cls, inc.situation, Action[chosen], dry_run=self.dry_run, names=names)
        else:
            d = decide(inc.cls, inc.situation, self.policies.get(inc.cls, Action.DEFAULT),
                       auto=self.auto, dry_run=self.dry_run, names=names)
        seq = pending if pending is not None else self.store.next_seq(inc.reporter)
        result, error = d.result, None
        if d.interact:
            self._record(seq, inc, d, None, rank, target, names)
            self.counts["total"] += 1
            self.counts["pending"] += 1
            self.store.save()
            if blocking:
                raise PoolPending()
            return d
        if result is None:
            self._record(seq, inc, d, None, rank, target, names)
            self._acting(inc.pool)[seq_key(seq)] = {"action": d.action.name, "inc": inc.to_json()}
            self.store.save()       # reported before acted on: a resumed leader completes it
            try:
                self.repairer.apply(inc, d.action)
                self._repaired(inc, d.action)
                result = int(Result.REPAIRED)
            except VosError as e:
                result, error = DER_IO, str(e)
        self._acting(inc.pool).pop(seq_key(seq), None)
        self._record(seq, inc, d, result, rank, target, names)
        self.counts["total"] += 1
        self.counts[{0: "repaired", 1: "dry_run", 2: "ignored"}.get(result, "failed")] += 1
        self.store.save()
        if error is not None and self.failout:
            raise RunFailed(f"repair of finding 0x{seq:x} failed: {error}")
        return d

    def _answers(self, pool) -> dict:
        if pool is None:
            return self.state.setdefault("answers", {})
        return self.store.pool(pool).setdefault("answers", {})

    def _record(self, seq, inc, d, result, rank, target, names) -> None:
        msg = sys_class(inc.cls).message(**{**_NAME_DEFAULTS, **inc.facts})
        self.store.put_finding({
            "seq": seq, "class": inc.cls.name, "action": d.action.name, "result": result,
            "rank": rank, "target": target, "pool_uuid": inc.pool or "",
            "pool_label": names["pool"] if inc.pool and names["pool"] != inc.pool else "",
            "cont_uuid": inc.cont or "", "cont_label": inc.cont_label or "", "objid": "",
            "dkey": "", "akey": "", "timestamp": time.ctime(), "msg": msg,
            "act_choices": d.act_choices(), "act_details": d.act_details(),
            "act_msgs": d.act_msgs()})

    def _apply(self, fn) -> None:
        try:
            fn()
        except VosError as e:
            if self.failout:
                raise RunFailed(str(e)) from None

    # --- the local passes ------------------------------------------------------------------
    def local_checks(self) -> int:
        """Today's single-engine check on every rank's shards (its report stays in that
        rank's store; a dry run's outside the image), after the system passes; returns the
        ranks' exit bits together, and keeps each rank's summary in the state's "local"."""
        local = {c.name: a.name for c, a in self.policies.items() if c not in CLASSES}
        req = {"op": "local_check", "dry_run": self.dry_run, "auto": self.auto,
               "failout": self.failout, "policies": local}
        resp = self.transport.map({r: req for r in self.transport.ranks()})
        self.state["local"] = {str(r): {k: x.get(k) for k in ("ok", "error", "exit", "status",
                                                              "counts")}
                               for r, x in sorted(resp.items())}
        bits = 0
        for x in resp.values():
            bits |= x.get("exit") or 0 if x.get("ok") else EXIT_ERROR
        return bits

    # --- the end ---------------------------------------------------------------------------
    def finish(self) -> str:
        """The instance status after the run: RUNNING while a finding waits, else COMPLETED."""
        pools = self.state["pools"].values()
        waiting = any(p["status"] in ("CPS_PENDING", "CPS_CHECKING", "CPS_UNCHECKED")
                      for p in pools) or any(r["action"] == "INTERACT"
                                             for r in self.store.findings.values()
                                             if not r["pool_uuid"])
        phases = [p["phase"] for p in pools if p["status"] not in DONE_POOL]
        self.state["phase"] = min(phases, key=PHASES.index) if phases else "CSP_DONE"
        return "RUNNING" if waiting else "COMPLETED"


_NAME_DEFAULTS = {"pool": "", "cont": "", "rank": "", "target": "", "what": "", "state": "",
                  "ms_label": "", "ps_label": "", "cs_label": "", "prop_label": "", "index": "",
                  "auth_index": "", "readable": "", "membership": ""}
