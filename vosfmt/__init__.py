"""vosfmt: a VOS-like pool shard format (reader, crash-safe writer, blobs, SMD).

Start with ``open_shard(path)`` to read, ``shard.begin()`` (on a shard opened
with ``write=True``) to change it, and ``vosfmt.image.create_pool`` to make
new images.
"""
from .constants import EPOCH_MAX, AddrFlags, CsumType, DtxFlags, IlogStatus, Media, ObjType
from .errors import (ChecksumError, CorruptionError, FormatError, NotFoundError, ReadOnlyError,
                     SpaceError, StaleReadError, TransactionError, VosError)
from .keys import Oid, Xid, uuid_bytes, uuid_str
from .records import (DtxActive, DtxCommitted, DtxRecRef, Extent, FreeExtent, Ilog, IlogEntry,
                      SingleValue)
from .shard import AKey, Container, DKey, Shard, VosObject, open_shard


def __getattr__(name):
    # The writer is loaded on first use: read-only tools never pay for it.
    if name in ("Transaction", "create_shard"):
        from . import txn
        return getattr(txn, name)
    raise AttributeError(f"module 'vosfmt' has no attribute {name!r}")

__all__ = [
    "AKey", "AddrFlags", "ChecksumError", "Container", "CorruptionError", "CsumType", "DKey",
    "DtxActive", "DtxCommitted", "DtxFlags", "DtxRecRef", "EPOCH_MAX", "Extent", "FormatError",
    "FreeExtent", "Ilog", "IlogEntry", "IlogStatus", "Media", "NotFoundError", "ObjType", "Oid",
    "ReadOnlyError", "Shard", "SingleValue", "SpaceError", "StaleReadError", "Transaction", "TransactionError",
    "VosError", "VosObject", "Xid", "create_shard", "open_shard", "uuid_bytes", "uuid_str",
]
