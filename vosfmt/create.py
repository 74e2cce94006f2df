"""Creating an empty pool shard file: both superblock copies of generation 1 and no trees
(a transaction adds the rest)."""
from __future__ import annotations

import os

from .constants import (
    DEFAULT_BLK_SIZE,
    DEFAULT_HDR_BLKS,
    DEFAULT_NVME_THRESHOLD,
    DEFAULT_SCM_SIZE,
    FORMAT_VERSION,
    PAGE_SIZE,
    TreeClass,
)
from .errors import VosError
from .keys import uuid_bytes
from .pagefile import DataFile, sync_dir
from .records import TreeRoot
from .superblock import Superblock, encode_superblock


def create_shard(path: str, pool_uuid, target: int, *, scm_size: int = DEFAULT_SCM_SIZE,
                 nvme_size: int = 0, blk_size: int = DEFAULT_BLK_SIZE,
                 hdr_blks: int = DEFAULT_HDR_BLKS,
                 nvme_threshold: int = DEFAULT_NVME_THRESHOLD) -> None:
    """Create an empty shard file atomically (written to a temporary name, then renamed).

    The NVMe free map is initialised by the first transaction (see
    ``vosfmt.image.create_pool``), not here: a superblock cannot embed trees.
    """
    if os.path.exists(path):
        raise VosError(f"{path}: already exists")
    if nvme_size and (blk_size % 4096 or not 0 < blk_size <= 1 << 20):
        raise VosError("VEA block size must be a multiple of 4 KiB, at most 1 MiB")
    tot_blks = nvme_size // blk_size - hdr_blks if nvme_size else 0
    if nvme_size and tot_blks <= 0:
        raise VosError("NVMe size is too small for its header blocks")
    sb = Superblock(FORMAT_VERSION, 0, 0, 0, uuid_bytes(pool_uuid), target,
                    PAGE_SIZE, 1, 2, scm_size, nvme_size, nvme_threshold, blk_size if nvme_size else 0,
                    hdr_blks if nvme_size else 0, tot_blks, TreeRoot(TreeClass.VEA),
                    TreeRoot(TreeClass.CONT_TABLE), 0, 0, 1)
    tmp = path + ".tmp"
    if os.path.exists(tmp):
        os.unlink(tmp)
    with DataFile(tmp, writable=True, create=True) as f:
        raw = encode_superblock(sb)
        page = raw + bytes(PAGE_SIZE - len(raw))
        f.write(0, page + page)            # both copies valid from the start
        f.sync()
    os.replace(tmp, path)
    sync_dir(os.path.dirname(os.path.abspath(path)))
