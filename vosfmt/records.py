"""Decoded records and their byte codecs (fast paths over vosfmt.layout): the building
blocks (tree roots, incarnation logs, out-of-line bytes) and the records of the keyed
trees (containers, objects, dkeys and akeys) and of the VEA.

Each ``dec_*`` takes the raw value bytes of a tree record and returns a
record object; each ``enc_*`` does the reverse. They use ``struct`` layouts
derived from the construct declarations, so the declarations remain the
source of truth; ``tests/test_layout.py`` checks both agree byte for byte.
Decoders raise ``struct.error`` (or IndexError / ValueError) on malformed
input; ``record_decoding.guarded`` turns that into ``CorruptionError``.
Values are in ``value_records``, DTX table rows in ``dtx_records``.
"""
from __future__ import annotations

import struct

from . import layout as L
from .codec import fast, int_field
from .constants import (
    DTX_LID_ABORTED,
    DTX_LID_COMMITTED,
    DTX_LID_SOLO_FLAG,
    IlogStatus,
    KrecFlags,
    Media,
    TreeClass,
)
from .keys import Oid
from .recordtype import Record

_ROOT = fast(L.tree_root_fixed)
_ILOG_HDR = fast(L.ilog_header)
_ILOG_ENT = fast(L.ilog_entry)
_EXTB = fast(L.ext_bytes_fixed)
_CONT = fast(L.container_rec_fixed)
_OBJ = fast(L.object_rec_fixed)
_VEA = fast(L.vea_rec)
#: one incarnation-log entry: (epoch, tx_id, punch_minor, update_minor)
ILOG_ENTRY = _ILOG_ENT.struct


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
    expect_end(buf, pos)
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
    expect_end(buf, pos)
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

    def __init__(self, flags: int, ilog: Ilog | None = None, child_root: TreeRoot | None = None):
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
    def value_kind(self) -> str | None:
        """'sv' or 'array' for an akey that holds values, else None."""
        return value_kind_of(self.flags)


def value_kind_of(flags: int) -> str | None:
    """'sv' or 'array' for the flags of an akey that holds values, else None."""
    return _VALUE_KIND[flags & _KIND_BITS]


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
    return _KEY_FLAGS_FIELD.pack(k.flags) + enc_ilog(k.ilog) + enc_root(k.child_root)


_KEY_FLAGS_FIELD = int_field(L.key_rec, "flags")
_KEY_HEAD = struct.Struct(_KEY_FLAGS_FIELD.format + _ILOG_HDR.struct.format[1:])  # + ilog header


def dec_key(buf) -> KeyRec:
    """The hottest decoder: one per dkey and akey listed or walked."""
    if type(buf) is not bytes:
        buf = bytes(buf)                # so the slices below are bytes
    flags, nr, ilflags, mod = _KEY_HEAD_UNPACK(buf, 0)
    ilog_end = _KEY_HEAD_SIZE + nr * _ILOG_ENT_SIZE
    page, count, tclass, kk, depth, rflags, elen = _ROOT_UNPACK(buf, ilog_end)
    pos = ilog_end + _ROOT_SIZE
    if pos + elen != len(buf):
        expect_end(buf, pos + elen)    # raises, naming the sizes
    return KeyRec(flags, (buf[_KEY_HEAD_SIZE:ilog_end], ilflags, mod),
                  TreeRoot(tclass, kk, page, count, depth, rflags, buf[pos:]))


_KEY_HEAD_UNPACK, _KEY_HEAD_SIZE = _KEY_HEAD.unpack_from, _KEY_HEAD.size
_ROOT_UNPACK, _ROOT_SIZE, _ILOG_ENT_SIZE = _ROOT.unpack_from, _ROOT.size, _ILOG_ENT.size


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
    expect_end(buf, _VEA.size)
    return cnt, age


def expect_end(buf, pos: int) -> None:
    """Raise unless a record's fields end where its bytes do."""
    if pos != len(buf):
        raise struct.error(f"record is {len(buf)} bytes, its fields end at {pos}")
