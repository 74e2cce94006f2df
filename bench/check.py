"""Benchmark of the checker: ``check start -n`` over many small records and over big values.

    python -m bench.check [--scale 0.1] [--value-mib 256]

Two images, because the two aims are about different costs: the ``large``
preset (many 16-byte values: the per-record rate) and one big NVMe value
(the checksum rate, in MB/s of value bytes verified). Each is reported
beside a raw sequential read of the same files, with the checker process's
peak memory.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

from fixtures import build
from vosfmt.paths import db_root_of

from .build_walk import raw_read
from .common import big_value_setup, load_big_value

_CHILD = """\
import json, sys, time
from ddb.checker import Checker, Options
from ddb.checker.scan import ShardScan
from vosfmt import open_shard
from vosfmt.image import list_shards
t = time.perf_counter()
rc = Checker(sys.argv[1], (), Options(dry_run=True)).start()
t = time.perf_counter() - t
hwm = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0]
recs = vb = 0
for p in list_shards(sys.argv[1]) if sys.argv[2] == "count" else ():
    with open_shard(p, db_root=sys.argv[1]) as sh:
        s = ShardScan(sh); s.run(); recs += s.facts.records; vb += s.facts.value_bytes
print(json.dumps(dict(rc=rc, seconds=t, records=recs, value_bytes=vb, peak_mib=int(hwm) / 1024)))
"""


def measure(root: str, runs: int = 3) -> dict:
    """``check start -n`` of the image at ``root``, each run in a fresh process.

    Returns the median run's rc, seconds and peak_mib (the check's, before
    anything else runs in its process), the image's records and value_bytes
    (checksummed; the first run counts them, after its check), with
    raw_seconds: the best of three sequential reads of the image's shards and
    blobs.
    """
    results = []
    for i in range(runs):
        p = subprocess.run([sys.executable, "-c", _CHILD, root, "count" if i == 0 else ""],
                           capture_output=True, text=True, check=True)
        results.append(json.loads(p.stdout.splitlines()[-1]))
    out = dict(sorted(results, key=lambda r: r["seconds"])[len(results) // 2],
               records=results[0]["records"], value_bytes=results[0]["value_bytes"])
    files = [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs
             if f.startswith(("vos-", "blob-"))]
    out["bytes"] = sum(os.path.getsize(f) for f in files)
    out["raw_seconds"] = min(sum(raw_read(f) for f in files) for _ in range(3))
    return out


def big_value_image(work: str, mib: int) -> str:
    """An image (its root) holding one ``mib`` MiB single value in NVMe, checksummed."""
    shard, src = big_value_setup(work, mib)
    load_big_value(shard, src, mib)
    os.unlink(src)
    return db_root_of(shard)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.check", description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--value-mib", type=int, default=256)
    args = ap.parse_args(argv)
    work = tempfile.mkdtemp(prefix="ddb-bench-")
    try:
        root = os.path.join(work, "large")
        build("large", root, scale=args.scale)
        m = measure(root)
        print(f"check start -n, large x{args.scale}: {m['records']:,} value records, "
              f"{m['bytes'] / 2**20:.1f} MiB of files, exit {m['rc']}")
        print(f"  {m['records'] / m['seconds']:12,.0f} records/s   (aim >= 500,000)")
        print(f"  {m['seconds'] / m['raw_seconds']:12,.1f}x the time of a raw sequential read "
              f"({m['bytes'] / m['raw_seconds'] / 2**20:,.0f} MiB/s)")
        print(f"  {m['peak_mib']:12,.1f} MiB peak memory (aim <= 100)")
        m = measure(big_value_image(work, args.value_mib))
        print(f"check start -n, one {args.value_mib} MiB value in NVMe, exit {m['rc']}")
        print(f"  {m['value_bytes'] / m['seconds'] / 1e6:12,.0f} MB/s of value checksums verified "
              f"(aim >= 1,000)")
        print(f"  {m['seconds'] / m['raw_seconds']:12,.1f}x the time of a raw sequential read "
              f"({m['bytes'] / m['raw_seconds'] / 2**20:,.0f} MiB/s)")
        print(f"  {m['peak_mib']:12,.1f} MiB peak memory (aim <= 200)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
