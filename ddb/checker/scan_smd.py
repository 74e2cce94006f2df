"""P6, across files: SMD against the shards and NVMe blobs that exist.

SMD must lead each shard with NVMe space to its own blob, whose header
repeats facts its file name, directory, SMD row and the shard's superblock
hold (BLOB_HEADER_WRONG when it disagrees); a pool row must have its shard
files; and the sys db must be readable at all.
"""
from __future__ import annotations

import os

from vosfmt import VosError
from vosfmt.blob import blob_path, name_disagreement, read_header, scan_blobs
from vosfmt.image import shard_path
from vosfmt.keys import uuid_str
from vosfmt.smd import SysDb

from .finding import Finding
from .problems import Action, Code


def scan_image_smd(db_root: str, shards: list) -> list[Finding]:
    """SMD rows against the shards and blobs that exist; a sys db that cannot be read is one
    finding (every row is decoded, so ``ddb smd`` reads what the check passed)."""
    try:
        with SysDb(db_root) as db:
            pools, targets = db.pools(), db.targets()
            db.devices()
    except (VosError, ValueError) as e:
        return [Finding(Code.SMD_DB_UNREADABLE, dict(reason=getattr(e, "reason", str(e))), "")]
    out = []
    rebuildable = _BlobHeaders(db_root)
    for sh in shards:
        reason = _blob_problem(db_root, sh, pools, targets) if sh.sb.nvme_size else None
        if reason is None:
            continue
        if isinstance(reason, Finding):
            out.append(reason)
            continue
        ctx = dict(pool=sh.pool_uuid, target=sh.sb.target_idx, reason=reason)
        if (sh.sb.pool_uuid, sh.sb.target_idx) not in rebuildable:
            ctx["reason"] += ("; no blob under daos_nvme has a readable header naming this pool "
                              "and target (and agreeing with its file name), so SMD cannot be "
                              "rebuilt for it")
            ctx["default"] = int(Action.IGNORE)
        out.append(Finding(Code.SMD_BLOB_MISSING, ctx, sh.path))
    for puuid, row in pools.items():
        for t in row.tgts:
            if not os.path.exists(shard_path(db_root, puuid, t)):
                out.append(Finding(Code.SMD_POOL_WITHOUT_SHARD, dict(pool=uuid_str(puuid), target=t), ""))
    return out


def _blob_problem(db_root: str, sh, pools: dict, targets: dict):
    """Why SMD does not lead a shard to its own NVMe blob (None if it does); a
    Code.BLOB_HEADER_WRONG Finding when it does but the blob's header disagrees with the facts
    that repeat it."""
    pool = pools.get(sh.sb.pool_uuid)
    blob = pool.blob_of(sh.sb.target_idx) if pool else None
    dev = targets.get(sh.sb.target_idx)
    if pool is None or blob is None or dev is None:
        return "no SMD row"
    p = blob_path(db_root, dev, blob)
    try:
        h = read_header(p)
    except VosError as e:
        return str(e)
    if h.pool_uuid != sh.sb.pool_uuid or h.vos_id != sh.sb.target_idx:
        return f"the blob SMD names ({p}) belongs to another pool or target"
    return _blob_header_wrong(db_root, p, h, sh, blob, dev)


def _blob_header_wrong(db_root: str, path: str, h, sh, blob: int, dev: bytes):
    """BLOB_HEADER_WRONG for the header of a shard's own blob (its pool and target agree
    with the shard and the SMD row that names the file) whose blob id disagrees with its
    file name and SMD row, device with its directory and SMD's target row, or block
    geometry with the shard's superblock; None when every field agrees."""
    want = dict(blob_id=blob, dev_uuid=dev, blk_sz=sh.sb.blk_size, hdr_blks=sh.sb.hdr_blks)
    whence = dict(blob_id="its file name and SMD row", dev_uuid="its directory and SMD",
                  blk_sz="the shard's superblock", hdr_blks="the shard's superblock")
    wrong = [n for n in want if getattr(h, n) != want[n]]
    if not wrong:
        return None

    def show(n, v):
        return uuid_str(v) if n == "dev_uuid" else str(v)
    ctx = dict(blob=os.path.relpath(path, db_root), pool=sh.pool_uuid, target=sh.sb.target_idx,
               stored=", ".join(f"{n} {show(n, getattr(h, n))}" for n in wrong),
               expected=", ".join(f"{n} {show(n, want[n])} ({whence[n]})" for n in wrong),
               fix=dict(blob_id=blob, dev_uuid=dev.hex(), blk_sz=sh.sb.blk_size,
                        hdr_blks=sh.sb.hdr_blks))
    return Finding(Code.BLOB_HEADER_WRONG, ctx, sh.path)


class _BlobHeaders:
    """(pool uuid, target) of every blob smd_sync would find, read only when first asked
    (a header that disagrees with its file name or directory is not one: smd_sync skips it)."""

    def __init__(self, db_root: str):
        self.db_root = db_root
        self._found = None

    def __contains__(self, pool_target) -> bool:
        if self._found is None:
            self._found = {(h.pool_uuid, h.vos_id) for p, h in scan_blobs(self.db_root)
                           if not isinstance(h, Exception) and name_disagreement(p, h) is None}
        return pool_target in self._found
