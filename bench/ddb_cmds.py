"""Benchmarks of the ddb command line, each against a baseline measured in the same run.

    python -m bench.ddb_cmds [--akeys 100000] [--large-scale 0.1] [--value-mib 1024]

- start-up: one-shot ``ddb IMAGE ls`` vs ``python -c "import click, construct"`` (aim <= 1.3x)
- ``ls`` of a dkey with many akeys, lines/s (aim >= 200,000)
- ``ls -r`` of the large preset, lines/s and peak memory (aim >= 500,000, <= 100 MiB)
- ``value_dump`` of a big NVMe value to a file vs ``cp`` of a file of the same size (aim >= 0.5x)
- command-file line splitting: a 640k-character line vs one ten times shorter (aim <= 15x:
  linear; shlex, quadratic in a word's length, took a minute for the long one)
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from ddb.linesplit import split_line
from fixtures import build
from vosfmt.image import list_shards

from .common import big_value_setup, ddb_cmd, load_big_value, print_table

PY = sys.executable


def _walls(cmd_a, cmd_b, n=7) -> tuple[float, float]:
    """Median wall seconds of two commands, run alternately so both see the same noise."""
    times = ([], [])
    for _ in range(n):
        for cmd, out in zip((cmd_a, cmd_b), times):
            t = time.perf_counter()
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            out.append(time.perf_counter() - t)
    return statistics.median(times[0]), statistics.median(times[1])


def _lines_per_s(shard: str, args: list[str], runs: int = 3) -> tuple[float, int, float]:
    """Run ddb in child processes; return (median lines/s, lines, peak RSS MiB)."""
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent.
    code = ("import sys, time\nfrom ddb.cli import main\n"
            "t = time.perf_counter()\nrc = main(sys.argv[1:])\nt = time.perf_counter() - t\n"
            "sys.stdout.flush()\n"
            "hwm = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
            "print(t, hwm, file=sys.stderr)\n")
    rates, peak = [], 0.0
    for _ in range(runs):
        with tempfile.TemporaryFile() as out:
            p = subprocess.run([PY, "-c", code, shard, *args], stdout=out, stderr=subprocess.PIPE,
                               text=False, check=True)
            out.seek(0)
            lines = sum(1 for _ in out)
        t, rss = p.stderr.decode().split()[-2:]
        rates.append(lines / float(t))
        peak = max(peak, int(rss) / 1024)
    return statistics.median(rates), lines, peak


def _split_seconds(chars: int, runs: int = 3) -> float:
    """Best-of-``runs`` seconds to split a command line of about ``chars`` characters."""
    line = 'ls -r "/[1]/[0]/' + 'a\\"' * (chars // 3) + '" tail \'' + "b" * (chars // 3) + "'"
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        split_line(line)
        best = min(best, time.perf_counter() - t)
    return best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.ddb_cmds", description=__doc__.splitlines()[0])
    ap.add_argument("--akeys", type=int, default=100_000)
    ap.add_argument("--large-scale", type=float, default=0.1)
    ap.add_argument("--value-mib", type=int, default=1024)
    args = ap.parse_args(argv)
    work = tempfile.mkdtemp(prefix="ddb-bench-")
    rows = []
    long_split, short_split = _split_seconds(640_000), _split_seconds(64_000)
    rows.append(("split a 640k-char line (s)", long_split, short_split, long_split / short_split,
                 "<= 15x of a 64k line"))
    try:
        unit = os.path.join(work, "unit")
        build("unit", unit)
        shard = list_shards(unit)[0]
        ours, base = _walls(ddb_cmd() + [shard, "ls"], [PY, "-c", "import click, construct"])
        rows.append(("one-shot ddb ls (s)", ours, base, ours / base, "<= 1.3x"))

        wide = os.path.join(work, "wide")
        build({"containers": [{"objects": [{"oid": "1.1.0.0", "dkeys": [{"key": "d", "akeys": [
            {"key": f"akey-{i:07d}", "sv": [{"epoch": 1, "hex": "00"}]} for i in range(args.akeys)]}]}]}]},
            wide)
        rate, n, rss = _lines_per_s(list_shards(wide)[0], ["ls", "/[0]/[0]/[0]"])
        rows.append((f"ls of {args.akeys:,} akeys (lines/s)", rate, None, None, ">= 200,000"))

        large = os.path.join(work, "large")
        build("large", large, scale=args.large_scale)
        rate, n, rss = _lines_per_s(list_shards(large)[0], ["ls", "-r"])
        rows.append((f"ls -r large x{args.large_scale} ({n:,} lines/s)", rate, None, None, ">= 500,000"))
        rows.append(("  peak memory (MiB)", rss, None, None, "<= 100"))

        path, src = big_value_setup(work, args.value_mib)
        load_big_value(path, src, args.value_mib)
        dst = os.path.join(work, "dst.bin")

        def timed(cmd):
            # best of two: both sides then read from the page cache
            best = None
            for _ in range(2):
                if os.path.exists(dst):
                    os.unlink(dst)
                t = time.perf_counter()
                subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
                best = min(best or 1e9, time.perf_counter() - t)
            return best

        t_dump = timed(ddb_cmd() + [path, "value_dump", "/[0]/[0]/[0]/[0]", dst])
        t_cp = timed(["cp", src, dst])
        rows.append((f"value_dump {args.value_mib} MiB (MiB/s)", args.value_mib / t_dump,
                     args.value_mib / t_cp, t_cp / t_dump, ">= 0.5x of cp"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_table([(name, "", f"{ours:,.3f}", "" if base is None else f"{base:,.3f}", ratio, aim, None)
                 for name, ours, base, ratio, aim in rows])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
