"""Pieces every benchmark uses: how to run ddb, a wall-clock timer, the big-value image."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

from fixtures import build
from vosfmt import Oid, open_shard
from vosfmt.image import list_shards
from vosfmt.paths import db_root_of
from vosfmt.txn import Transaction

BIG_CONT = "00000000-0000-0000-0000-0000000000aa"


def ddb_cmd() -> list[str]:
    """The installed ``ddb`` script beside this Python, else ``python -m ddb``."""
    exe = shutil.which("ddb", path=os.path.dirname(sys.executable))
    return [exe] if exe else [sys.executable, "-m", "ddb"]


def timed(cmd, **kw) -> float:
    """Seconds one run of ``cmd`` takes (output discarded; a failure raises)."""
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
    return time.perf_counter() - t


def big_value_setup(work: str, mib: int) -> tuple[str, str]:
    """(shard, source file): an image whose NVMe blob fits ``mib`` MiB, and ``mib`` MiB of random bytes."""
    root = os.path.join(work, "big")
    build({"nvme_size": (mib << 20) + (64 << 20), "containers": [{"uuid": BIG_CONT}]}, root)
    src = os.path.join(work, "src.bin")
    chunk = os.urandom(1 << 20)
    with open(src, "wb") as f:
        for _ in range(mib):
            f.write(chunk)
    os.sync()       # else writing back these pages slows whatever is timed next (by up to 4x)
    return list_shards(root)[0], src


def load_big_value(shard: str, src: str, mib: int) -> None:
    """Store ``src`` (``mib`` MiB) as the single value /[0]/1.1.0.0/d/a, through vosfmt."""
    with open_shard(shard, write=True, db_root=db_root_of(shard)) as sh, Transaction(sh) as tx, \
            open(src, "rb") as f:
        tx.put_single_value(BIG_CONT, Oid(1, 1), b"d", b"a", 1, stream=f, size=mib << 20)


HEADERS = ("operation", "size", "ours", "baseline", "ratio", "target", "peak MiB")


def print_table(table: list[tuple], headers=HEADERS) -> None:
    """Print bench rows (operation, size, ours, baseline, ratio, target, peak MiB; the figures
    already text, ratio and peak numbers or None) as one table."""
    from tabulate import tabulate
    print(tabulate([(op, size, ours, base, f"{r:.2f}x" if r else "", target,
                     f"{peak:.0f}" if peak else "") for op, size, ours, base, r, target, peak in table],
                   headers=list(headers), disable_numparse=True))
