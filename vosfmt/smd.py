"""The SMD sys db: ``<db_root>/daos_sys/sys_db``, an LMDB environment.

Tables are named databases (through vosfmt.kv, the only lmdb user; DAOS keeps
them as dkeys of a tiny VOS pool, the content is the same): ``device``
(device uuid -> state and targets), ``target`` (target id -> device uuid),
``pool`` (pool uuid -> blob size, targets, blob ids) and ``metadata``
(``version`` -> 1). Read-only opens use ``lock=False`` so they
never write, not even LMDB's lock file.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field

from . import layout as L
from .codec import decode, encode
from .constants import DEV_NORMAL
from .errors import CorruptionError, FormatError, NotFoundError
from .keys import uuid_str
from .kv import KvBacked, KvStore
from .safefs import check_tree

SYS_DIR = "daos_sys"                            # an image's system directory
SYS_DB_DIR = os.path.join(SYS_DIR, "sys_db")
SMD_VERSION = 1
TABLES = (b"device", b"target", b"pool", b"metadata")
_MAP_SIZE = 64 << 20
_U32 = struct.Struct("<I")


@dataclass
class DeviceRow:
    uuid: bytes
    state: int = DEV_NORMAL
    tgts: list = field(default_factory=list)


@dataclass
class PoolRow:
    uuid: bytes
    blob_sz: int
    flags: int = 0
    tgts: list = field(default_factory=list)
    blobs: list = field(default_factory=list)

    def blob_of(self, target: int) -> int | None:
        for t, b in zip(self.tgts, self.blobs):
            if t == target:
                return b
        return None


def sys_db_path(db_root: str) -> str:
    return os.path.join(db_root, SYS_DB_DIR)


def sys_db_exists(db_root: str) -> bool:
    """Does the image have an SMD sys db (its LMDB data file)?"""
    return os.path.isfile(os.path.join(sys_db_path(db_root), "data.mdb"))


class SysDb(KvBacked):
    """One open sys db. Use as a context manager; writes happen in ``write()``."""

    def __init__(self, db_root: str, *, write: bool = False, create: bool = False):
        self.path = sys_db_path(db_root)
        self.writable = write
        if write and (create or os.path.lexists(self.path)):
            # LMDB follows links: refuse them (or make the directories) before it opens anything
            check_tree(db_root, self.path, ("data.mdb", "lock.mdb"), create=create)
        self.kv = KvStore(self.path, TABLES, write=write, create=create, map_size=_MAP_SIZE,
                          what="SMD sys db")
        if not create:
            self._check_version()

    def _rows(self, table: bytes):
        return self.kv.rows(table)

    def _check_version(self) -> None:
        rows = dict(self._rows(b"metadata"))
        raw = rows.get(b"version")
        if raw is None:
            raise CorruptionError("SMD sys db has no version row", structure="sys_db",
                                  file=self.path)
        v = decode(L.smd_version, raw, structure="smd_version").version
        if v != SMD_VERSION:
            raise FormatError(f"{self.path}: SMD version {v} is not supported (expected {SMD_VERSION})")

    def version(self) -> int:
        return decode(L.smd_version, dict(self._rows(b"metadata"))[b"version"]).version

    def devices(self) -> dict[bytes, DeviceRow]:
        out = {}
        for k, v in self._rows(b"device"):
            c = decode(L.smd_device, v, structure="smd_device", path=f"device {uuid_str(k)}")
            out[k] = DeviceRow(k, c.state, list(c.tgts[:c.tgt_cnt]))
        return out

    def targets(self) -> dict[int, bytes]:
        out = {}
        for k, v in self._rows(b"target"):
            if len(k) != 4:
                raise CorruptionError("malformed SMD target key", structure="smd_target",
                                      file=self.path)
            out[_U32.unpack(k)[0]] = bytes(decode(L.smd_target, v, structure="smd_target").dev_uuid)
        return out

    def pools(self) -> dict[bytes, PoolRow]:
        out = {}
        for k, v in self._rows(b"pool"):
            c = decode(L.smd_pool, v, structure="smd_pool", path=f"pool {uuid_str(k)}")
            n = c.tgt_cnt
            out[k] = PoolRow(k, c.blob_sz, c.flags, list(c.tgts[:n]), list(c.blobs[:n]))
        return out

    def blob_location(self, pool_uuid: bytes, target: int) -> tuple[bytes, int]:
        """(device uuid, blob id) holding the NVMe data of (pool, target)."""
        pool = self.pools().get(pool_uuid)
        if pool is None:
            raise NotFoundError(f"SMD has no pool {uuid_str(pool_uuid)}")
        blob = pool.blob_of(target)
        if blob is None:
            raise NotFoundError(f"SMD pool {uuid_str(pool_uuid)} has no blob for target {target}")
        dev = self.targets().get(target)
        if dev is None:
            raise NotFoundError(f"SMD has no device for target {target}")
        return dev, blob

    # --- writing -------------------------------------------------------------
    def remove_target(self, pool_uuid: bytes, target: int) -> None:
        """Drop ``target`` from a pool's row, and the row with its last target (nothing
        when SMD has no such pool)."""
        pool = self.pools().get(pool_uuid)
        if pool is None:
            return
        keep = [(t, b) for t, b in zip(pool.tgts, pool.blobs) if t != target]
        if keep:
            pool.tgts, pool.blobs = [t for t, _ in keep], [b for _, b in keep]
            self.write(pools=[pool])
        else:
            self.write(delete_pools=[pool.uuid])

    def write(self, *, version: int | None = None, devices=(), targets=None, pools=(),
              delete_pools=(), delete_devices=(), delete_targets=()) -> None:
        """Apply a batch of row changes in one LMDB transaction (all or nothing)."""
        puts, dels = [], []
        if version is not None:
            puts.append((b"metadata", b"version", encode(L.smd_version, dict(version=version))))
        for d in devices:
            tg = list(d.tgts) + [0] * (L.SMD_MAX_TGTS - len(d.tgts))
            puts.append((b"device", d.uuid, encode(L.smd_device, dict(
                state=d.state, tgt_cnt=len(d.tgts), tgts=tg))))
        for t, dev in (targets or {}).items():
            puts.append((b"target", _U32.pack(t), encode(L.smd_target, dict(dev_uuid=dev))))
        for p in pools:
            pad = L.SMD_MAX_TGTS - len(p.tgts)
            puts.append((b"pool", p.uuid, encode(L.smd_pool, dict(
                blob_sz=p.blob_sz, flags=p.flags, tgt_cnt=len(p.tgts),
                tgts=list(p.tgts) + [0] * pad, blobs=list(p.blobs) + [0] * pad))))
        dels += [(b"pool", u) for u in delete_pools]
        dels += [(b"device", u) for u in delete_devices]
        dels += [(b"target", _U32.pack(t)) for t in delete_targets]
        self.kv.write(puts, dels)
