"""The repairs of P6's problems: SMD and the NVMe blob headers, outside any shard.

SMD is rebuilt from the blob headers as DAOS's smd_sync does; a blob
header is rewritten from the facts that repeat it (its file name and
directory, its SMD row, the shard's superblock).
"""
from __future__ import annotations

import os

from vosfmt.blob import BlobHeader, read_header, rewrite_header
from vosfmt.image import smd_sync
from vosfmt.keys import uuid_bytes
from vosfmt.smd import SysDb

from .problems import Code
from .registry import Phase, repairs


@repairs(Code.SMD_BLOB_MISSING, phase=Phase.IMAGE)
@repairs(Code.SMD_DB_UNREADABLE, phase=Phase.IMAGE)
def rebuild_smd(db_root: str, f, action) -> None:
    smd_sync(db_root)


@repairs(Code.SMD_POOL_WITHOUT_SHARD, phase=Phase.IMAGE)
def remove_pool_target(db_root: str, f, action) -> None:
    with SysDb(db_root, write=True) as db:
        db.remove_target(uuid_bytes(f.ctx["pool"]), f.ctx["target"])


@repairs(Code.BLOB_HEADER_WRONG, phase=Phase.IMAGE)
def rewrite_blob_header(db_root: str, f, action) -> None:
    """Rewrite the blob's header from the facts that repeat it, if the file still holds a
    header of the finding's pool and target (else leave it: the rescan says what it is now)."""
    path, fix = os.path.join(db_root, f.ctx["blob"]), f.ctx["fix"]
    h = read_header(path)
    if (h.pool_uuid, h.vos_id) != (uuid_bytes(f.ctx["pool"]), f.ctx["target"]):
        return
    rewrite_header(db_root, path, BlobHeader(fix["blk_sz"], fix["hdr_blks"], h.vos_id,
                                             fix["blob_id"], bytes.fromhex(fix["dev_uuid"]),
                                             h.pool_uuid, h.version))
