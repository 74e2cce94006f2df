"""Identifiers (unit oids, DTX ids) and tree-key collation.

Every B+tree compares keys as plain bytes. Each tree kind turns its logical
key into a *collation key* whose bytewise order is the order we want
(numeric for integers, so they are big-endian here), and back. These are
pure functions; the enumeration order they define is what ``[i]`` means.
"""
from __future__ import annotations

import struct
import uuid as _uuid
from typing import NamedTuple

from .constants import MAX_KEY, KeyKind, ObjType
from .errors import TransactionError

_OID = struct.Struct(">QQII")
_U64 = struct.Struct(">Q")
_EXT = struct.Struct(">QQH")
_LE64 = struct.Struct("<Q")


class Oid(NamedTuple):
    """A unit object id: public (hi, lo) plus shard and layout version."""
    hi: int
    lo: int
    shard: int = 0
    layout: int = 0

    def __str__(self) -> str:
        return f"{self.hi}.{self.lo}.{self.shard}.{self.layout}"

    @property
    def otype(self) -> int:
        return self.hi >> 56

    @property
    def otype_name(self) -> str:
        try:
            return f"DAOS_OT_{ObjType(self.otype).name}"
        except ValueError:
            return "UNKNOWN"

    @property
    def grp_nr(self) -> int:
        return (self.hi >> 32) & 0xFFFF

    @classmethod
    def parse(cls, text: str) -> Oid:
        parts = text.split(".")
        if len(parts) != 4 or not all(p.isdigit() for p in parts):
            raise ValueError(f"invalid oid {text!r}: expected hi.lo.shard.layout")
        hi, lo, shard, layout = (int(p) for p in parts)
        if hi >= 1 << 64 or lo >= 1 << 64 or shard >= 1 << 32 or layout >= 1 << 32:
            raise ValueError(f"invalid oid {text!r}: field out of range")
        return cls(hi, lo, shard, layout)

    @staticmethod
    def make_hi(otype: int, cls_id: int = 1, grp_nr: int = 1, user: int = 0) -> int:
        return (otype << 56) | (cls_id << 48) | (grp_nr << 32) | (user & 0xFFFFFFFF)


class Xid(NamedTuple):
    """A DTX id: client uuid plus HLC timestamp; text form ``<uuid>.<hlc hex>``."""
    uuid: bytes
    hlc: int

    def __str__(self) -> str:
        return f"{_uuid.UUID(bytes=self.uuid)}.{self.hlc:x}"

    @classmethod
    def parse(cls, text: str) -> Xid:
        """Parse the canonical form only (lowercase, no leading zeros), like DAOS."""
        u, sep, h = text.partition(".")
        try:
            xid = cls(_uuid.UUID(u).bytes, int(h, 16))
        except ValueError:
            xid = None
        if not sep or xid is None or str(xid) != text:
            raise ValueError(f"invalid dtx id {text!r}: expected <uuid>.<hlc in hex>")
        return xid


def uuid_str(b: bytes) -> str:
    return str(_uuid.UUID(bytes=bytes(b)))


def uuid_bytes(text_or_bytes) -> bytes:
    if isinstance(text_or_bytes, (bytes, bytearray)):
        if len(text_or_bytes) != 16:
            raise ValueError("a uuid is 16 bytes")
        return bytes(text_or_bytes)
    if isinstance(text_or_bytes, _uuid.UUID):
        return text_or_bytes.bytes
    return _uuid.UUID(str(text_or_bytes)).bytes


# --- collation keys -----------------------------------------------------------

def oid_key(oid: Oid) -> bytes:
    return _OID.pack(*oid)


def oid_from_key(k: bytes) -> Oid:
    return Oid(*_OID.unpack(k))


def epoch_key(epoch: int) -> bytes:
    return _U64.pack(epoch)


def epoch_from_key(k: bytes) -> int:
    return _U64.unpack(k)[0]


def extent_key(lo: int, epoch: int, minor: int) -> bytes:
    return _EXT.pack(lo, epoch, minor)


def extent_from_key(k: bytes) -> tuple[int, int, int]:
    return _EXT.unpack(k)


def xid_key(xid: Xid) -> bytes:
    return bytes(xid.uuid) + _U64.pack(xid.hlc)


def xid_from_key(k: bytes) -> Xid:
    return Xid(bytes(k[:16]), _U64.unpack_from(k, 16)[0])


blk_key = epoch_key
blk_from_key = epoch_from_key


def dkey_collate(kind: int, key: bytes) -> bytes:
    """Collation key of a dkey / akey of the given KeyKind."""
    if not key:
        raise TransactionError("a key cannot be empty")
    if len(key) > MAX_KEY:
        raise TransactionError(f"key of {len(key)} bytes exceeds the {MAX_KEY}-byte limit")
    if kind == KeyKind.UINT64:
        if len(key) != 8:
            raise TransactionError(f"this object takes 8-byte integer keys, got {len(key)} bytes")
        return _U64.pack(_LE64.unpack(key)[0])
    return bytes(key)


def dkey_uncollate(kind: int, ckey: bytes) -> bytes:
    if kind == KeyKind.UINT64 and len(ckey) == 8:
        return _LE64.pack(_U64.unpack(ckey)[0])
    return bytes(ckey)


# --- epochs -------------------------------------------------------------------

HLC_EPOCH_BASE = 1609459200          # DAOS HLC counts from 2021-01-01 00:00:00 UTC


def hlc(unix_seconds: float) -> int:
    """The DAOS HLC timestamp of a Unix time (logical bits zero)."""
    return int((unix_seconds - HLC_EPOCH_BASE) * 1e9) * 16 & ~0x3FFFF


def hlc_seconds(epoch: int) -> float:
    return epoch / 16 / 1e9 + HLC_EPOCH_BASE


def hlc_now() -> int:
    import time
    return hlc(time.time())
