"""Emulated NVMe blobs: ``<db_root>/daos_nvme/<dev-uuid>/blob-<id>``.

Block 0 holds ``layout.blob_header`` naming pool, target, blob id and
device: the backup from which SMD can be rebuilt (``smd_sync``). Values live
at ``block * blk_sz``; which blocks are free is the shard's VEA, not ours.
The file is sparse: only written blocks take space.
"""
from __future__ import annotations

import os

from . import layout as L
from .codec import decode, encode
from .constants import BLOB_HDR_MAGIC
from .errors import CorruptionError, FormatError, VosError
from .keys import uuid_str
from .pagefile import DataFile, sync_dir
from .recordtype import Record

NVME_DIR = "daos_nvme"
BLOB_HDR_VERSION = 1


class BlobHeader(Record):
    __slots__ = ("blk_sz", "hdr_blks", "vos_id", "blob_id", "dev_uuid", "pool_uuid", "version")
    DEFAULTS = dict(version=BLOB_HDR_VERSION)


def blob_path(db_root: str, dev_uuid: bytes, blob_id: int) -> str:
    return os.path.join(db_root, NVME_DIR, uuid_str(dev_uuid), f"blob-{blob_id}")


def encode_header(h: BlobHeader) -> bytes:
    body = dict(magic=BLOB_HDR_MAGIC, version=h.version, blk_sz=h.blk_sz, hdr_blks=h.hdr_blks,
                vos_id=h.vos_id, blob_id=h.blob_id, dev_uuid=h.dev_uuid, pool_uuid=h.pool_uuid)
    return encode(L.blob_header, dict(body=dict(value=body)), structure="blob_header")


def decode_header(raw: bytes, path: str) -> BlobHeader:
    if len(raw) < L.blob_header.sizeof():
        raise CorruptionError("blob header is truncated", offset=0, structure="blob_header",
                              file=path)
    if int.from_bytes(raw[:4], "little") != BLOB_HDR_MAGIC:
        raise FormatError(f"{path}: not an NVMe blob (bad header magic)")
    c = decode(L.blob_header, raw[:L.blob_header.sizeof()], offset=0, structure="blob_header")
    v = c.body.value
    return BlobHeader(v.blk_sz, v.hdr_blks, v.vos_id, v.blob_id, bytes(v.dev_uuid),
                      bytes(v.pool_uuid), v.version)


def create_blob(path: str, header: BlobHeader, size: int) -> None:
    """Create a blob file of ``size`` bytes with its header, atomically (tmp + rename)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    if os.path.exists(tmp):
        os.unlink(tmp)
    with DataFile(tmp, writable=True, create=True) as f:
        raw = encode_header(header)
        f.write(0, raw + bytes(header.blk_sz * header.hdr_blks - len(raw)))
        f.truncate(size)
        f.sync()
    os.replace(tmp, path)
    sync_dir(os.path.dirname(path))


def name_disagreement(path: str, h: BlobHeader) -> str | None:
    """Why a header cannot be this file's (its blob id is not the one in the file name
    ``blob-<id>``, or its device uuid not its directory's), or None when they agree.
    Such a header is damaged or misplaced: smd_sync does not trust it."""
    name, ddir = os.path.basename(path), os.path.basename(os.path.dirname(path))
    why = []
    if name != f"blob-{h.blob_id}":
        why.append(f"its header says blob id {h.blob_id}, its file name {name}")
    if ddir != uuid_str(h.dev_uuid):
        why.append(f"its header says device {uuid_str(h.dev_uuid)}, its directory {ddir}")
    return "; ".join(why) or None


def rewrite_header(db_root: str, path: str, header: BlobHeader) -> None:
    """Rewrite a blob's header in place (its checksum recomputed by the declaration) and
    fsync it. Crash-safe: only the header's bytes in block 0 are written, one write of less
    than a sector's worth, so a torn write leaves a header whose checksum fails."""
    with DataFile(path, writable=True, root=db_root) as f:
        f.write(0, encode_header(header))
        f.sync()


def read_header(path: str) -> BlobHeader:
    with DataFile(path) as f:
        return decode_header(f.read(0, L.blob_header.sizeof()), path)


def device_dirs(nvme: str) -> list[str]:
    """The device directories of ``nvme``: the subdirectories of a directory like
    ``daos_nvme``, or the directories a file lists, one a line (``#`` starts a comment)."""
    if os.path.isfile(nvme):
        with open(nvme) as f:
            return [line.strip() for line in f if line.strip() and not line.startswith("#")]
    return [os.path.join(nvme, d) for d in sorted(os.listdir(nvme))]


def scan_blobs(db_root: str, nvme: str | None = None):
    """Yield (path, BlobHeader | VosError) for every blob of the devices under
    ``<db_root>/daos_nvme`` (none when it is missing), or of ``nvme`` (see ``device_dirs``)."""
    if nvme is None:
        nvme = os.path.join(db_root, NVME_DIR)
        if not os.path.isdir(nvme):
            return
    for ddir in device_dirs(nvme):
        if not os.path.isdir(ddir):
            continue
        for name in sorted(os.listdir(ddir)):
            if not name.startswith("blob-") or name.endswith(".tmp"):
                continue
            p = os.path.join(ddir, name)
            try:
                yield p, read_header(p)
            except VosError as e:
                yield p, e
