"""Benchmark: build a many-rank system image, ``ddb system_dump`` it, check it whole.

    python -m bench.system [--ranks 16] [--targets 8] [--pools 4] [--objects 20]

Each figure sits beside a baseline measured in the same run on the same
files: the build beside ``cp -a`` of the image it wrote (the bytes a build
must at least put down), ``system_dump`` beside a raw sequential read of
every file it has to read (each MS replica's ``data.mdb`` and every
``rdb-pool``) in a fresh process, so start-up is on both sides, and the
system check (``ddb check start -n -D SYS``: passes 0-5, then the local check
of every rank in parallel processes) beside the sum of the per-rank local
checks (``ddb check start -n -D SYS/rank-R``, one after another). Peak memory
is VmHWM of the child process (the system check's workers are not counted).
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from .common import print_table

PY = sys.executable
_HWM = ("hwm = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
        "print(int(hwm) / 1024, file=sys.stderr)\n")


def system_spec(ranks: int, targets: int, pools: int, objects: int) -> dict:
    """``pools`` pools over every rank (PS on 3 of them, spread), ``targets`` shards per rank,
    two labelled containers each with ``objects`` small objects spread over the shards."""
    def objs(p: int, c: int) -> list:
        return [{"oid": f"{p + 1}.{c * objects + i + 1}.0.0", "dkeys": [
            {"key": f"d{d}", "akeys": [{"key": "a", "sv": [{"epoch": 1, "hex": "00" * 32}]}]}
            for d in range(4)]} for i in range(objects)]

    return {"ranks": ranks, "ms_replicas": [0, 1, 2], "pools": [
        {"label": f"pool-{p}", "svc_ranks": sorted({(p + k * ranks // 3) % ranks for k in range(3)}),
         "targets": targets,
         "containers": [{"label": f"p{p}-c{c}", "objects": objs(p, c)} for c in range(2)]}
        for p in range(pools)]}


def _child(code: str, *args: str) -> tuple[float, float]:
    """(wall seconds, peak MiB) of ``code`` in a fresh Python process."""
    t = time.perf_counter()
    p = subprocess.run([PY, "-c", "import sys\n" + code + _HWM, *args],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=True)
    return time.perf_counter() - t, float(p.stderr.split()[-1])


def _dump(root: str, json_out: bool) -> tuple[float, float]:
    argv = (["--json"] if json_out else []) + ["system_dump", "-D", root]
    code = ("from ddb.cli import main\n"
            "import io, contextlib\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    rc = main({argv!r})\n"
            "assert rc == 0, rc\n")
    return _child(code)


def _check(root: str) -> tuple[float, float]:
    """``ddb check start -n -D root`` in a fresh process: (seconds, peak MiB)."""
    code = ("from ddb.cli import main\n"
            "import io, contextlib\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    rc = main(['check', 'start', '-n', '-D', sys.argv[1]])\n"
            "assert rc in (0, 4), rc\n")
    return _child(code, root)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.system", description=__doc__.splitlines()[0])
    ap.add_argument("--ranks", type=int, default=16)
    ap.add_argument("--targets", type=int, default=8)
    ap.add_argument("--pools", type=int, default=4)
    ap.add_argument("--objects", type=int, default=20, help="objects per container")
    args = ap.parse_args(argv)
    work = tempfile.mkdtemp(prefix="ddb-bench-")
    os.environ["DDB_STATE_DIR"] = os.path.join(work, "state")     # dry runs' reports
    rows = []
    try:
        root = os.path.join(work, "system")
        spec = os.path.join(work, "spec.json")
        with open(spec, "w") as f:
            json.dump(system_spec(args.ranks, args.targets, args.pools, args.objects), f)
        t_build, m_build = _child("from fixtures.__main__ import main\n"
                                  "import io, contextlib\n"
                                  "with contextlib.redirect_stdout(io.StringIO()):\n"
                                  "    main(['build', sys.argv[1], '--spec', sys.argv[2]])\n",
                                  root, spec)
        t = time.perf_counter()
        subprocess.run(["cp", "-a", root, root + ".copy"], check=True)
        t_cp = time.perf_counter() - t
        shutil.rmtree(root + ".copy")
        shards = len(glob.glob(os.path.join(root, "rank-*", "*", "vos-*")))
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(root) for f in fs)
        what = f"{args.ranks} ranks x {args.targets} targets, {args.pools} pools ({shards} shards)"
        rows.append((f"build {what}", t_build, t_cp, t_build / t_cp, "s", "cp -a of the result"))
        rows.append(("  build peak memory", m_build, None, None, "MiB", f"image {size >> 20} MiB"))

        files = sorted(glob.glob(os.path.join(root, "ms", "*", "data.mdb"))
                       + glob.glob(os.path.join(root, "rank-*", "*", "rdb-pool")))
        t_raw, m_raw = _child("for p in sys.argv[1:]:\n"
                              "    with open(p, 'rb', buffering=0) as f:\n"
                              "        while f.read(1 << 20):\n"
                              "            pass\n", *files)
        for json_out in (False, True):
            t_dump, m_dump = _dump(root, json_out)
            name = "system_dump --json" if json_out else "system_dump"
            rows.append((name, t_dump, t_raw, t_dump / t_raw, "s",
                         f"raw read of its {len(files)} files"))
            rows.append((f"  {name} peak memory", m_dump, m_raw, m_dump / m_raw, "MiB",
                         "the raw read's"))

        _child("from ddb.cli import main\nmain(['check', 'enable', '-D', sys.argv[1]])\n", root)
        t_sys, m_sys = _check(root)
        local = [_check(os.path.join(root, f"rank-{r}")) for r in range(args.ranks)]
        t_local, m_local = sum(t for t, _ in local), max(m for _, m in local)
        rows.append(("check start -n, the whole system", t_sys, t_local, t_sys / t_local, "s",
                     f"sum of the {args.ranks} per-rank checks"))
        rows.append(("  peak memory (leader process)", m_sys, m_local, m_sys / m_local, "MiB",
                     "the largest per-rank check"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_table([(name, unit, f"{ours:.2f}", "" if base is None else f"{base:.2f}", ratio, what,
                  None) for name, ours, base, ratio, unit, what in rows],
                ("benchmark", "unit", "ours", "baseline", "ratio", "baseline is", ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
