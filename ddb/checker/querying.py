"""``check query``: the latest check of an image, as its report store (or a later dry run's) has it."""
from __future__ import annotations

from vosfmt.system import rank_of

from .dryrun import dry_run_busy, dry_run_reader
from .imagelock import leader_alive
from .report import is_pending, with_dmg_fields
from .store import reading


def _report(store, alive: bool, rank: int | None) -> dict:
    inst = store.instance()
    if inst.get("status") == "RUNNING" and not alive and \
            not any(is_pending(f) for f in store.findings()):
        inst["status"] = "PAUSED"           # its leader died mid-run: start resumes it
    return {"status": inst.get("status", "INIT"), "instance": inst, "shards": store.shards(),
            "reports": sorted((with_dmg_fields(d, rank) for d in store.findings()),
                              key=lambda d: (d["class"], d["seq"]))}


def query(db_root: str) -> dict:
    """The latest check of the image: its own store's, or a later dry run's (kept outside it).
    Its reports carry dmg's CheckReport keys too (the rank is the image's, when it is a
    system's ``rank-<R>``)."""
    rank = rank_of(db_root)
    with reading(db_root) as store:
        own = _report(store, leader_alive(db_root), rank) if store is not None else None
    dry = dry_run_reader(db_root)
    if dry is not None:
        with dry:
            dry_report = _report(dry, dry_run_busy(db_root), rank)
        if own is None or dry_report["instance"].get("start_time", 0) > \
                own["instance"].get("start_time", 0):
            return dry_report
    return own or {"status": "INIT", "shards": {}, "reports": []}
