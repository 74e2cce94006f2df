"""Benchmark: build the ``large`` preset, then walk it read-only.

Reports records/s for the build and for a full walk (every container,
object, dkey, akey and value record, decoded), each beside a raw
sequential read of the same shard file measured in the same run, so the
ratios hold on any machine. Peak memory (ru_maxrss) is reported too.

    python -m bench.build_walk [--scale 1.0] [--keep DIR]
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time

from fixtures import build
from vosfmt import open_shard
from vosfmt.image import list_shards


def raw_read(path: str, chunk: int = 1 << 20) -> float:
    """Seconds to read the file sequentially (the baseline)."""
    t = time.perf_counter()
    with open(path, "rb", buffering=0) as f:
        while f.read(chunk):
            pass
    return time.perf_counter() - t


def walk(path: str) -> int:
    n = 0
    with open_shard(path) as sh:
        for c in sh.containers():
            for o in c.objects():
                for d in o.dkeys():
                    for a in d.akeys():
                        if a.value_kind == "array":
                            for _ in a.extents():
                                n += 1
                        else:
                            for _ in a.single_values():
                                n += 1
    return n


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.build_walk", description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of the large preset")
    ap.add_argument("--keep", metavar="DIR", help="build into DIR and keep it")
    args = ap.parse_args(argv)
    root = args.keep or tempfile.mkdtemp(prefix="ddb-bench-")
    try:
        t = time.perf_counter()
        build("large", root, scale=args.scale)
        t_build = time.perf_counter() - t
        (path,) = list_shards(root)
        size = os.path.getsize(path)
        t_raw = min(raw_read(path) for _ in range(3))
        t = time.perf_counter()
        n = walk(path)
        t_walk = time.perf_counter() - t
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rows = [("build", n / t_build, t_build / t_raw), ("walk", n / t_walk, t_walk / t_raw)]
        print(f"large preset x{args.scale}: {n:,} value records, shard {size / 2**20:.1f} MiB, "
              f"raw read {size / t_raw / 2**20:,.0f} MiB/s ({t_raw * 1000:.1f} ms)")
        print(f"{'operation':10} {'records/s':>12} {'time / raw read':>16}")
        for name, rate, ratio in rows:
            print(f"{name:10} {rate:12,.0f} {ratio:15.1f}x")
        print(f"peak memory {rss:,.0f} MiB")
        print(f"target: walk >= 500,000 records/s -> {'met' if n / t_walk >= 500_000 else 'NOT met'}")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
