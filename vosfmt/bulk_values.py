"""The values of a bulk load: their input form, and their records as a transaction's
``put_single_value`` / ``put_extent`` (with ``log=False``) would write them.

The hot loop of ``vosfmt.bulkload``: one pass per value. A single value small enough
to live in its record is checksummed in one call (``checksum.csum_of``); every other
value's bytes go where a transaction would put them (``edit_space``: shard pages, or
NVMe blocks at or above the pool's threshold), streamed through its checksum.
"""
from __future__ import annotations

from typing import NamedTuple

from .checksum import ChunkSummer, csum_len, csum_of, hasher
from .constants import CSUM_INLINE_MAX, DTX_LID_FIRST, INLINE_MAX, AddrFlags, Media, RecType
from .dtx_records import DtxRecRef
from .errors import TransactionError
from .keys import epoch_key, extent_key
from .value_records import Extent, SingleValue, enc_extent, enc_sv


class SvIn(NamedTuple):
    """One version of a single value; ``data`` None is a punch. ``lid``: the DTX local id
    (0 committed, 1 aborted, else an active entry's)."""
    epoch: int
    minor: int
    lid: int
    data: bytes | None


class ExtentIn(NamedTuple):
    """One array extent of ``nr`` records of ``rsize`` bytes from index ``lo``; ``data``
    None is a punch (a hole)."""
    lo: int
    nr: int
    rsize: int
    epoch: int
    minor: int
    lid: int
    data: bytes | None


class ValueEncoder:
    """Encodes the values of one container's akeys (its checksum type and chunk size); a
    value written by an active DTX gets a record reference in ``refs`` (lid -> list)."""

    def __init__(self, tx, csum_type: int, chunk_size: int, refs: dict):
        self.tx, self.ctype, self.chunk, self.refs = tx, csum_type, chunk_size, refs

    def encode(self, kind: str, values, path: tuple) -> tuple[list, list]:
        """(keys, records) of the values of the akey at ``path`` (oid, dkey, akey)."""
        if kind == "sv":
            return self._single_values(values, path)
        if kind == "array":
            return self._extents(values, path)
        raise TransactionError(f"unknown value kind {kind!r}")

    def _register(self, lid: int, rtype: int, path: tuple, vkey: bytes) -> None:
        self.refs.setdefault(lid, []).append(DtxRecRef(rtype, *path, vkey))

    def _single_values(self, values, path):
        keys, recs, ctype = [], [], self.ctype
        for epoch, minor, lid, data in values:
            if epoch <= 0:
                raise TransactionError("epoch must be positive")
            key = epoch_key(epoch)
            if data is None:
                sv = SingleValue(epoch, 0, minor, lid, 0, aflags=AddrFlags.HOLE, csum_type=ctype)
            else:
                size = len(data)
                if not size:
                    raise TransactionError("a single value cannot be empty (size 0 means a punch)")
                if size <= INLINE_MAX:
                    sv = SingleValue(epoch, size, minor, lid, 0, Media.INLINE, 0, size, 0, ctype,
                                     csum_of(ctype, data), bytes(data))
                else:
                    h = hasher(ctype)
                    media, off, inline = self.tx._place(size, data, None, h)
                    sv = SingleValue(epoch, size, minor, lid, 0, media, 0, size, off, ctype,
                                     h.digest() if h is not None else b"", inline)
            keys.append(key)
            recs.append(enc_sv(sv))
            if lid >= DTX_LID_FIRST:
                self._register(lid, RecType.SVT, path, key)
        return keys, recs

    def _extents(self, values, path):
        keys, recs, ctype, chunk = [], [], self.ctype, self.chunk
        for lo, nr, rsize, epoch, minor, lid, data in values:
            if epoch <= 0 or nr <= 0 or rsize <= 0 or lo < 0 or lo + nr > 1 << 64:
                raise TransactionError("invalid extent (epoch, record count and size must be "
                                       "positive)")
            ext = Extent(lo, nr, epoch, minor, rsize, lid, 0, csum_type=ctype,
                         csum_len=csum_len(ctype), chunk_size=chunk)
            if data is None:
                ext.aflags = AddrFlags.HOLE
            else:
                size = nr * rsize
                if len(data) != size:
                    raise TransactionError(f"extent of {nr} records x {rsize} bytes needs {size} "
                                           f"bytes, got {len(data)}")
                summer = ChunkSummer(ctype, chunk, lo * rsize) if ctype else None
                ext.media, ext.off, ext.data = self.tx._place(size, data, None, summer)
                if summer is not None:
                    ext.csums = self.tx._ext_bytes(summer.digest(), CSUM_INLINE_MAX)
            key = extent_key(lo, epoch, minor)
            keys.append(key)
            recs.append(enc_extent(ext))
            if lid >= DTX_LID_FIRST:
                self._register(lid, RecType.EVT, path, key)
        return keys, recs
