"""Benchmark of write mode: small commits into a big shard, and a big value_load.

    python -m bench.write [--scale 0.1] [--value-mib 1024]

- ``value_load`` of a 16-byte value into the ``large`` preset: pages written and
  milliseconds per commit, at two shard sizes (the page count should grow
  like the tree depth, O(log n), not with the shard);
- ``value_load`` of a big file into the NVMe blob vs ``cp`` of the same file
  (aim >= 0.5x its throughput).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

from ddb.cli import run
from fixtures import build
from vosfmt.image import list_shards

from .common import big_value_setup, ddb_cmd


class _Count:
    def __init__(self):
        self.writes = 0
        self.bytes = 0

    def on_write(self, f, off, data):
        self.writes += 1
        self.bytes += len(data)

    def on_sync(self, f):
        pass


def small_commits(root: str, n: int = 20) -> tuple[float, float]:
    """(pages written per commit, ms per commit)."""
    shard = list_shards(root)[0]
    src = os.path.join(root, "src16")
    with open(src, "wb") as f:
        f.write(os.urandom(16))
    from vosfmt import open_shard
    targets = []
    with open_shard(shard) as sh:
        for i in range(n):
            ci = i % sh.container_count()
            c = sh.container_at(ci)
            oi = i * 7 % c.object_count()
            o = c.object_at(oi)
            di = i % o.dkey_count()
            ai = i % o.dkey_at(di).akey_count()
            targets.append(f"/[{ci}]/[{oi}]/[{di}]/[{ai}]")
    c = _Count()
    devnull = open(os.devnull, "w")
    old, sys.stdout = sys.stdout, devnull
    try:
        t = time.perf_counter()
        for target in targets:
            run(["-w", shard, "value_load", src, target], hooks=c)
        ms = (time.perf_counter() - t) * 1000 / n
    finally:
        sys.stdout = old
    return c.bytes / 4096 / n, ms


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.write", description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--value-mib", type=int, default=1024)
    args = ap.parse_args(argv)
    work = tempfile.mkdtemp(prefix="ddb-bench-")
    try:
        rows = []
        for scale in (args.scale / 10, args.scale):
            root = os.path.join(work, f"large-{scale}")
            build("large", root, scale=scale)
            pages, ms = small_commits(root)
            records = int(1_000_000 * scale)
            rows.append((f"value_load 16 B into large x{scale} (~{records:,} records)",
                         f"{pages:.1f} pages/commit", f"{ms:.1f} ms/commit"))
            shutil.rmtree(root)
        shard, src = big_value_setup(work, args.value_mib)
        cmd = ddb_cmd()
        t = time.perf_counter()
        subprocess.run(cmd + ["-w", shard, "value_load", src, "/[0]/1.1.0.0/d/a"], check=True,
                       stdout=subprocess.DEVNULL)
        t_load = time.perf_counter() - t
        dst = os.path.join(work, "copy.bin")
        t = time.perf_counter()
        subprocess.run(["cp", src, dst], check=True)
        subprocess.run(["sync", "-f", dst], check=False)
        t_cp = time.perf_counter() - t
        rows.append((f"value_load {args.value_mib} MiB (NVMe)", f"{args.value_mib / t_load:,.0f} MiB/s",
                     f"cp+sync {args.value_mib / t_cp:,.0f} MiB/s -> {t_cp / t_load:.2f}x (aim >= 0.5x)"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for row in rows:
        print(f"{row[0]:52} {row[1]:>18}   {row[2]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
