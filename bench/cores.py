"""Benchmark of all cores: ``check start -n`` of a several-shard image, -j1 against every core.

    python -m bench.cores [--scale 0.25] [--targets 4] [--runs 3]

The image holds the ``large`` preset's content (four containers of 16-byte
values) dealt over ``targets`` shards, each container on one target, so the
shards are of equal size. Each timing is a fresh ``ddb check start -n``
process (start-up included, as an operator sees it), the median of
``runs``; -j1 and -jN (N: this process's usable cores) are measured in the
same run, alternately. The CPU seconds beside each (the process and its
workers) and the load average show what other processes took: on a shared
machine the speed-up is bounded by the cores they leave.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import tempfile

from ddb.checker.dryrun import STATE_ENV
from ddb.checker.parallel import usable_cores
from fixtures import build, preset
from vosfmt.image import list_shards

from .build_walk import walk
from .common import ddb_cmd, timed


def build_multi_shard_large(root: str, scale: float, targets: int) -> int:
    """Build ``large`` x``scale`` with its containers dealt over ``targets`` shards; returns
    the image's value records."""
    spec = preset("large", scale=scale)
    spec["targets"] = targets
    for i, c in enumerate(spec["containers"]):
        c["target"] = i % targets
    build(spec, root)
    return sum(walk(p) for p in list_shards(root))


def _cpu_of_children() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def check_times(root: str, jobs: list[int], runs: int, state_dir: str) -> dict[int, tuple]:
    """jobs -> (median wall seconds, median CPU seconds of the process and its workers) of
    ``ddb check start -n -j JOBS`` over ``runs`` fresh processes (the job counts taking turns);
    the dry-run report goes to ``state_dir``."""
    env = {**os.environ, STATE_ENV: state_dir}
    walls: dict[int, list[float]] = {j: [] for j in jobs}
    cpus: dict[int, list[float]] = {j: [] for j in jobs}
    for _ in range(runs):
        for j in jobs:
            cpu = _cpu_of_children()
            walls[j].append(timed(ddb_cmd() + ["check", "start", "-n", "-j", str(j), "-D", root],
                                  env=env))
            cpus[j].append(_cpu_of_children() - cpu)
    return {j: (statistics.median(walls[j]), statistics.median(cpus[j])) for j in jobs}


def measure(work: str, scale: float, targets: int, runs: int = 3) -> dict:
    """records, shards, cores, load (the 1-minute load average before), and (wall, CPU)
    seconds by job count (1 and every core) of the image built in ``work``."""
    root = os.path.join(work, "shards")
    records = build_multi_shard_large(root, scale, targets)
    cores = usable_cores()
    load = os.getloadavg()[0]
    times = check_times(root, sorted({1, cores}), runs, os.path.join(work, "state"))
    return {"records": records, "shards": len(list_shards(root)), "cores": cores, "load": load,
            "times": times}


def row(work: str, scale: float, targets: int = 4, runs: int = 3) -> tuple:
    """The bench table's row (operation, size, ours, baseline, ratio, target, peak MiB)."""
    m = measure(work, scale, targets, runs)
    (one, _), (every, _) = m["times"][1], m["times"][m["cores"]]
    return ("check start -n, every core", f"large x{scale:g} over {m['shards']} shards",
            f"-j{m['cores']} {every:.2f} s ({m['records'] / every:,.0f} records/s)",
            f"-j1 {one:.2f} s", one / every,
            f"~{min(m['cores'], m['shards'])}x on idle cores (load {m['load']:.1f})", None)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.cores", description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=0.25, help="fraction of the large preset")
    ap.add_argument("--targets", type=int, default=4, help="shards to deal its containers over")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    work = tempfile.mkdtemp(prefix="ddb-bench-")
    try:
        m = measure(work, args.scale, args.targets, args.runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"check start -n, large x{args.scale} over {m['shards']} shards: {m['records']:,} value "
          f"records, {m['cores']} usable cores, median of {args.runs} fresh processes")
    print(f"  load average before: {m['load']:.2f} (other processes' share of the cores)")
    for j, (wall, cpu) in m["times"].items():
        print(f"  -j{j}: {wall:8.2f} s {m['records'] / wall:12,.0f} records/s   "
              f"{cpu:6.2f} s of CPU ({cpu / wall:.2f} cores busy)")
    (one, _), (every, _) = m["times"][1], m["times"][m["cores"]]
    print(f"  speed-up with every core: {one / every:.2f}x (ideal {min(m['cores'], m['shards'])}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
