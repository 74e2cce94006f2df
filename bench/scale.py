"""Benchmark of scale: the walk and the check of ``large`` at several sizes, cost per record.

    python -m bench.scale [--scales 0.1,1,10] [--runs 3]

For each scale the ``large`` preset is built (``fixtures.build``, timed in a
fresh process), then the full read-only walk (``bench.build_walk.walk``) and ``check start -n``
(``bench.check.measure``) run in fresh processes, each with its rate and
peak memory (VmHWM). Between consecutive scales it reports how the cost per
record changes (the aim: x10 records take <= 10.5x the time) and whether
peak memory stays the same (the aim: <= 100 MiB at every size). One image
exists at a time, under one work directory that is removed at the end
(x10 is about 1.6 GiB).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

from vosfmt.image import list_shards

from .check import measure as measure_check
from .common import HEADERS, print_table

PER_RECORD_AIM = 1.05           # x10 records -> <= 10.5x the time
PEAK_AIM_MIB = 100

_WALK_CHILD = """\
import json, statistics, sys, time
from bench.build_walk import walk
ts = []
for _ in range(int(sys.argv[2])):
    t = time.perf_counter()
    n = walk(sys.argv[1])
    ts.append(time.perf_counter() - t)
hwm = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0]
print(json.dumps(dict(records=n, seconds=statistics.median(ts), peak_mib=int(hwm) / 1024)))
"""


def measure_walk(shard: str, runs: int = 3) -> dict:
    """The full read-only walk of ``shard`` in a fresh process: records, the median of ``runs``
    walks' seconds, and the process's peak_mib."""
    p = subprocess.run([sys.executable, "-c", _WALK_CHILD, shard, str(runs)], capture_output=True,
                       text=True, check=True)
    return json.loads(p.stdout.splitlines()[-1])


_BUILD_CHILD = """\
import json, sys, time
from fixtures import build
t = time.perf_counter()
build("large", sys.argv[1], scale=float(sys.argv[2]))
t = time.perf_counter() - t
hwm = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0]
print(json.dumps(dict(seconds=t, peak_mib=int(hwm) / 1024)))
"""


def measure_build(root: str, scale: float) -> dict:
    """Build ``large`` x``scale`` at ``root`` in a fresh process: seconds and peak_mib."""
    p = subprocess.run([sys.executable, "-c", _BUILD_CHILD, root, repr(scale)],
                       capture_output=True, text=True, check=True)
    return json.loads(p.stdout.splitlines()[-1])


def measure_scale(work: str, scale: float, runs: int) -> dict:
    """Build ``large`` x``scale`` in ``work``, measure its walk and check, remove it."""
    root = os.path.join(work, f"large-x{scale:g}")
    try:
        built = measure_build(root, scale)
        (shard,) = list_shards(root)
        walk = measure_walk(shard, runs)
        built["records"] = walk["records"]
        return {"scale": scale, "build": built, "walk": walk, "check": measure_check(root, runs)}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def per_record(small: dict, big: dict, what: str) -> float:
    """How the cost per record of ``what`` (walk, check) changes from ``small`` to ``big``:
    (time ratio) / (records ratio); 1.0 is perfectly linear."""
    a, b = small[what], big[what]
    return (b["seconds"] / a["seconds"]) / (b["records"] / a["records"])


def rows(scales: list[float], work: str, runs: int = 3) -> list[tuple]:
    """The bench table's rows (operation, size, ours, baseline, ratio, target, peak MiB): a walk
    and a check row per scale, then a cost-per-record and a memory row per step of scale."""
    measured = [measure_scale(work, s, runs) for s in scales]
    out = []
    for m in measured:
        for name, what, aim in (("build at scale", "build", ">= 200,000 records/s"),
                                ("full walk at scale", "walk", ">= 500,000 records/s"),
                                ("check -n at scale", "check", ">= 500,000 records/s")):
            r = m[what]
            out.append((name, f"large x{m['scale']:g}, {r['records']:,} records",
                        f"{r['records'] / r['seconds']:,.0f} records/s", f"{r['seconds']:.2f} s",
                        None, f"{aim}, <= {PEAK_AIM_MIB} MiB", r["peak_mib"]))
    for a, b in zip(measured, measured[1:]):
        times = b["check"]["records"] / a["check"]["records"]
        built, walk, check = (per_record(a, b, w) for w in ("build", "walk", "check"))
        out.append(("cost per record vs scale", f"large x{a['scale']:g} -> x{b['scale']:g}",
                    f"build {built:.2f}x, walk {walk:.2f}x, check {check:.2f}x",
                    f"x{times:.1f} records", max(built, walk, check), f"<= {PER_RECORD_AIM}x", None))
        peaks = [f"{m[w]['peak_mib']:.0f}" for w in ("build", "walk", "check") for m in (a, b)]
        out.append(("peak memory vs scale", f"large x{a['scale']:g} -> x{b['scale']:g}",
                    f"build {peaks[0]} -> {peaks[1]}, walk {peaks[2]} -> {peaks[3]}, "
                    f"check {peaks[4]} -> {peaks[5]} MiB", "",
                    None, f"independent of size, <= {PEAK_AIM_MIB} MiB", None))
    return out


def parse_scales(text: str) -> list[float]:
    """``0.1,1,10`` -> [0.1, 1.0, 10.0] (an empty text: none)."""
    try:
        scales = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if any(s <= 0 for s in scales):
        raise argparse.ArgumentTypeError("every scale must be above 0")
    return scales


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.splitlines()[0])
    ap.add_argument("--scales", type=parse_scales, default=[0.1, 1.0, 10.0],
                    help="fractions of the large preset, comma-separated (default 0.1,1,10)")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per measure (the median)")
    args = ap.parse_args(argv)
    work = tempfile.mkdtemp(prefix="ddb-bench-scale-")
    try:
        table = rows(args.scales, work, args.runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_table(table, HEADERS[:3] + ("time",) + HEADERS[4:])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
