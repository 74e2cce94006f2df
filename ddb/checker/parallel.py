"""The first scan of several shards, one process per core.

Scans only read; repairs and the report store stay in the leader process.
Each worker returns its shard's findings, or why it could not scan it; a
stop request ends every worker's scan and is raised in the leader.
"""
from __future__ import annotations

import os

from vosfmt import VosError, open_shard

from .scan import ShardScan, unreadable_finding
from .stopping import CheckStopped, StopWatch

FOUND, FAILED, STOPPED = "found", "failed", "stopped"


def _scan_one(args):
    """One shard's first round in a worker: (path, (kind, findings or error text))."""
    db_root, path, stop_base = args
    try:
        shard = open_shard(path, db_root=db_root, truncated_ok=True)
    except VosError as e:
        unopenable = unreadable_finding(db_root, path, e)
        return path, ((FOUND, [unopenable]) if unopenable is not None else (FAILED, str(e)))
    try:
        with shard:
            tick = StopWatch(db_root, stop_base).ticker()
            return path, (FOUND, ShardScan(shard, tick=tick).run())
    except VosError as e:
        return path, (FAILED, str(e))
    except CheckStopped:
        return path, (STOPPED, None)


def scan_in_parallel(db_root: str, paths: list[str], stop_base=None) -> dict:
    """path -> (FOUND, findings) or (FAILED, error text) of each shard; {} when there are
    not two cores or no fork (the leader then scans them one by one)."""
    import multiprocessing as mp
    workers = min(len(paths), os.cpu_count() or 1)
    if workers < 2:
        return {}
    try:
        with mp.get_context("fork").Pool(workers) as pool:
            out = dict(pool.map(_scan_one, [(db_root, p, stop_base) for p in paths]))
    except (OSError, ValueError):
        return {}
    if any(kind == STOPPED for kind, _ in out.values()):
        raise CheckStopped()
    return out
