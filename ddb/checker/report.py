"""What the report store keeps of a finding: its outcome, and the document the user reads.

A finding's ``result`` uses DAOS's numbers (0 repaired, -5 failed, as
DER_IO) plus two of ours; a finding still waiting for an answer has none
(its action is INTERACT, its choices listed).
"""
from __future__ import annotations

import enum
import time

from .finding import Finding, FindingSet
from .problems import Action


class Result(enum.IntEnum):
    REPAIRED = 0
    DRY_RUN = 1
    IGNORED = 2
    FAILED = -5


#: the report's counters: every finding is counted in "total" and in one of the others
COUNTERS = ("total", "repaired", "ignored", "failed", "pending", "dry_run")
_COUNTER_OF = {Result.REPAIRED: "repaired", Result.DRY_RUN: "dry_run", Result.IGNORED: "ignored",
               Result.FAILED: "failed"}


def new_counts() -> dict:
    return dict.fromkeys(COUNTERS, 0)


def outcome(act: Action, err, dry_run: bool) -> tuple:
    """(result, counter) of a finding decided ``act`` (``err``: why its repair failed)."""
    if act == Action.INTERACT:
        return None, "pending"
    if err is not None:
        result = Result.FAILED
    elif act == Action.IGNORE:
        result = Result.IGNORED
    else:
        result = Result.DRY_RUN if dry_run else Result.REPAIRED
    return result, _COUNTER_OF[result]


def tally(docs) -> dict:
    """The counters of finding documents (a stale one counts in the total only)."""
    counts = new_counts()
    for d in docs:
        counts["total"] += 1
        key = "pending" if is_pending(d) else _COUNTER_OF.get(d["result"])
        if key is not None:
            counts[key] += 1
    return counts


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


def resolution(doc: dict) -> str:
    act = Action(doc["action"]).name
    if doc.get("result") == Result.DRY_RUN:
        return f"{act} (dry run)"
    if doc.get("result") == Result.FAILED:
        return f"{act} (failed: {doc.get('error')})"
    return act


def is_pending(doc: dict) -> bool:
    return doc["action"] == Action.INTERACT


def verified(findings, decisions, rescan) -> tuple:
    """Mark failed the repairs a new scan (``rescan``) still finds undone: a repair that did
    not happen is never counted as repaired."""
    again = FindingSet(rescan)
    for f in findings:
        act, err = decisions[id(f)]
        if err is None and act not in (Action.IGNORE, Action.INTERACT) and f in again:
            decisions[id(f)] = (act, "the repair did not take effect: a new scan still finds it")
    return findings, decisions
