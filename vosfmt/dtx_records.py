"""The records of a container's DTX tables (active and committed entries) and the
record references an active entry keeps, with their codecs (fast paths over layout.py)."""
from __future__ import annotations

import struct

from . import layout as L
from .codec import fast, int_field
from .keys import Oid, Xid
from .records import ExtBytes, dec_extb, enc_extb, expect_end
from .recordtype import Record

_DTXA = fast(L.dtx_act_rec_fixed)
_DTXC = fast(L.dtx_cmt_rec)
_REF_HEAD = fast(L.dtx_rec_ref)                 # type, oid, dkey_len: what precedes the dkey
_AKEY_LEN = int_field(L.dtx_rec_ref, "akey_len")
_VKEY_LEN = int_field(L.dtx_rec_ref, "vkey_len")


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
        out += (_REF_HEAD.pack(r.type, *r.oid, len(r.dkey)), r.dkey,
                _AKEY_LEN.pack(len(r.akey)), r.akey, _VKEY_LEN.pack(len(r.vkey)), r.vkey)
    return b"".join(out)


def dec_refs(buf, count: int) -> list[DtxRecRef]:
    refs, pos = [], 0
    for _ in range(count):
        if pos >= len(buf):
            raise struct.error("reference list truncated")
        t, hi, lo, shard, layout, n = _REF_HEAD.unpack_from(buf, pos)
        dkey, pos = _ref_bytes(buf, pos + _REF_HEAD.size, n)
        (n,) = _AKEY_LEN.unpack_from(buf, pos)
        akey, pos = _ref_bytes(buf, pos + _AKEY_LEN.size, n)
        (n,) = _VKEY_LEN.unpack_from(buf, pos)
        vkey, pos = _ref_bytes(buf, pos + _VKEY_LEN.size, n)
        refs.append(DtxRecRef(t, Oid(hi, lo, shard, layout), dkey, akey, vkey))
    if pos != len(buf):
        raise struct.error("trailing bytes after the reference list")
    return refs


def _ref_bytes(buf, pos: int, n: int) -> tuple[bytes, int]:
    raw = bytes(buf[pos:pos + n])
    if len(raw) != n:
        raise struct.error("reference runs past its list")
    return raw, pos + n


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
    expect_end(buf, pos)
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
    expect_end(buf, _DTXC.size)
    return DtxCommitted(xid, epoch, t)
