"""Benchmark of the checker: ``check start -n`` over the ``large`` preset.

    python -m bench.check [--scale 0.1]

Reports value records/s and MB/s of value checksums verified, beside a raw
sequential read of the same files, and the checker process's peak memory.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

from fixtures import build
from vosfmt.image import list_shards

from .build_walk import raw_read


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.check", description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=0.1)
    args = ap.parse_args(argv)
    work = tempfile.mkdtemp(prefix="ddb-bench-")
    try:
        root = os.path.join(work, "large")
        build("large", root, scale=args.scale)
        shards = list_shards(root)
        size = sum(os.path.getsize(s) for s in shards)
        t_raw = min(sum(raw_read(s) for s in shards) for _ in range(3))
        code = ("import sys, time, json\nfrom ddb.checker import Checker, Options\n"
                "from ddb.checker.scan import ShardScan\nfrom vosfmt import open_shard\n"
                "from vosfmt.image import list_shards\n"
                "t = time.perf_counter()\nrc = Checker(sys.argv[1], (), Options(dry_run=True)).start()\n"
                "t = time.perf_counter() - t\n"
                "recs = vb = 0\n"
                "for p in list_shards(sys.argv[1]):\n"
                "    with open_shard(p, db_root=sys.argv[1]) as sh:\n"
                "        s = ShardScan(sh); s.run(); recs += s.facts.records; vb += s.facts.value_bytes\n"
                "hwm = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
                "print(json.dumps([rc, t, recs, vb, int(hwm)]))\n")
        p = subprocess.run([sys.executable, "-c", code, root], capture_output=True, text=True, check=True)
        import json
        rc, t, recs, vb, hwm = json.loads(p.stdout.splitlines()[-1])
        print(f"check start -n, large x{args.scale}: {recs:,} value records, {size / 2**20:.1f} MiB shard(s), exit {rc}")
        print(f"  {recs / t:12,.0f} records/s   (aim >= 500,000)")
        print(f"  {vb / t / 1e6:12,.1f} MB/s of value checksums verified (aim >= 1,000)")
        print(f"  {t / t_raw:12,.1f}x the time of a raw sequential read ({size / t_raw / 2**20:,.0f} MiB/s)")
        print(f"  {hwm / 1024:12,.1f} MiB peak memory (aim <= 200)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
