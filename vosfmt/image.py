"""A storage image: the directory tree a DAOS engine keeps under its SCM mount.

    <db_root>/<pool-uuid>/vos-<N>             pool shard of target N
    <db_root>/daos_sys/sys_db                 SMD (LMDB)
    <db_root>/daos_nvme/<dev>/blob-<id>       emulated NVMe blob per (pool, target)

``create_pool`` lays out every file of one pool and registers it in SMD;
``list_shards`` finds the shards under a root.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

from .blob import BlobHeader, blob_path, create_blob
from .constants import DEFAULT_BLK_SIZE, DEFAULT_HDR_BLKS, DEFAULT_NVME_THRESHOLD
from .errors import VosError
from .keys import uuid_bytes, uuid_str
from .shard import open_shard
from .smd import DEV_NORMAL, SMD_VERSION, DeviceRow, PoolRow, SysDb, sys_db_path
from .txn import DEFAULT_SCM_SIZE, create_shard

SHARD_RE = re.compile(r"^(?:.*/)?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
                      r"/+(vos-(?:0|[1-9][0-9]*)|rdb-pool)$", re.IGNORECASE)


def shard_path(db_root: str, pool_uuid, target: int) -> str:
    return os.path.join(db_root, uuid_str(uuid_bytes(pool_uuid)), f"vos-{target}")


@dataclass
class PoolLayout:
    """What create_pool needs to know about one pool."""
    uuid: bytes
    targets: int = 1
    scm_size: int = DEFAULT_SCM_SIZE
    nvme_size: int = 0
    blk_size: int = DEFAULT_BLK_SIZE
    hdr_blks: int = DEFAULT_HDR_BLKS
    nvme_threshold: int = DEFAULT_NVME_THRESHOLD


def create_pool(db_root: str, pool: PoolLayout, devices: list[bytes], blob_ids: list[int]) -> list[str]:
    """Create the shard (and blob) of every target of a pool; register them in SMD.

    Target t lives on device ``devices[t % len(devices)]`` with blob id
    ``blob_ids[t]``. Returns the shard paths.
    """
    paths = []
    puuid = uuid_bytes(pool.uuid)
    if os.path.isdir(os.path.join(db_root, uuid_str(puuid))):
        raise VosError(f"pool {uuid_str(puuid)} already exists under {db_root}")
    os.makedirs(os.path.join(db_root, uuid_str(puuid)))
    for t in range(pool.targets):
        path = shard_path(db_root, puuid, t)
        create_shard(path, puuid, t, scm_size=pool.scm_size, nvme_size=pool.nvme_size,
                     blk_size=pool.blk_size, hdr_blks=pool.hdr_blks,
                     nvme_threshold=pool.nvme_threshold)
        if pool.nvme_size:
            dev = devices[t % len(devices)]
            create_blob(blob_path(db_root, dev, blob_ids[t]),
                        BlobHeader(pool.blk_size, pool.hdr_blks, t, blob_ids[t], dev, puuid),
                        pool.nvme_size)
        paths.append(path)
    if pool.nvme_size:
        register_pool(db_root, puuid, pool.nvme_size, devices, blob_ids[:pool.targets])
        for path in paths:
            with open_shard(path, write=True, db_root=db_root) as sh, sh.begin() as tx:
                tx.vea_free(sh.sb.hdr_blks, sh.sb.tot_blks)
    return paths


def register_pool(db_root: str, puuid: bytes, blob_sz: int, devices: list[bytes],
                  blob_ids: list[int]) -> None:
    """Add a pool's rows (and its targets' device rows) to SMD, creating SMD if needed."""
    create = not os.path.isfile(os.path.join(sys_db_path(db_root), "data.mdb"))
    with SysDb(db_root, write=True, create=create) as db:
        existing = {} if create else db.devices()
        targets = {} if create else db.targets()
        n = len(blob_ids)
        for t in range(n):
            targets.setdefault(t, devices[t % len(devices)])
        rows = []
        for dev in devices:
            row = existing.get(dev) or DeviceRow(dev, DEV_NORMAL, [])
            row.tgts = sorted(set(row.tgts) | {t for t, d in targets.items() if d == dev})
            rows.append(row)
        db.write(version=SMD_VERSION if create else None, devices=rows, targets=targets,
                 pools=[PoolRow(puuid, blob_sz, 0, list(range(n)), list(blob_ids))])


def ensure_sys_db(db_root: str) -> None:
    """Create an empty SMD (version row only) if the image has none."""
    if not os.path.isfile(os.path.join(sys_db_path(db_root), "data.mdb")):
        with SysDb(db_root, write=True, create=True) as db:
            db.write(version=SMD_VERSION)


def list_shards(db_root: str) -> list[str]:
    """Every pool shard file under ``db_root``, sorted."""
    out = []
    if not os.path.isdir(db_root):
        raise VosError(f"{db_root}: not a directory")
    for name in sorted(os.listdir(db_root)):
        pdir = os.path.join(db_root, name)
        if not os.path.isdir(pdir):
            continue
        for f in sorted(os.listdir(pdir), key=lambda n: (len(n), n)):
            p = os.path.join(pdir, f)
            if SHARD_RE.match(p) and os.path.isfile(p):
                out.append(p)
    return out


def remove_shard(shard) -> list[str]:
    """Delete a shard (opened for writing, so nobody else writes it), its blob and SMD rows.

    Order: the shard file first (the pool shard is gone), then its blob, then
    its SMD rows; a crash in between leaves only orphans a checker reports.
    Returns the removed paths.
    """
    from .pagefile import sync_dir
    removed = []
    path = shard.path
    os.unlink(path)
    sync_dir(os.path.dirname(os.path.abspath(path)))
    removed.append(path)
    sb = shard.sb
    if not sb.nvme_size or not os.path.isfile(os.path.join(sys_db_path(shard.db_root), "data.mdb")):
        return removed
    with SysDb(shard.db_root, write=True) as db:
        pool = db.pools().get(sb.pool_uuid)
        if pool is None:
            return removed
        blob = pool.blob_of(sb.target_idx)
        dev = db.targets().get(sb.target_idx)
        if blob is not None and dev is not None:
            bpath = blob_path(shard.db_root, dev, blob)
            if os.path.exists(bpath):
                os.unlink(bpath)
                removed.append(bpath)
        keep = [(t, b) for t, b in zip(pool.tgts, pool.blobs) if t != sb.target_idx]
        if keep:
            pool.tgts, pool.blobs = [t for t, _ in keep], [b for _, b in keep]
            db.write(pools=[pool])
        else:
            db.write(delete_pools=[sb.pool_uuid])
    return removed
