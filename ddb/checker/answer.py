"""``check repair SEQ IDX``: answer a pending finding with one of its choices (DAOS's texts).

A shard's finding is repaired only if a fresh scan still finds it (it is
repaired as found now); SMD's and the blobs' are repaired directly, as the
check itself repairs them.
"""
from __future__ import annotations

from vosfmt import VosError, open_shard

from .dryrun import dry_run_reader
from .errors import CheckError
from .finding import Finding
from .problems import Action
from .repair import is_image_repair, repair_image, repair_shard
from .report import Result, is_pending, resolution
from .scan import ShardScan
from .store import writing


def repair_finding(db_root: str, seq: int, idx: int) -> dict:
    """Apply choice IDX of pending finding SEQ; returns its updated document."""
    with writing(db_root) as store:
        doc = store.finding(seq)
        if doc is None:
            raise CheckError(f"finding {seq:#x} not found" + _dry_run_hint(db_root, seq))
        if doc["action"] == Action.STALE:
            raise CheckError(f"finding {seq:#x} is stale: the current checker instance cannot act on "
                             "it; restart the checker against its shard")
        if not is_pending(doc):
            raise CheckError(f"finding {seq:#x} is already resolved: {resolution(doc)}")
        if not 0 <= idx < len(doc["choices"]):
            raise CheckError(f"invalid action {idx} for seq {seq:#x}")
        act = Action(doc["choices"][idx])
        inst = store.instance()
        f = Finding(doc["code"], doc["ctx"], doc["shard"])
        err = None
        if act != Action.IGNORE:
            try:
                _apply(db_root, f, act)
            except VosError as e:
                err = str(e)
        result = (Result.FAILED if err else Result.IGNORED if act == Action.IGNORE
                  else Result.REPAIRED)
        doc.update(action=int(act), result=result, error=err, choices=[],
                   details=[d for a, d in f.problem.choices if a == act][:1])
        store.put(findings=[doc])
        pending = [d for d in store.findings() if is_pending(d)]
        if not [d for d in pending if d["shard"] == f.shard] and f.shard:
            marks = store.shards()
            bm = marks.get(f.shard, {})
            bm["status"] = "CHECKED"
            store.put(shards={f.shard: bm})
        if not pending and inst.get("status") == "RUNNING":
            inst["status"] = "COMPLETED"
            store.put(instance=inst)
        return doc


def _apply(db_root: str, f: Finding, act: Action) -> None:
    if is_image_repair(f.code):
        repair_image(db_root, f, act)
        return
    current = _still_there(db_root, f)
    if current is not None:
        repair_shard(f.shard, db_root, [(current, act)])


def _still_there(db_root: str, f: Finding):
    """The same inconsistency found by a fresh scan (None if it is gone)."""
    with open_shard(f.shard, db_root=db_root, truncated_ok=True) as shard:
        for g in ShardScan(shard).run():
            if g.identity() == f.identity():
                return g
    return None


def _dry_run_hint(db_root: str, seq: int) -> str:
    store = dry_run_reader(db_root)
    if store is None:
        return ""
    with store:
        if store.finding(seq) is None:
            return ""
    return " (it comes from a dry run, which repairs nothing: run 'ddb check start' without -n)"
