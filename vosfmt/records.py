"""Decoded records and their byte codecs (fast paths over vosfmt.layout).

Each ``dec_*`` takes the raw value bytes of a tree record and returns a
record object; each ``enc_*`` does the reverse. They use ``struct`` layouts
derived from the construct declarations, so the declarations remain the
source of truth; ``tests/test_layout.py`` checks both agree byte for byte.
Decoders raise ``CorruptionError`` on malformed input, never
``struct.error``.
"""
from __future__ import annotations

import struct

from . import layout as L
from .codec import fast
from .constants import (DTX_LID_ABORTED, DTX_LID_COMMITTED, DTX_LID_SOLO_FLAG, AddrFlags,
                        IlogStatus, KrecFlags, Media, TreeClass)
from .errors import CorruptionError
from .keys import Oid, Xid, epoch_from_key, extent_from_key, oid_key, xid_from_key
from .recordtype import Record

_ROOT = fast(L.tree_root_fixed)
_ILOG_HDR = fast(L.ilog_header)
_ILOG_ENT = fast(L.ilog_entry)
_EXTB = fast(L.ext_bytes_fixed)
_CONT = fast(L.container_rec_fixed)
_OBJ = fast(L.object_rec_fixed)
_SV = fast(L.sv_rec_fixed)
_EXT = fast(L.ext_rec_fixed)
_DTXA = fast(L.dtx_act_rec_fixed)
_DTXC = fast(L.dtx_cmt_rec)
_VEA = fast(L.vea_rec)
_U8 = struct.Struct("<B")
_REF_OID = fast(L.unit_oid)
_OID_KEY_SIZE = len(oid_key(Oid(0, 0)))


# --- building blocks ------------------------------------------------------------

class TreeRoot(Record):
    """A B+tree root descriptor; ``embed`` holds an embedded single leaf."""
    __slots__ = ("tclass", "key_kind", "page", "count", "depth", "flags", "embed")

    def __init__(self, tclass: int, key_kind: int = 0, page: int = 0, count: int = 0,
                 depth: int = 0, flags: int = 0, embed: bytes = b""):
        self.tclass = tclass
        self.key_kind = key_kind
        self.page = page
        self.count = count
        self.depth = depth
        self.flags = flags
        self.embed = embed

    @property
    def empty(self) -> bool:
        return self.count == 0


def enc_root(r: TreeRoot) -> bytes:
    return _ROOT.pack(r.page, r.count, r.tclass, r.key_kind, r.depth, r.flags,
                      len(r.embed)) + r.embed


def dec_root(buf, pos: int) -> tuple[TreeRoot, int]:
    page, count, tclass, kk, depth, flags, elen = _ROOT.unpack_from(buf, pos)
    pos += _ROOT.size
    embed = bytes(buf[pos:pos + elen])
    if len(embed) != elen:
        raise struct.error("embedded tree runs past its record")
    return TreeRoot(tclass, kk, page, count, depth, flags, embed), pos + elen


class IlogEntry(Record):
    __slots__ = ("epoch", "tx_id", "punch_minor", "update_minor")

    def __init__(self, epoch: int, tx_id: int = DTX_LID_COMMITTED, punch_minor: int = 0,
                 update_minor: int = 1):
        self.epoch = epoch
        self.tx_id = tx_id
        self.punch_minor = punch_minor
        self.update_minor = update_minor

    @property
    def is_punch(self) -> bool:
        return self.punch_minor > self.update_minor

    @property
    def minor(self) -> int:
        return max(self.punch_minor, self.update_minor)

    def status(self, active_lids=None) -> IlogStatus:
        """Status as ddb shows it; ``active_lids`` is the container's live LID set."""
        if self.tx_id == DTX_LID_COMMITTED or self.tx_id & DTX_LID_SOLO_FLAG:
            return IlogStatus.COMMITTED
        if self.tx_id == DTX_LID_ABORTED:
            return IlogStatus.REMOVED
        if active_lids is not None and self.tx_id not in active_lids:
            return IlogStatus.INVALID
        return IlogStatus.UNCOMMITTED


class Ilog(Record):
    __slots__ = ("entries", "flags", "mod_count")

    def __init__(self, entries: list | None = None, flags: int = 0, mod_count: int = 0):
        self.entries = [] if entries is None else entries
        self.flags = flags
        self.mod_count = mod_count


def enc_ilog(il: Ilog) -> bytes:
    out = [_ILOG_HDR.pack(len(il.entries), il.flags, il.mod_count & 0xFFFF)]
    out.extend(_ILOG_ENT.pack(e.epoch, e.tx_id, e.punch_minor, e.update_minor) for e in il.entries)
    return b"".join(out)


def dec_ilog(buf, pos: int) -> tuple[Ilog, int]:
    nr, flags, mod = _ILOG_HDR.unpack_from(buf, pos)
    pos += _ILOG_HDR.size
    end = pos + nr * _ILOG_ENT.size
    if end > len(buf):
        raise struct.error("ilog runs past its record")
    return Ilog(_ilog_entries(buf[pos:end]), flags, mod), end


def _ilog_entries(raw) -> list:
    return [IlogEntry(*t) for t in _ILOG_ENT.struct.iter_unpack(raw)]


class ExtBytes(Record):
    """Bytes inline in a record (``data``) or in a run of shard pages at ``off``."""
    __slots__ = ("media", "len", "off", "data")

    def __init__(self, media: int = Media.INLINE, len: int = 0, off: int = 0,
                 data: bytes | None = b""):
        self.media = media
        self.len = len
        self.off = off
        self.data = data


def enc_extb(x: ExtBytes) -> bytes:
    head = _EXTB.pack(x.media, x.len, x.off)
    return head + x.data if x.media == Media.INLINE else head


def dec_extb(buf, pos: int) -> tuple[ExtBytes, int]:
    media, n, off = _EXTB.unpack_from(buf, pos)
    pos += _EXTB.size
    if media == Media.INLINE:
        data = bytes(buf[pos:pos + n])
        if len(data) != n:
            raise struct.error("inline bytes run past their record")
        return ExtBytes(media, n, off, data), pos + n
    return ExtBytes(media, n, off, None), pos


# --- tree records -----------------------------------------------------------------

class ContainerRec(Record):
    __slots__ = ("uuid", "hae", "newest_aggregated", "global_stable_epoch", "csum_type",
                 "chunk_size", "obj_root", "dtx_act_root", "dtx_cmt_root")

    def __init__(self, uuid: bytes, hae: int = 0, newest_aggregated: int = 0,
                 global_stable_epoch: int = 0, csum_type: int = 0, chunk_size: int = 0,
                 obj_root: TreeRoot | None = None, dtx_act_root: TreeRoot | None = None,
                 dtx_cmt_root: TreeRoot | None = None):
        self.uuid = uuid
        self.hae = hae
        self.newest_aggregated = newest_aggregated
        self.global_stable_epoch = global_stable_epoch
        self.csum_type = csum_type
        self.chunk_size = chunk_size
        self.obj_root = TreeRoot(TreeClass.OBJ_TABLE) if obj_root is None else obj_root
        self.dtx_act_root = TreeRoot(TreeClass.DTX_ACT) if dtx_act_root is None else dtx_act_root
        self.dtx_cmt_root = TreeRoot(TreeClass.DTX_CMT) if dtx_cmt_root is None else dtx_cmt_root

    SUBTREES = ("obj_root", "dtx_act_root", "dtx_cmt_root")


def enc_container(c: ContainerRec) -> bytes:
    return b"".join((_CONT.pack(c.uuid, c.hae, c.newest_aggregated, c.global_stable_epoch,
                                c.csum_type, 0, c.chunk_size),
                     enc_root(c.obj_root), enc_root(c.dtx_act_root), enc_root(c.dtx_cmt_root)))


def dec_container(buf) -> ContainerRec:
    u, hae, na, gse, ct, _pad, cz = _CONT.unpack_from(buf, 0)
    r1, pos = dec_root(buf, _CONT.size)
    r2, pos = dec_root(buf, pos)
    r3, pos = dec_root(buf, pos)
    _expect_end(buf, pos)
    return ContainerRec(u, hae, na, gse, ct, cz, r1, r2, r3)


class ObjectRec(Record):
    __slots__ = ("oid", "sync_epoch", "max_write", "ilog", "dkey_root")

    def __init__(self, oid: Oid, sync_epoch: int = 0, max_write: int = 0,
                 ilog: Ilog | None = None, dkey_root: TreeRoot | None = None):
        self.oid = oid
        self.sync_epoch = sync_epoch
        self.max_write = max_write
        self.ilog = Ilog() if ilog is None else ilog
        self.dkey_root = TreeRoot(TreeClass.DKEY) if dkey_root is None else dkey_root

    SUBTREES = ("dkey_root",)


def enc_object(o: ObjectRec) -> bytes:
    return b"".join((_OBJ.pack(*o.oid, o.sync_epoch, o.max_write), enc_ilog(o.ilog),
                     enc_root(o.dkey_root)))


def dec_object(buf) -> ObjectRec:
    hi, lo, shard, layout, sync, maxw = _OBJ.unpack_from(buf, 0)
    il, pos = dec_ilog(buf, _OBJ.size)
    root, pos = dec_root(buf, pos)
    _expect_end(buf, pos)
    return ObjectRec(Oid(hi, lo, shard, layout), sync, maxw, il, root)


class KeyRec(Record):
    """A dkey or akey record; the key bytes are the tree key (see keys.dkey_uncollate).

    Listings and walks decode one of these per key but rarely look at its
    incarnation log, so ``dec_key`` keeps the log's bytes and ``ilog``
    decodes them on first use (the bytes were bounds-checked already).
    """
    __slots__ = ("flags", "_ilog", "child_root")
    FIELDS = ("flags", "ilog", "child_root")
    SUBTREES = ("child_root",)

    def __init__(self, flags: int, ilog: "Ilog | None" = None, child_root: TreeRoot | None = None):
        self.flags = flags
        self._ilog = Ilog() if ilog is None else ilog
        self.child_root = TreeRoot(TreeClass.AKEY) if child_root is None else child_root

    @property
    def ilog(self) -> Ilog:
        il = self._ilog
        if type(il) is tuple:           # (entry bytes, flags, mod_count) from dec_key
            raw, flags, mod = il
            il = self._ilog = Ilog(_ilog_entries(raw), flags, mod)
        return il

    @ilog.setter
    def ilog(self, value: Ilog) -> None:
        self._ilog = value

    def ilog_tuples(self):
        """(epoch, tx_id, punch_minor, update_minor) per log entry, without entry objects."""
        il = self._ilog
        if type(il) is tuple:
            return _ILOG_ENT.struct.iter_unpack(il[0])
        return [(e.epoch, e.tx_id, e.punch_minor, e.update_minor) for e in il.entries]

    @property
    def is_dkey(self) -> bool:
        return bool(self.flags & KrecFlags.DKEY)

    @property
    def value_kind(self) -> str | None:
        """'sv' or 'array' for an akey that holds values, else None."""
        return _VALUE_KIND[self.flags & _KIND_BITS]


_KIND_BITS = KrecFlags.DKEY | KrecFlags.EVT | KrecFlags.BTR
_VALUE_KIND = [None if b & KrecFlags.DKEY else "array" if b & KrecFlags.EVT
               else "sv" if b & KrecFlags.BTR else None for b in range(_KIND_BITS + 1)]

#: the flags a key record has by the class of the tree below it: the two say the same
#: thing, so a key whose flags disagree with its child tree is damaged
_KEY_FLAGS = {TreeClass.AKEY: KrecFlags.DKEY, TreeClass.SINGV: KrecFlags.BTR,
              TreeClass.EVT: KrecFlags.EVT}


def key_flags_for(tclass: int) -> int | None:
    """The flags of a key record whose child tree is of class ``tclass`` (None: no key has
    such a child)."""
    return _KEY_FLAGS.get(tclass)


def enc_key(k: KeyRec) -> bytes:
    return _U8.pack(k.flags) + enc_ilog(k.ilog) + enc_root(k.child_root)


_KEY_HEAD = struct.Struct("<B" + _ILOG_HDR.struct.format.lstrip("<"))   # flags + ilog header


def dec_key(buf) -> KeyRec:
    """The hottest decoder: one per dkey and akey listed or walked."""
    if type(buf) is not bytes:
        buf = bytes(buf)                # so the slices below are bytes
    flags, nr, ilflags, mod = _KEY_HEAD_UNPACK(buf, 0)
    ilog_end = _KEY_HEAD_SIZE + nr * _ILOG_ENT_SIZE
    page, count, tclass, kk, depth, rflags, elen = _ROOT_UNPACK(buf, ilog_end)
    pos = ilog_end + _ROOT_SIZE
    if pos + elen != len(buf):
        _expect_end(buf, pos + elen)    # raises, naming the sizes
    return KeyRec(flags, (buf[_KEY_HEAD_SIZE:ilog_end], ilflags, mod),
                  TreeRoot(tclass, kk, page, count, depth, rflags, buf[pos:]))


_KEY_HEAD_UNPACK, _KEY_HEAD_SIZE = _KEY_HEAD.unpack_from, _KEY_HEAD.size
_ROOT_UNPACK, _ROOT_SIZE, _ILOG_ENT_SIZE = _ROOT.unpack_from, _ROOT.size, _ILOG_ENT.size


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
        _expect_end(buf, pos)           # raises, naming the sizes
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
    _expect_end(buf, pos)
    return Extent(lo, nr, epoch, minor, rsize, lid, ver, media, af, off, ct, cl, cz, csums, data)


_INDEX_END = 1 << 64        # an extent's records lie in the array's 64-bit index space


def extent_fault(x: "Extent") -> str | None:
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


class DtxRecRef(Record):
    """Logical reference from an active DTX entry to one record it wrote."""
    __slots__ = ("type", "oid", "dkey", "akey", "vkey")

    def __init__(self, type: int, oid: Oid, dkey: bytes = b"", akey: bytes = b"",
                 vkey: bytes = b""):
        self.type = type
        self.oid = oid
        self.dkey = dkey
        self.akey = akey
        self.vkey = vkey  # collated epoch (SVT) / extent key (EVT)


def enc_refs(refs) -> bytes:
    out = []
    for r in refs:
        out.append(_U8.pack(r.type) + _REF_OID.pack(*r.oid))
        out.append(len(r.dkey).to_bytes(2, "little") + r.dkey)
        out.append(len(r.akey).to_bytes(2, "little") + r.akey)
        out.append(_U8.pack(len(r.vkey)) + r.vkey)
    return b"".join(out)


def dec_refs(buf, count: int) -> list[DtxRecRef]:
    refs, pos = [], 0
    try:
        for _ in range(count):
            t = buf[pos]
            oid = Oid(*_REF_OID.unpack_from(buf, pos + 1))
            pos += 1 + _REF_OID.size
            parts = []
            for width in (2, 2, 1):
                n = int.from_bytes(buf[pos:pos + width], "little")
                pos += width
                parts.append(bytes(buf[pos:pos + n]))
                if len(parts[-1]) != n:
                    raise struct.error("reference runs past its list")
                pos += n
            refs.append(DtxRecRef(t, oid, *parts))
    except IndexError:
        raise struct.error("reference list truncated") from None
    if pos != len(buf):
        raise struct.error("trailing bytes after the reference list")
    return refs


class DtxActive(Record):
    """An active (prepared, not yet committed) DTX entry."""
    __slots__ = ("xid", "epoch", "lid", "flags", "mbs_flags", "ver", "tgt_cnt", "grp_cnt", "oid",
                 "dkey_hash", "rec_cnt", "records", "mbs")

    def __init__(self, xid: Xid, epoch: int, lid: int, flags: int = 0, mbs_flags: int = 0,
                 ver: int = 0, tgt_cnt: int = 1, grp_cnt: int = 1, oid: Oid = Oid(0, 0),
                 dkey_hash: int = 0, rec_cnt: int = 0, records: ExtBytes | None = None,
                 mbs: ExtBytes | None = None):
        self.xid = xid
        self.epoch = epoch
        self.lid = lid
        self.flags = flags
        self.mbs_flags = mbs_flags
        self.ver = ver
        self.tgt_cnt = tgt_cnt
        self.grp_cnt = grp_cnt
        self.oid = oid
        self.dkey_hash = dkey_hash
        self.rec_cnt = rec_cnt
        self.records = ExtBytes() if records is None else records
        self.mbs = ExtBytes() if mbs is None else mbs


def enc_dtx_active(d: DtxActive) -> bytes:
    return (_DTXA.pack(d.epoch, d.lid, d.flags, d.mbs_flags, d.ver, d.tgt_cnt, d.grp_cnt,
                       *d.oid, d.dkey_hash, d.rec_cnt) + enc_extb(d.records) + enc_extb(d.mbs))


def dec_dtx_active(buf, xid: Xid) -> DtxActive:
    (epoch, lid, flags, mbsf, ver, tgt, grp, hi, lo, shard, layout, dh,
     rc) = _DTXA.unpack_from(buf, 0)
    recs, pos = dec_extb(buf, _DTXA.size)
    mbs, pos = dec_extb(buf, pos)
    _expect_end(buf, pos)
    return DtxActive(xid, epoch, lid, flags, mbsf, ver, tgt, grp, Oid(hi, lo, shard, layout),
                     dh, rc, recs, mbs)


class DtxCommitted(Record):
    __slots__ = ("xid", "epoch", "cmt_time")

    def __init__(self, xid: Xid, epoch: int, cmt_time: int):
        self.xid = xid
        self.epoch = epoch
        self.cmt_time = cmt_time


def enc_dtx_committed(d: DtxCommitted) -> bytes:
    return _DTXC.pack(d.epoch, d.cmt_time)


def dec_dtx_committed(buf, xid: Xid) -> DtxCommitted:
    epoch, t = _DTXC.unpack_from(buf, 0)
    _expect_end(buf, _DTXC.size)
    return DtxCommitted(xid, epoch, t)


class FreeExtent(Record):
    """A free region of the NVMe blob, in blocks (DAOS vea_free_extent)."""
    __slots__ = ("off", "cnt", "age")

    def __init__(self, off: int, cnt: int, age: int = 0):
        self.off = off
        self.cnt = cnt
        self.age = age


def enc_vea(cnt: int, age: int = 0) -> bytes:
    return _VEA.pack(cnt, age)


def dec_vea(buf) -> tuple[int, int]:
    cnt, age = _VEA.unpack_from(buf, 0)
    _expect_end(buf, _VEA.size)
    return cnt, age


def _expect_end(buf, pos: int) -> None:
    if pos != len(buf):
        raise struct.error(f"record is {len(buf)} bytes, its fields end at {pos}")


#: tree class -> (decode, encode, record structure name); used by generic code.
def record_name(tclass: int) -> str:
    return {
        TreeClass.CONT_TABLE: "container_rec", TreeClass.OBJ_TABLE: "object_rec",
        TreeClass.DKEY: "key_rec", TreeClass.AKEY: "key_rec", TreeClass.SINGV: "sv_rec",
        TreeClass.EVT: "ext_rec", TreeClass.DTX_ACT: "dtx_act_rec",
        TreeClass.DTX_CMT: "dtx_cmt_rec", TreeClass.VEA: "vea_rec",
    }.get(tclass, "record")


def path_text(path) -> str | None:
    """Error paths may be given lazily (a callable or a handle with ``.path``)."""
    if path is None or isinstance(path, str):
        return path
    if callable(path):
        return path()
    return getattr(path, "path", str(path))


def guarded(fn, buf, *args, offset=None, tclass=0, path=None):
    """Call a decoder, turning malformed bytes into CorruptionError.

    ``path`` may be lazy (see path_text) so the hot path never formats it.
    """
    try:
        return fn(buf, *args)
    except (struct.error, IndexError, ValueError) as e:
        raise malformed(e, tclass, path, offset) from None


def malformed(e: Exception, tclass: int, path=None, offset=None) -> CorruptionError:
    """The CorruptionError for a record whose bytes did not decode (``e``)."""
    return CorruptionError(f"malformed {record_name(tclass)} ({e})", offset=offset,
                           structure=record_name(tclass), path=path_text(path))


def _keyed(size: int, dec):
    """A decoder that also checks its key's size (keys the record itself cannot check)."""
    def check(k, v):
        if len(k) != size:
            raise struct.error(f"key is {len(k)} bytes, expected {size}")
        return dec(v)
    return check


_DECODERS = {
    TreeClass.CONT_TABLE: _keyed(16, dec_container),
    TreeClass.OBJ_TABLE: _keyed(_OID_KEY_SIZE, dec_object),
    TreeClass.DKEY: lambda k, v: dec_key(v),
    TreeClass.AKEY: lambda k, v: dec_key(v),
    TreeClass.SINGV: lambda k, v: dec_sv(v, epoch_from_key(k)),
    TreeClass.EVT: lambda k, v: dec_extent(v, *extent_from_key(k)),
    TreeClass.DTX_ACT: lambda k, v: dec_dtx_active(v, xid_from_key(k)),
    TreeClass.DTX_CMT: lambda k, v: dec_dtx_committed(v, xid_from_key(k)),
    TreeClass.VEA: _keyed(8, dec_vea),
}


def record_decoder(tclass: int):
    """The decoder ``(key, value) -> record`` of a tree class."""
    try:
        return _DECODERS[tclass]
    except KeyError:
        raise ValueError(f"unknown tree class {tclass}") from None


def _checked_extent(k, v) -> Extent:
    x = _DECODERS[TreeClass.EVT](k, v)
    fault = extent_fault(x)
    if fault:
        raise ValueError(fault)
    return x


def checked_decoder(tclass: int):
    """``record_decoder`` plus the checks across fields that readers do not need but a
    checker must make (an extent's count against its checksums): the checker's decoder."""
    return _checked_extent if tclass == TreeClass.EVT else record_decoder(tclass)


def decode_record(tclass: int, key: bytes, value: bytes):
    """Decode any tree record from its collated key and value bytes (by tree class)."""
    return record_decoder(tclass)(key, value)
