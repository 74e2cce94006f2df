"""vosfmt: a VOS-like pool shard format (reader, crash-safe writer, blobs, SMD).

Start with ``open_shard(path)`` to read, ``Transaction(shard)`` (on a shard
opened with ``write=True``) to change it, and ``vosfmt.image.create_pool``
to make new images.
"""
from .constants import EPOCH_MAX, AddrFlags, CsumType, DtxFlags, IlogStatus, Media, ObjType
from .dtx_records import DtxActive, DtxCommitted, DtxRecRef
from .errors import (
    ChecksumError,
    CorruptionError,
    FormatError,
    NotFoundError,
    ReadOnlyError,
    SpaceError,
    StaleReadError,
    TransactionError,
    VosError,
)
from .handles import AKey, Container, DKey, VosObject
from .keys import Oid, Xid, uuid_bytes, uuid_str
from .records import FreeExtent, Ilog, IlogEntry
from .shard import Shard, open_shard
from .value_records import Extent, SingleValue


def __getattr__(name):
    # The writer is loaded on first use: read-only tools never pay for it.
    if name == "Transaction":
        from .txn import Transaction
        return Transaction
    if name == "create_shard":
        from .create import create_shard
        return create_shard
    raise AttributeError(f"module 'vosfmt' has no attribute {name!r}")


__all__ = [
    "AKey", "AddrFlags", "ChecksumError", "Container", "CorruptionError", "CsumType", "DKey",
    "DtxActive", "DtxCommitted", "DtxFlags", "DtxRecRef", "EPOCH_MAX", "Extent", "FormatError",
    "FreeExtent", "Ilog", "IlogEntry", "IlogStatus", "Media", "NotFoundError", "ObjType", "Oid",
    "ReadOnlyError", "Shard", "SingleValue", "SpaceError", "StaleReadError", "Transaction",
    "TransactionError", "VosError", "VosObject", "Xid", "create_shard", "open_shard",
    "uuid_bytes", "uuid_str",
]
