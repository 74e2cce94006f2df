"""A storage image: the directory tree a DAOS engine keeps under its SCM mount.

    <db_root>/<pool-uuid>/vos-<N>             pool shard of target N
    <db_root>/daos_sys/sys_db                 SMD (LMDB)
    <db_root>/daos_nvme/<dev>/blob-<id>       emulated NVMe blob per (pool, target)

``create_pool`` lays out every file of one pool and registers it in SMD;
``list_shards`` finds the shards under a root.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from .blob import BlobHeader, blob_path, create_blob, decode_header
from .constants import (
    DEFAULT_BLK_SIZE,
    DEFAULT_HDR_BLKS,
    DEFAULT_NVME_THRESHOLD,
    DEFAULT_SCM_SIZE,
    DEV_NORMAL,
)
from .create import create_shard
from .errors import VosError
from .keys import uuid_bytes, uuid_str
from .layout import blob_header as _blob_header
from .paths import is_shard_path
from .safefs import UnsafePathError, open_file, open_parent, unlink_file
from .shard import open_shard
from .smd import SMD_VERSION, DeviceRow, PoolRow, SysDb, sys_db_exists, sys_db_path
from .txn import Transaction

BLOB_HEADER_SIZE = _blob_header.sizeof()


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
            with open_shard(path, write=True, db_root=db_root) as sh, Transaction(sh) as tx:
                tx.vea_free(sh.sb.hdr_blks, sh.sb.tot_blks)
    return paths


def register_pool(db_root: str, puuid: bytes, blob_sz: int, devices: list[bytes],
                  blob_ids: list[int]) -> None:
    """Add a pool's rows (and its targets' device rows) to SMD, creating SMD if needed."""
    create = not sys_db_exists(db_root)
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
    if not sys_db_exists(db_root):
        with SysDb(db_root, write=True, create=True) as db:
            db.write(version=SMD_VERSION)


def list_shards(db_root: str) -> list[str]:
    """Every pool shard file (``vos-N``; an ``rdb-pool`` PS replica is not a target's shard)
    under ``db_root``, sorted."""
    out = []
    if not os.path.isdir(db_root):
        raise VosError(f"{db_root}: not a directory")
    for name in sorted(os.listdir(db_root)):
        pdir = os.path.join(db_root, name)
        if not os.path.isdir(pdir):
            continue
        for f in sorted(os.listdir(pdir), key=lambda n: (len(n), n)):
            p = os.path.join(pdir, f)
            if is_shard_path(p) and f.startswith("vos-") and os.path.isfile(p):
                out.append(p)
    return out


def remove_shard(shard) -> list[str]:
    """Delete a shard (opened for writing, so nobody else writes it), its blob and SMD rows.

    Everything is verified before anything is removed: the shard's
    superblock must name the pool of its directory (as ``open`` demands),
    and the blob SMD lists for it must carry a header naming this pool,
    target, blob id and device -- a damaged or crafted SMD row must never
    make us delete another pool's data. Files are removed only if they are
    regular files inside the image, never through a link (``safefs``).

    Order: the shard file first (the pool shard is gone), then its blob, then
    its SMD rows; a crash in between leaves only orphans a checker reports.
    Returns the removed paths.
    """
    from .pagefile import sync_dir
    path = os.path.abspath(shard.path)
    pool_dir = os.path.dirname(path)
    named = os.path.basename(pool_dir).lower()
    if named != uuid_str(shard.sb.pool_uuid):
        raise VosError(f"pool uuid mismatch: the path names {named} but the shard belongs to "
                       f"{uuid_str(shard.sb.pool_uuid)}; refusing to remove it")
    blob = _own_blob(shard)
    unlink_file(os.path.dirname(pool_dir), path, missing_ok=False)
    sync_dir(pool_dir)
    removed = [shard.path]
    if blob is None:
        return removed
    bpath, pool = blob
    if bpath is not None and unlink_file(shard.db_root, bpath):
        sync_dir(os.path.dirname(bpath))
        removed.append(bpath)
    with SysDb(shard.db_root, write=True) as db:
        db.remove_target(pool.uuid, shard.sb.target_idx)
    return removed


def _own_blob(shard):
    """(blob path or None, SMD pool row) of a shard about to be removed; None without a row.

    The path is None when the blob file is already gone. Raises VosError
    when the file SMD names is not this shard's blob (its header names
    another pool, target, blob or device, or cannot be read).
    """
    sb = shard.sb
    if not sb.nvme_size or not sys_db_exists(shard.db_root):
        return None
    with SysDb(shard.db_root) as db:
        pool = db.pools().get(sb.pool_uuid)
        dev = db.targets().get(sb.target_idx)
    if pool is None:
        return None
    blob_id = pool.blob_of(sb.target_idx)
    if blob_id is None or dev is None:
        return None, pool
    bpath = blob_path(shard.db_root, dev, blob_id)
    try:
        fd = open_file(shard.db_root, bpath, os.O_RDONLY)
    except UnsafePathError:
        if not os.path.lexists(bpath):
            return None, pool
        raise
    try:
        hdr = decode_header(os.pread(fd, BLOB_HEADER_SIZE, 0), bpath)
    except VosError as e:
        raise VosError(f"refusing to remove {bpath}: its header cannot be read to confirm it is "
                       f"the blob of pool {uuid_str(sb.pool_uuid)} target {sb.target_idx} "
                       f"({e})") from None
    finally:
        os.close(fd)
    want = (sb.pool_uuid, sb.target_idx, blob_id, dev)
    if (hdr.pool_uuid, hdr.vos_id, hdr.blob_id, hdr.dev_uuid) != want:
        raise VosError(f"refusing to remove {bpath}: SMD names it as the blob of pool "
                       f"{uuid_str(sb.pool_uuid)} target {sb.target_idx}, but its header names "
                       f"pool {uuid_str(hdr.pool_uuid)} target {hdr.vos_id} (blob {hdr.blob_id} on "
                       f"device {uuid_str(hdr.dev_uuid)}); nothing was removed (ddb check or "
                       "smd_sync can repair SMD)")
    return bpath, pool


@dataclass
class SyncResult:
    synced: list            # (blob path, BlobHeader, blob_sz)
    problems: list          # (blob path, message)
    recreated: str | None   # where a damaged sys db was moved aside, if it was


def smd_sync(db_root: str, nvme_dir: str | None = None, *, dry_run: bool = False) -> SyncResult:
    """Rebuild SMD's device, target and pool rows from the blob headers (DAOS smd_sync).

    Blob sizes come from the existing pool rows when SMD still has them, else
    from the blob files. A sys db that cannot be opened is moved aside and
    recreated. A header that disagrees with its own file (its blob id with the name
    ``blob-<id>``, its device with the directory) is damaged or misplaced: it is not
    trusted, and is skipped and reported in ``problems``. All rows are written in one LMDB
    transaction. ``dry_run``
    computes the same result and touches nothing (``recreated`` then names
    where the sys db would have been moved).
    """
    import time as _time

    from .blob import name_disagreement, scan_blobs
    from .errors import VosError as _VosError
    found = list(scan_blobs(db_root, nvme_dir))
    sizes, recreated = {}, None
    path = sys_db_path(db_root)
    if os.path.isdir(path):
        try:
            with SysDb(db_root) as db:
                sizes = {u: p.blob_sz for u, p in db.pools().items()}
        except _VosError:
            recreated = f"{path}.damaged-{int(_time.time())}"
            if not dry_run:
                recreated = _move_aside(db_root, path, recreated)
    devices: dict[bytes, DeviceRow] = {}
    targets: dict[int, bytes] = {}
    pools: dict[bytes, PoolRow] = {}
    synced, problems = [], []
    for bpath, hdr in found:
        if isinstance(hdr, Exception):
            problems.append((bpath, str(hdr)))
            continue
        why = name_disagreement(bpath, hdr)
        if why is not None:
            problems.append((bpath, f"{why}: the header is not trusted, skipped"))
            continue
        if targets.get(hdr.vos_id, hdr.dev_uuid) != hdr.dev_uuid:
            problems.append((bpath, f"target {hdr.vos_id} also has a blob on device "
                                    f"{uuid_str(targets[hdr.vos_id])}; keeping the first"))
            continue
        targets[hdr.vos_id] = hdr.dev_uuid
        dev = devices.setdefault(hdr.dev_uuid, DeviceRow(hdr.dev_uuid, DEV_NORMAL, []))
        if hdr.vos_id not in dev.tgts:
            dev.tgts.append(hdr.vos_id)
        size = sizes.get(hdr.pool_uuid) or os.path.getsize(bpath)
        pool = pools.setdefault(hdr.pool_uuid, PoolRow(hdr.pool_uuid, size, 0, [], []))
        if hdr.vos_id in pool.tgts:
            problems.append((bpath, f"pool {uuid_str(hdr.pool_uuid)} target {hdr.vos_id} has two blobs"))
            continue
        pool.tgts.append(hdr.vos_id)
        pool.blobs.append(hdr.blob_id)
        synced.append((bpath, hdr, size))
    for d in devices.values():
        d.tgts.sort()
    if dry_run:
        return SyncResult(synced, problems, recreated)
    create = not sys_db_exists(db_root)
    with SysDb(db_root, write=True, create=create) as db:
        db.write(version=SMD_VERSION, devices=list(devices.values()), targets=targets,
                 pools=list(pools.values()))
    return SyncResult(synced, problems, recreated)


def _move_aside(db_root: str, path: str, new: str) -> str:
    """Rename the sys db directory ``path`` to ``new`` (or ``new.N`` if taken); the name used.

    Both names are resolved from the image root without following links: a
    link planted at daos_sys (or at sys_db) must not move a directory
    outside the image.
    """
    dfd, name = open_parent(db_root, path)
    try:
        st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        if not stat.S_ISDIR(st.st_mode):
            raise UnsafePathError(f"refusing to move {path} aside: it is not a directory "
                                  "(a symbolic link or another file)")
        base, target, n = os.path.basename(new), os.path.basename(new), 0
        while True:
            try:
                os.stat(target, dir_fd=dfd, follow_symlinks=False)
            except FileNotFoundError:
                break
            n += 1
            target = f"{base}.{n}"
        os.rename(name, target, src_dir_fd=dfd, dst_dir_fd=dfd)
        os.fsync(dfd)
    except OSError as e:
        raise VosError(f"cannot move {path} aside: {e.strerror}") from None
    finally:
        os.close(dfd)
    return os.path.join(os.path.dirname(path), target)


def replace_device(db_root: str, old: bytes, new: bytes, *, dry_run: bool = False) -> DeviceRow:
    """Move every target of device ``old`` to device ``new`` in SMD (DAOS smd_dev_replace).

    The new device must not be in use. Blob data is not moved: in DAOS the
    data of a replaced device is rebuilt from other replicas. ``dry_run``
    opens the sys db read-only, checks the same, and writes nothing.
    """
    from .errors import NotFoundError as _NotFound
    from .errors import VosError as _VosError
    with SysDb(db_root, write=not dry_run) as db:
        devs = db.devices()
        if old not in devs or not devs[old].tgts:
            raise _NotFound(f"device {uuid_str(old)} is not in use")
        if new in devs and devs[new].tgts:
            raise _VosError(f"device {uuid_str(new)} is already in use")
        row = DeviceRow(new, DEV_NORMAL, list(devs[old].tgts))
        targets = {t: new for t, d in db.targets().items() if d == old}
        if not dry_run:
            db.write(devices=[row], targets=targets, delete_devices=[old])
    return row
