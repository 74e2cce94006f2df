"""What a start does to the checker state before the passes (§1.6, §1.9).

A new instance (number, start time, leader, seq counter), the pools this run
checks with their bookmarks (resumed from their phase, or new), and the old
findings: a reset deletes those of what it resets, an unresolved one is
deleted when its pool is rescanned (it is found again with a new seq) and
made STALE otherwise.
"""
from __future__ import annotations

import time

from vosfmt.ms import ManagementService

from .passes import Facts
from .state import SEQ_COUNTER_MASK, CheckerState, clock_seed, new_pool, seq_key


def new_instance(st: CheckerState, sys_root: str, *, pick_leader: bool) -> None:
    """A new instance number and start time; the leader picked again when asked (or when
    none is recorded): the lowest MS member; the seq counter past the clock and every
    stored finding's."""
    s = st.state
    s["instance"] = s.get("instance", 0) + 1
    s["start_time"] = time.time()
    if pick_leader or s.get("leader") is None:
        membership = ManagementService(sys_root).status().membership
        s["leader"] = min(membership) if membership else None
    stored = max((q & SEQ_COUNTER_MASK for q in st.findings), default=0)
    s["seq_next"] = max(s.get("seq_next") or 0, clock_seed(), stored + 1)
    s["acting"] = {}            # an older instance's MS repair is not completed by this one


def pool_set(st: CheckerState, facts: Facts, pools, reset: bool, rescan: bool, *,
             keep_answers: bool = False) -> list[str]:
    """The pools of this run, bookmarked: the named ones, else those not checked yet
    (resumed from their phase); a rescan of the pool list adds every orphan pool (on the
    engines, not on the MS), and without named pools every pool not bookmarked (all of
    them after a reset)."""
    s = st.state
    if reset:
        for u in (pools or list(s["pools"])):
            s["pools"].pop(u, None)
    names = list(pools) or sorted(u for u, p in s["pools"].items()
                                  if p["status"] != "CPS_CHECKED")
    if rescan:
        ms, engines = set(facts.ms_pools()), facts.engine_pools()
        found = (engines - ms) | (set() if pools else (ms | engines) - set(s["pools"]))
        names += sorted(u for u in found if u not in names)
    for u in names:
        bm = s["pools"].get(u)
        if bm is None or bm["status"] == "CPS_CHECKED":
            s["pools"][u] = new_pool(u, facts.label(u), len(facts.holders(u)))
        else:
            bm.update(status="CPS_UNCHECKED",
                      answers=bm.get("answers", {}) if keep_answers else {})
    return names


def retire_findings(st: CheckerState, names, reset: bool, pools) -> None:
    """DAOS's start: a reset deletes the findings of what it resets (every one, or the
    named pools'); an unresolved (INTERACT or STALE) finding is deleted when its pool is
    rescanned (the MS's are, always), else made STALE, unless the admin's answer to it
    waits (a dead leader's instance going on)."""
    for seq, r in list(st.findings.items()):
        pool = r["pool_uuid"] or None
        rescanned = pool is None or pool in names
        if reset and (not pools or pool in pools):
            st.delete_finding(seq)
        elif r["action"] in ("INTERACT", "STALE"):
            if seq_key(seq) in _answers(st, pool):
                continue                    # answered: met again and acted on under its seq
            if rescanned:
                st.delete_finding(seq)
            else:
                st.put_finding({**r, "action": "STALE", "act_choices": []})


def _answers(st: CheckerState, pool: str | None) -> dict:
    where = st.state if pool is None else st.state["pools"].get(pool) or {}
    return where.get("answers") or {}
