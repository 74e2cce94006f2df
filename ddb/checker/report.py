"""What the report store keeps of a finding: its outcome, and the document the user reads.

A finding's ``result`` uses DAOS's numbers (0 repaired, -5 failed, as
DER_IO) plus two of ours; a finding still waiting for an answer has none
(its action is INTERACT, its choices listed).
"""
from __future__ import annotations

import enum
import os
import re
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


_TARGET = re.compile(r"vos-(\d+)$")


def with_dmg_fields(doc: dict, rank: int | None) -> dict:
    """A stored finding with dmg's CheckReport keys beside its own (``class`` and ``action``
    keep their numbers; ``act_choices`` are the action names). The owner comes from the
    context's VOS path: container uuid, oid, then dkey and akey as hex; a field the
    finding does not name is empty (or None for a rank or target)."""
    owner = doc["ctx"].get("path") if isinstance(doc["ctx"].get("path"), list) else []
    shard = doc["shard"] or ""
    target = _TARGET.search(os.path.basename(shard))
    owner = [*owner, "", "", "", ""]
    return {**doc, "rank": rank, "target": int(target.group(1)) if target else doc["ctx"].get("target"),
            "pool_uuid": os.path.basename(os.path.dirname(shard)) if shard else doc["ctx"].get("pool", ""),
            "pool_label": "", "cont_uuid": owner[0] or doc["ctx"].get("cont", ""), "cont_label": "",
            "objid": owner[1], "dkey": owner[2], "akey": owner[3],
            "act_choices": [Action(a).name for a in doc["choices"]],
            "act_details": list(doc["details"]), "act_msgs": list(doc["details"])}


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
