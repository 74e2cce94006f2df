"""The records of stored values: single-value versions and array extents, and their codecs.

Fast paths over ``layout.sv_rec`` and ``layout.ext_rec`` (see ``records``):
these decoders run once per value listed or walked, so each is kept to one
unpack and a few slices.
"""
from __future__ import annotations

import struct

from . import layout as L
from .codec import fast
from .constants import AddrFlags, Media
from .records import ExtBytes, dec_extb, enc_extb, expect_end
from .recordtype import Record

_SV = fast(L.sv_rec_fixed)
_EXT = fast(L.ext_rec_fixed)


class SingleValue(Record):
    """One version of a single value (DAOS vos_irec_df)."""
    __slots__ = ("epoch", "size", "minor", "dtx_lid", "ver", "media", "aflags", "gsize", "off",
                 "csum_type", "csum", "data")

    def __init__(self, epoch: int, size: int, minor: int = 0, dtx_lid: int = 0, ver: int = 0,
                 media: int = Media.INLINE, aflags: int = 0, gsize: int = 0, off: int = 0,
                 csum_type: int = 0, csum: bytes = b"", data: bytes | None = None):
        self.epoch = epoch
        self.size = size
        self.minor = minor
        self.dtx_lid = dtx_lid
        self.ver = ver
        self.media = media
        self.aflags = aflags
        self.gsize = gsize
        self.off = off
        self.csum_type = csum_type
        self.csum = csum
        self.data = data  # inline bytes (media INLINE)

    @property
    def is_punch(self) -> bool:
        return self.size == 0 or bool(self.aflags & AddrFlags.HOLE)


def enc_sv(v: SingleValue) -> bytes:
    head = _SV.pack(v.minor, v.csum_type, len(v.csum), v.dtx_lid, v.ver, v.media, v.aflags, 0,
                    v.size, v.gsize, v.off)
    if v.media == Media.INLINE:
        return head + v.csum + (v.data or b"")
    return head + v.csum


def dec_sv(buf, epoch: int) -> SingleValue:
    """One per value walked or listed: kept to one unpack, two slices and one object."""
    if type(buf) is not bytes:
        buf = bytes(buf)                # so the slices below are bytes
    minor, ct, cl, lid, ver, media, af, _pad, size, gsize, off = _SV_UNPACK(buf, 0)
    pos = _SV_SIZE + cl
    csum = buf[_SV_SIZE:pos]
    data = None
    if media == _INLINE:
        data = buf[pos:pos + size]
        pos += size
    if pos != len(buf):
        expect_end(buf, pos)           # raises, naming the sizes
    return SingleValue(epoch, size, minor, lid, ver, media, af, gsize, off, ct, csum, data)


_SV_UNPACK, _SV_SIZE, _INLINE = _SV.unpack_from, _SV.size, int(Media.INLINE)


class Extent(Record):
    """One stored array extent (DAOS evtree rectangle + evt_desc)."""
    __slots__ = ("lo", "nr", "epoch", "minor", "rsize", "dtx_lid", "ver", "media", "aflags",
                 "off", "csum_type", "csum_len", "chunk_size", "csums", "data")

    def __init__(self, lo: int, nr: int, epoch: int, minor: int = 0, rsize: int = 1,
                 dtx_lid: int = 0, ver: int = 0, media: int = Media.INLINE, aflags: int = 0,
                 off: int = 0, csum_type: int = 0, csum_len: int = 0, chunk_size: int = 0,
                 csums: ExtBytes | None = None, data: bytes | None = None):
        self.lo = lo
        self.nr = nr
        self.epoch = epoch
        self.minor = minor
        self.rsize = rsize
        self.dtx_lid = dtx_lid
        self.ver = ver
        self.media = media
        self.aflags = aflags
        self.off = off
        self.csum_type = csum_type
        self.csum_len = csum_len
        self.chunk_size = chunk_size
        self.csums = ExtBytes() if csums is None else csums
        self.data = data

    @property
    def hi(self) -> int:
        return self.lo + self.nr - 1

    @property
    def is_punch(self) -> bool:
        return bool(self.aflags & AddrFlags.HOLE)

    @property
    def nbytes(self) -> int:
        return 0 if self.is_punch else self.nr * self.rsize


def enc_extent(e: Extent) -> bytes:
    head = _EXT.pack(e.nr, e.rsize, e.dtx_lid, e.ver, e.csum_type, e.csum_len, e.media,
                     e.aflags, e.chunk_size, e.off)
    tail = e.data or b"" if e.media == Media.INLINE and not e.is_punch else b""
    return head + enc_extb(e.csums) + tail


def dec_extent(buf, lo: int, epoch: int, minor: int) -> Extent:
    nr, rsize, lid, ver, ct, cl, media, af, cz, off = _EXT.unpack_from(buf, 0)
    csums, pos = dec_extb(buf, _EXT.size)
    data = None
    if media == Media.INLINE and not af & AddrFlags.HOLE:
        n = nr * rsize
        data = bytes(buf[pos:pos + n])
        if len(data) != n:
            raise struct.error("inline extent data runs past its record")
        pos += n
    expect_end(buf, pos)
    return Extent(lo, nr, epoch, minor, rsize, lid, ver, media, af, off, ct, cl, cz, csums, data)


_INDEX_END = 1 << 64        # an extent's records lie in the array's 64-bit index space


def extent_fault(x: Extent) -> str | None:
    """Why an extent's record count cannot be right, from what repeats it: the index space,
    and the checksums, one per chunk of ``chunk_size`` bytes cut at absolute offsets (a hole
    has none). Inline data repeats it too (``nr * rsize`` bytes, checked by the decoder)."""
    nr, rsize, n = x.nr, x.rsize, x.csums.len
    if nr < 1 or rsize < 1 or x.lo + nr > _INDEX_END:
        return f"extent of {nr} record(s) of {rsize} byte(s) from index {x.lo}"
    if x.aflags & AddrFlags.HOLE:
        return f"a hole with {n} bytes of checksums" if n else None
    if x.csum_len and x.chunk_size > 0:
        start, end = x.lo * rsize, (x.lo + nr) * rsize
        chunks = (end - 1) // x.chunk_size - start // x.chunk_size + 1
        if n != x.csum_len * chunks:
            return (f"{n} bytes of checksums for {nr} record(s) of {rsize} byte(s) "
                    f"({chunks} chunk(s) of {x.csum_len})")
    return None
