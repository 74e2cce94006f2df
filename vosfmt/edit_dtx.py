"""Edits of a container's DTX tables: active entries with their record references, and
committed entries.

The part of ``Transaction`` that owns the local-id index of each container
(``OpenRecord.lids``: which active entry holds which local id) and the
decoded reference list of each active entry it touches, written back at
commit by ``_store_refs``. Values and log entries written under an active
local id are registered here (``_register``). Resolution (commit, abort,
discard) is ``vosfmt.dtx``, built on these calls.
"""
from __future__ import annotations

from .constants import DTX_LID_FIRST, TreeClass
from .dtx_records import (
    DtxActive,
    DtxCommitted,
    DtxRecRef,
    dec_dtx_active,
    dec_dtx_committed,
    dec_refs,
    enc_dtx_active,
    enc_dtx_committed,
    enc_refs,
)
from .edit_records import OpenRecord, OpenTree
from .errors import NotFoundError, TransactionError
from .keys import Xid, uuid_str, xid_from_key, xid_key
from .records import ExtBytes

REFS_INLINE_MAX = 256           # a reference list longer than this goes to shard pages


class DtxEdits:
    """Active and committed DTX entries of a container."""

    def _act_tree(self, c: OpenRecord) -> OpenTree:
        return self._sub(c, "dtx_act_root", "/" + uuid_str(c.rec.uuid) + " (dtx)")

    def _lids(self, c: OpenRecord) -> dict:
        if c.lids is None:
            c.lids = {}
            t = self._act_tree(c)
            for k, v in t.items():
                o = t.opened.get(k)
                lid = o.rec.lid if o is not None else dec_dtx_active(v, xid_from_key(k)).lid
                c.lids[lid] = k
        return c.lids

    def put_dtx_active(self, cuuid, entry: DtxActive, refs=()) -> None:
        """Create or replace an active DTX entry (its record references with it)."""
        self._check_open()
        c = self._cont(cuuid)
        if entry.lid < DTX_LID_FIRST:
            raise TransactionError(f"active DTX local id must be >= {DTX_LID_FIRST}")
        lids = self._lids(c)
        key = xid_key(entry.xid)
        if lids.get(entry.lid, key) != key:
            raise TransactionError(f"local id {entry.lid} is already used by another DTX entry")
        t = self._act_tree(c)
        old = self._open(t, key)
        if old is not None:
            self._release_record(TreeClass.DTX_ACT, old.rec)
            if old.rec.lid != entry.lid:
                lids.pop(old.rec.lid, None)
        o = OpenRecord(entry.replace(records=ExtBytes(), mbs=entry.mbs))
        o.refs = list(refs)
        o.dirty = True
        t.opened[key] = o
        t.put(key, enc_dtx_active(o.rec))
        lids[entry.lid] = key

    def dtx_active(self, cuuid, xid: Xid) -> DtxActive | None:
        c = self._cont(cuuid)
        o = self._open(self._act_tree(c), xid_key(xid))
        return None if o is None else o.rec

    def dtx_active_entries(self, cuuid) -> list[DtxActive]:
        """Every active DTX entry of a container, as this transaction sees it."""
        c = self._cont(cuuid)
        t = self._act_tree(c)
        out = []
        for k, v in t.items():
            o = t.opened.get(k)
            out.append(o.rec if o is not None else dec_dtx_active(v, xid_from_key(k)))
        return out

    def update_dtx_active(self, cuuid, xid: Xid, **fields) -> None:
        """Change fields of an active DTX entry in place (its oid, group count...: the
        checker's repairs); its local id and record references have their own calls."""
        self._check_open()
        c = self._cont(cuuid)
        o = self._open(self._act_tree(c), xid_key(xid))
        if o is None:
            raise NotFoundError(f"no active DTX {xid}")
        for k, v in fields.items():
            if k in ("xid", "lid", "rec_cnt", "records", "mbs") or not hasattr(o.rec, k):
                raise TransactionError(f"cannot set active DTX field {k!r}")
            setattr(o.rec, k, v)
        o.dirty = True

    def dtx_refs(self, cuuid, xid: Xid) -> list[DtxRecRef]:
        c = self._cont(cuuid)
        o = self._open(self._act_tree(c), xid_key(xid))
        if o is None:
            raise NotFoundError(f"no active DTX {xid}")
        return list(self._refs_of(o))

    def _refs_of(self, o: OpenRecord) -> list:
        if o.refs is None:
            raw = self.shard.ext_bytes(o.rec.records, None, "dtx record list")
            o.refs = dec_refs(raw, o.rec.rec_cnt)
        return o.refs

    def set_dtx_refs(self, cuuid, xid: Xid, refs) -> None:
        c = self._cont(cuuid)
        o = self._open(self._act_tree(c), xid_key(xid))
        if o is None:
            raise NotFoundError(f"no active DTX {xid}")
        o.refs = list(refs)
        o.dirty = True

    def _register(self, cuuid, lid: int, ref: DtxRecRef) -> None:
        c = self._cont(cuuid)
        key = self._lids(c).get(lid)
        if key is None:
            raise TransactionError(f"no active DTX entry with local id {lid} in container "
                                   f"{uuid_str(c.rec.uuid)}")
        o = self._open(self._act_tree(c), key)
        refs = self._refs_of(o)
        if ref not in refs:
            refs.append(ref)
            o.dirty = True

    def delete_dtx_active(self, cuuid, xid: Xid) -> None:
        self._check_open()
        c = self._cont(cuuid)
        t = self._act_tree(c)
        o = self._open(t, xid_key(xid))
        if o is None:
            raise NotFoundError(f"no active DTX {xid}")
        self._lids(c).pop(o.rec.lid, None)
        self._delete(t, xid_key(xid), f"active DTX {xid}")

    def put_dtx_committed(self, cuuid, entry: DtxCommitted) -> None:
        self._check_open()
        c = self._cont(cuuid)
        t = self._sub(c, "dtx_cmt_root", "/" + uuid_str(c.rec.uuid) + " (dtx)")
        t.put(xid_key(entry.xid), enc_dtx_committed(entry))

    def delete_dtx_committed(self, cuuid, xid: Xid) -> None:
        self._check_open()
        c = self._cont(cuuid)
        t = self._sub(c, "dtx_cmt_root", "")
        self._delete(t, xid_key(xid), f"committed DTX {xid}")

    def dtx_committed_entries(self, cuuid) -> list[DtxCommitted]:
        c = self._cont(cuuid)
        t = self._sub(c, "dtx_cmt_root", "")
        return [dec_dtx_committed(v, xid_from_key(k)) for k, v in t.items()]

    def _store_refs(self, o: OpenRecord) -> None:
        """Write the record references of an edited active entry (at commit), releasing the
        old list's pages."""
        rec = o.rec
        self._release(rec.records.media, rec.records.off, rec.records.len)
        rec.records = self._ext_bytes(enc_refs(o.refs), REFS_INLINE_MAX)
        rec.rec_cnt = len(o.refs)
