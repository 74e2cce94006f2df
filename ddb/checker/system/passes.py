"""The system passes: what each of DAOS's phases 0-5 compares, as detection over the facts.

A pass reads the facts (``Facts``: the engines' clues, the MS state, each
pool's PS state) and hands every inconsistency it finds to ``handle`` (the
leader's: decide, record, repair), which returns the ``classes.Decision``
taken; a pass goes on from what was done. ``handle`` raises ``PoolPending``
when the admin must answer, and a pass returns ``SKIP`` when the pool's later
phases cannot run (DAOS's "pool skipped": the decision ``skips_pool``, or
there is no PS state to read).

Phases: PREPARE (clues, the MS's own replicas), POOL_LIST (MS pool list vs the
engines' pools, the PS quorum, the label), POOL_MBS (the pool's shards from the
clues, kept in memory), POOL_CLEANUP (the map vs the shards, then the deferred
label fix), CONT_LIST (containers per shard from the clues), CONT_CLEANUP (the
shards' containers vs the container service, container labels).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from vosfmt.errors import VosError
from vosfmt.ms import ManagementService
from vosfmt.raft import decide
from vosfmt.system import rank_root

from ..problems import Cls

SKIP, NEXT = "skip", "next"
UP_STATES = ("UP", "UPIN", "NEW")
DOWN_STATES = ("DOWN", "DOWNOUT")


class PoolPending(Exception):
    """The admin must answer a finding of this pool: it waits, the others go on."""


@dataclass
class Inconsistency:
    """One thing found: the class, the facts its choices and message depend on, where."""
    cls: Cls
    situation: dict
    pool: str | None = None
    rank: int | None = None          # the rank (engine) it concerns
    target: int | None = None
    cont: str | None = None
    cont_label: str | None = None
    reporter: int | None = None      # the rank that reports it (None: the leader)
    facts: dict = field(default_factory=dict)   # what the message names

    def identity(self) -> tuple:
        """What makes it the same finding when a resumed pass meets it again."""
        return (self.cls.name, self.pool, self.rank, self.target, self.cont)

    def to_json(self) -> dict:
        """What the leader keeps in the MS of a repair it begins (to complete it if it dies)."""
        return {**{k: getattr(self, k) for k in _INC_FIELDS}, "cls": self.cls.name}

    @classmethod
    def from_json(cls, doc: dict) -> Inconsistency:
        return cls(Cls[doc["cls"]], **{k: doc[k] for k in _INC_FIELDS})


_INC_FIELDS = ("situation", "pool", "rank", "target", "cont", "cont_label", "reporter", "facts")


class Facts:
    """What the passes read: the clues of every rank, and the MS and PS states (cached,
    dropped by ``changed`` after a repair). The PS replicas live with the ranks' storage:
    they are read through the transport's ``pool_service``."""

    def __init__(self, sys_root: str, clues: dict, transport):
        self.sys_root = sys_root
        self.clues = clues
        self.transport = transport
        self._ps: dict = {}
        self._ms = None

    def changed(self, pool: str | None = None) -> None:
        self._ms = None
        if pool is None:
            self._ps.clear()
        else:
            self._ps.pop(pool, None)

    def ms_state(self) -> dict:
        if self._ms is None:
            _v, st = ManagementService(self.sys_root).read()
            self._ms = st or {}
        return self._ms

    def ms_pools(self) -> dict:
        return {u.lower(): p for u, p in self.ms_state().get("pools", {}).items()}

    def holders(self, pool: str) -> dict[int, dict]:
        """rank -> what that rank's clue says it holds of ``pool``."""
        return {r: c["pools"][pool] for r, c in sorted(self.clues.items())
                if pool in c.get("pools", {})}

    def engine_pools(self) -> set[str]:
        return {u for c in self.clues.values() for u in c.get("pools", {})}

    def ps(self, pool: str):
        """(verdict, state of the authoritative replica, else of the best one) of the pool's
        PS, read from its replicas (the clues name the same raft metas; a repair changes
        them, so the replicas themselves are read)."""
        if pool not in self._ps:
            try:
                survey = self.transport.pool_service(pool).survey()
                self._ps[pool] = (survey.verdict, survey.state())
            except VosError:
                self._ps[pool] = (decide({}), None)
        return self._ps[pool]

    def ps_label(self, pool: str):
        state = self.ps(pool)[1]
        return None if state is None else state.get("props", {}).get("label")

    def label(self, pool: str):
        ms = self.ms_pools().get(pool)
        return (ms or {}).get("label") or self.ps_label(pool)

    def ps_leader(self, pool: str) -> int | None:
        v = self.ps(pool)[0]
        return v.authoritative if v.authoritative is not None else v.best

    def root(self, rank: int) -> str:
        return rank_root(self.sys_root, rank)


# --- phase 0: the MS's own replicas ---------------------------------------------------------

def ms_findings(sys_root: str) -> list[Inconsistency]:
    """MS_WITHOUT_QUORUM, or one MS_REPLICA_BEHIND per replica left behind (read before the
    checker writes anything, since every MS write catches the replicas up)."""
    v = ManagementService(sys_root).status()
    if not v.quorum:
        return [Inconsistency(Cls.MS_WITHOUT_QUORUM, {"replica": v.best is not None}, facts={
            "membership": list(v.membership), "readable": len(v.reachable)})]
    survey = ManagementService(sys_root).survey()
    return [Inconsistency(Cls.MS_REPLICA_BEHIND, {}, rank=r, facts={
        "rank": r, "index": survey.replicas[r].meta.last_index, "auth_index": v.last_index})
        for r in v.behind]


# --- phase 1: POOL_LIST ---------------------------------------------------------------------

def pool_list(facts: Facts, pool: str, handle) -> str:
    ms = facts.ms_pools().get(pool)
    holders = facts.holders(pool)
    base = {"pool": pool}
    if not holders:
        if ms is not None:
            handle(Inconsistency(Cls.POOL_NONEXIST_ON_ENGINE, {}, pool, facts=base))
        return SKIP
    if ms is None:
        d = handle(Inconsistency(Cls.POOL_NONEXIST_ON_MS, {"zombie": False}, pool, facts=base))
        if d.skips_pool:
            return SKIP
    verdict, state = facts.ps(pool)
    if not verdict.quorum:
        replica = state is not None
        d = handle(Inconsistency(Cls.POOL_LESS_SVC_WITHOUT_QUORUM, {"replica": replica}, pool,
                                 facts={**base, "membership": list(verdict.membership),
                                        "reachable": list(verdict.reachable)}))
        if d.skips_pool:
            return SKIP
        verdict, state = facts.ps(pool)
    ms = facts.ms_pools().get(pool)
    if ms is not None and state is not None:
        ms_label = ms.get("label") or ""
        ps_label = state.get("props", {}).get("label") or ""
        if ms_label != ps_label:
            handle(Inconsistency(Cls.POOL_BAD_LABEL, {"ms_label": ms_label, "ps_label": ps_label},
                                 pool, facts={**base, "ms_label": ms_label,
                                              "ps_label": ps_label}))
    return NEXT


# --- phase 2: POOL_MBS ----------------------------------------------------------------------

def pool_shards(facts: Facts, pool: str) -> dict[int, list[int]]:
    """The pool's shards the engines hold (rank -> targets), what the PS leader is sent."""
    return {r: sorted(h.get("targets", [])) for r, h in facts.holders(pool).items()}


# --- phase 3: POOL_CLEANUP ------------------------------------------------------------------

def pool_cleanup(facts: Facts, pool: str, handle) -> str:
    state = facts.ps(pool)[1]
    if state is None:
        return SKIP
    pmap = state.get("pool_map", {})
    entries = {e["rank"]: e for k, e in pmap.items()
               if k != "version" and isinstance(e, dict) and type(e.get("rank")) is int}
    shards = pool_shards(facts, pool)
    reporter = facts.ps_leader(pool)
    skip = False
    for rank, targets in shards.items():
        entry = entries.get(rank)
        if entry is None:
            if targets:
                handle(Inconsistency(Cls.ENGINE_NONEXIST_IN_MAP, {}, pool, rank=rank,
                                     reporter=reporter, facts=_where(pool, rank, targets)))
        elif entry.get("state") in DOWN_STATES and targets:
            handle(Inconsistency(Cls.ENGINE_DOWN_IN_MAP, {}, pool, rank=rank, reporter=reporter,
                                 facts=_where(pool, rank, targets, state=entry.get("state"))))
    for rank, entry in sorted(entries.items()):
        if entry.get("state") not in UP_STATES:
            continue
        have = set(shards.get(rank, []))
        missing = [t["index"] for t in entry.get("targets", [])
                   if t.get("state") in UP_STATES and t.get("index") not in have]
        if not missing:
            continue
        whole = not have
        incs = [Inconsistency(Cls.ENGINE_HAS_NO_STORAGE, {}, pool, rank=rank, reporter=reporter,
                              facts=_where(pool, rank, missing))] if whole else \
            [Inconsistency(Cls.ENGINE_HAS_NO_STORAGE, {}, pool, rank=rank, target=t,
                           reporter=reporter, facts=_where(pool, rank, [t], what="target"))
             for t in missing]
        for inc in incs:
            skip = handle(inc).skips_pool or skip
    return SKIP if skip else NEXT


def _where(pool: str, rank: int, targets, *, what: str = "rank", state: str = "") -> dict:
    """A map finding's names: a rank entry lists its targets, a target entry its index."""
    index = targets[0] if what == "target" else ",".join(str(t) for t in targets)
    return {"pool": pool, "rank": rank, "what": what, "target": index, "state": state}


# --- phases 4 and 5: CONT_LIST, CONT_CLEANUP --------------------------------------------------

def cont_list(facts: Facts, pool: str) -> dict[str, dict[int, list[int]]]:
    """container uuid -> rank -> the targets whose shard holds it."""
    out: dict[str, dict[int, list[int]]] = {}
    for rank, h in facts.holders(pool).items():
        for target, conts in sorted(h.get("containers", {}).items(), key=lambda kv: int(kv[0])):
            for c in conts:
                out.setdefault(c.lower(), {}).setdefault(rank, []).append(int(target))
    return dict(sorted(out.items()))


def cont_cleanup(facts: Facts, pool: str, handle) -> str:
    state = facts.ps(pool)[1]
    if state is None:
        return SKIP
    conts = {u.lower(): c for u, c in state.get("containers", {}).items()}
    reporter = facts.ps_leader(pool)
    for cu, where in cont_list(facts, pool).items():
        if cu not in conts:
            handle(Inconsistency(Cls.CONT_NONEXIST_ON_PS, {}, pool, cont=cu, reporter=reporter,
                                 facts={"pool": pool, "cont": cu, "ranks": sorted(where)}))
    for cu, c in sorted(conts.items()):
        cs_label = (c or {}).get("label") or ""
        prop_label = ((c or {}).get("props") or {}).get("label") or ""
        if cs_label != prop_label:
            handle(Inconsistency(Cls.CONT_BAD_LABEL, {"cs_label": cs_label,
                                                      "prop_label": prop_label},
                                 pool, cont=cu, cont_label=cs_label or prop_label,
                                 reporter=reporter,
                                 facts={"pool": pool, "cont": cu, "cs_label": cs_label,
                                        "prop_label": prop_label}))
    return NEXT
