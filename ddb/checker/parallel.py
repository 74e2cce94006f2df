"""The first scan of several shards, one process per core (or per ``check start -j``).

Only the first round runs here: it reads every shard and is nearly all of a
check's time (all of a dry run's). What stays in the leader, in order:
deciding, repairing and recording (the report store and its sequence
numbers have one writer, and an answer for "all of this class" carries on
to the next shard), the rescans that verify a shard's repairs (only of
shards with findings; each follows its own repair and decides the next
round), and P6 (SMD and one blob header per shard: milliseconds). Each
worker returns its shard's findings, or why it could not scan it; a stop
request ends every worker's scan and is raised in the leader.
"""
from __future__ import annotations

import os

from vosfmt import VosError, open_shard

from .scan import ShardScan, unreadable_finding
from .stopping import CheckStopped, StopWatch

FOUND, FAILED, STOPPED = "found", "failed", "stopped"
PR_SET_PDEATHSIG = 1            # prctl(2)


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:          # no affinity call on this platform
        return os.cpu_count() or 1


def worker_count(jobs: int | None, shards: int) -> int:
    """Processes scanning ``shards`` shards: ``jobs`` (None: one per usable core), never more
    than there are shards; under 2 the leader scans them itself."""
    return min(shards, jobs or usable_cores())


def _die_with_leader(leader: int) -> None:
    """Pool initializer: a worker ends with its leader (Linux: SIGKILL when the leader dies; it
    only reads), so a killed leader's workers neither go on scanning nor keep the image lock
    that they inherited open."""
    try:
        import ctypes
        import signal
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):           # not Linux: they end after their shard
        return
    if os.getppid() != leader:                  # the leader died before the request
        os._exit(1)


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


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def scan_in_parallel(db_root: str, paths: list[str], stop_base=None, jobs: int | None = None) -> dict:
    """path -> (FOUND, findings) or (FAILED, error text) of each shard; {} when fewer than two
    workers would run or there is no fork (the leader then scans them one by one).

    The biggest shards are handed out first, so a big one is not left alone at the end
    while the other workers idle.
    """
    import multiprocessing as mp
    workers = worker_count(jobs, len(paths))
    if workers < 2:
        return {}
    order = sorted(paths, key=_size, reverse=True)
    try:
        with mp.get_context("fork").Pool(workers, _die_with_leader, (os.getpid(),)) as pool:
            out = dict(pool.imap_unordered(_scan_one, [(db_root, p, stop_base) for p in order]))
    except (OSError, ValueError):
        return {}
    if any(kind == STOPPED for kind, _ in out.values()):
        raise CheckStopped()
    return out
