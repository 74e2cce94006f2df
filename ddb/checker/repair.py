"""Applying the chosen repairs: each shard's in one transaction, SMD's and the blobs' on their own.

Every repair goes through vosfmt's crash-safe writer, so a shard is either
fully repaired or untouched. The pages a repair stops using (a rebuilt
tree's old nodes, a rewritten DTX record list) are named by the scan in the
finding's ``drop`` and freed in the same transaction. Other consequences (a
key a lossy repair leaves empty) are found by the engine's next scan round,
which also verifies that each repair took effect.

The repair of each problem is looked up in ``registry.REPAIRS``; the modules
below register theirs when imported.
"""
from __future__ import annotations

import struct

from vosfmt import CorruptionError, open_shard
from vosfmt.txn import Transaction

from . import fields, repairs_image, repairs_shard  # noqa: F401 - importing them registers their repairs
from .problems import Code
from .registry import REPAIRS, Phase
from .scan import ShardScan


class ShardJob:
    """One shard under repair: what its repairs share. ``tx`` is the transaction while it is
    open; ``facts`` a scan's facts of the shard as the repairs found it, taken before anything
    is written when a chosen repair ``needs_facts`` (else None)."""

    def __init__(self, shard):
        self.shard = shard
        self.tx = None
        self.facts = None


def _facts_of(shard):
    scan = ShardScan(shard)
    scan.run()
    return scan.facts


def is_image_repair(code: Code) -> bool:
    """Is the problem repaired outside any shard (SMD, blob headers)?"""
    return REPAIRS[code].phase == Phase.IMAGE


def repair_image(db_root: str, f, action) -> None:
    """Apply the chosen action of an SMD or blob finding. Raises VosError if it cannot."""
    REPAIRS[f.code].fn(db_root, f, action)


def repair_shard(path: str, db_root: str, chosen: list, hooks=None) -> None:
    """Apply [(Finding, Action)] to one shard. Raises VosError if it cannot.

    Records that no longer decode raise VosError too (never struct.error), so
    a repair that meets more damage than its finding described fails cleanly.
    """
    try:
        _repair_shard(path, db_root, chosen, hooks)
    except (struct.error, ValueError, IndexError) as e:
        raise CorruptionError(f"the repair met a malformed record ({e})", file=path) from None


def _repair_shard(path: str, db_root: str, chosen: list, hooks) -> None:
    phases = {p: [] for p in Phase}
    for f, action in sorted(chosen, key=_order):
        phases[REPAIRS[f.code].phase].append((f, action))
    # a truncated file is written only when its extension is chosen
    truncated_ok = any(f.code == Code.SHARD_TRUNCATED for f, _ in chosen)
    with open_shard(path, write=True, db_root=db_root, hooks=hooks,
                    truncated_ok=truncated_ok) as shard:
        job = ShardJob(shard)
        for f, action in phases[Phase.FILE]:
            REPAIRS[f.code].fn(job, f, action)
        if not phases[Phase.BEGIN] and not phases[Phase.TX]:
            return
        if any(REPAIRS[f.code].needs_facts(f) for f, _ in phases[Phase.BEGIN] + phases[Phase.TX]):
            job.facts = _facts_of(shard)
        free = None
        for f, action in phases[Phase.BEGIN]:
            free = REPAIRS[f.code].fn(job, f, action)
        with Transaction(shard, free_pages=free) as tx:
            job.tx = tx
            dropped = []
            for f, action in phases[Phase.TX]:
                if REPAIRS[f.code].fn(job, f, action) is not False:
                    dropped += f.ctx.get("drop", ())
            if dropped:
                tx.free_pages([tuple(e) for e in dropped])


def _order(fa) -> tuple:
    """Repair order within a phase: as registered, then parents before children."""
    f = fa[0]
    return REPAIRS[f.code].order, len(f.ctx.get("path", ()))
