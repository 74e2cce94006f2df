"""DTX resolution: commit, abort and discard-invalid of active entries, as VOS does them.

Each works inside a Transaction and follows the active entry's record
references: commit clears the local id of every ilog entry and value the
entry owns and moves it to the committed table; abort removes its ilog
entries and marks its values aborted (local id 1); discard-invalid drops
references that no longer name a live record carrying the entry's local id
at its epoch. References to records that are gone are skipped: VOS nulls
them when it frees a record, so they are legal.

``OrphanedRefs`` wraps an edit (ddb's rm and value_load) that may remove or
replace records an active entry refers to: inside the same transaction it
drops exactly the references the edit left dangling, and removes an entry
left with none, as discard-invalid does -- so the edit never leaves a
DTX_DANGLING_REF behind, and a reference that was already dangling stays
for the checker to report.
"""
from __future__ import annotations

from .constants import DTX_LID_ABORTED, DTX_LID_COMMITTED, DtxFlags, RecType
from .dtx_records import DtxCommitted, DtxRecRef
from .errors import NotFoundError
from .ilog import ilog_abort_lid, ilog_commit_lid, ilog_persist
from .keys import epoch_from_key, extent_from_key


def _vkey(ref: DtxRecRef):
    if ref.type == RecType.SVT:
        return epoch_from_key(ref.vkey)
    return extent_from_key(ref.vkey)


def _target(ref: DtxRecRef):
    return ref.oid, ref.dkey or None, ref.akey or None


def ref_is_valid(tx, cuuid, ref: DtxRecRef, lid: int, epoch: int) -> bool:
    """Does ``ref`` name a live record that carries ``lid`` at ``epoch``?"""
    try:
        if ref.type == RecType.ILOG:
            il = tx.get_ilog(cuuid, *_target(ref))
            return any(e.tx_id == lid and e.epoch == epoch for e in il.entries)
        if ref.type in (RecType.SVT, RecType.EVT) and ref.dkey and ref.akey:
            v = tx.get_value(cuuid, ref.oid, ref.dkey, ref.akey, _vkey(ref))
            return v is not None and v.dtx_lid == lid and v.epoch == epoch
    except NotFoundError:
        return False
    return False


def _apply(tx, cuuid, ref: DtxRecRef, lid: int, epoch: int, commit: bool) -> bool:
    if not ref_is_valid(tx, cuuid, ref, lid, epoch):
        return False
    if ref.type == RecType.ILOG:
        il = tx.get_ilog(cuuid, *_target(ref))
        entries = ilog_commit_lid(il.entries, lid) if commit else ilog_abort_lid(il.entries, lid)
        tx.set_ilog(cuuid, *_target(ref), entries=entries)
    else:
        tx.update_value(cuuid, ref.oid, ref.dkey, ref.akey, _vkey(ref),
                        dtx_lid=DTX_LID_COMMITTED if commit else DTX_LID_ABORTED)
    return True


def _resolve_active(tx, cuuid, xid, commit: bool):
    """Apply an active entry's outcome to every record it touched and drop it; its entry or None."""
    entry = tx.dtx_active(cuuid, xid)
    if entry is None:
        return None
    for ref in tx.dtx_refs(cuuid, xid):
        _apply(tx, cuuid, ref, entry.lid, entry.epoch, commit=commit)
    tx.delete_dtx_active(cuuid, xid)
    return entry


def commit_active(tx, cuuid, xid, cmt_time: int) -> bool:
    """Commit one active entry; False when there is no such entry."""
    entry = _resolve_active(tx, cuuid, xid, commit=True)
    if entry is None:
        return False
    tx.put_dtx_committed(cuuid, DtxCommitted(xid, entry.epoch, cmt_time))
    return True


def abort_active(tx, cuuid, xid) -> bool:
    """Abort one active entry; False when there is no such entry."""
    return _resolve_active(tx, cuuid, xid, commit=False) is not None


def leads_here(entry) -> bool:
    """Whether this shard leads the entry's transaction (LEADER, or it is its only target):
    the entry's oid is then one of the objects its records are in."""
    return bool(entry.flags & DtxFlags.LEADER) or entry.tgt_cnt <= 1


def _keep_refs(tx, cuuid, xid, refs, kept) -> bool:
    """Keep only ``kept`` of an entry's ``refs``; an entry left with none is removed (True).

    An entry this shard leads keeps naming an object its records are in: when
    the object it named lost all its references, it names the first one left.
    """
    if len(kept) == len(refs):
        return False
    if not kept:
        tx.delete_dtx_active(cuuid, xid)
        return True
    entry = tx.dtx_active(cuuid, xid)
    if leads_here(entry) and entry.oid not in {r.oid for r in kept}:
        tx.put_dtx_active(cuuid, entry.replace(oid=kept[0].oid), kept)
    else:
        tx.set_dtx_refs(cuuid, xid, kept)
    return False


def discard_invalid(tx, cuuid, xid) -> int | None:
    """Drop an entry's references that no longer resolve; None when there is no entry.

    An entry left with no valid reference is removed (an abort with nothing to undo).
    """
    entry = tx.dtx_active(cuuid, xid)
    if entry is None:
        return None
    refs = tx.dtx_refs(cuuid, xid)
    valid = [r for r in refs if ref_is_valid(tx, cuuid, r, entry.lid, entry.epoch)]
    _keep_refs(tx, cuuid, xid, refs, valid)
    return len(refs) - len(valid)


def _within(ref: DtxRecRef, oid, dkey, akey, vkey) -> bool:
    """Does ``ref`` name a record at or below (oid[, dkey[, akey[, value key]]])?"""
    if ref.oid != oid:
        return False
    if dkey is None:
        return True
    if ref.dkey != dkey:
        return False
    if akey is None:
        return True
    if ref.akey != akey:
        return False
    return vkey is None or (ref.type != RecType.ILOG and ref.vkey == vkey)


class OrphanedRefs:
    """Around an edit of the records at or below (oid[, dkey[, akey[, vkey]]]) of a
    container: afterwards, drop the active-entry references the edit left dangling.

    ``vkey`` is a value's tree key (``epoch_key`` / ``extent_key``). On entry
    it notes every reference into that scope that resolves now; on a clean
    exit, those that no longer resolve are dropped (an entry left with no
    reference is removed). ``dropped`` and ``entries_removed`` say what was done.
    """

    def __init__(self, tx, cuuid, oid, dkey=None, akey=None, vkey=None):
        self.tx, self.cuuid = tx, cuuid
        self.scope = (oid, dkey, akey, vkey)
        self.dropped = 0
        self.entries_removed = 0
        self._watched: dict = {}

    def __enter__(self):
        tx, cu = self.tx, self.cuuid
        for entry in tx.dtx_active_entries(cu):
            live = [r for r in tx.dtx_refs(cu, entry.xid)
                    if _within(r, *self.scope) and ref_is_valid(tx, cu, r, entry.lid, entry.epoch)]
            if live:
                self._watched[entry.xid] = live
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            return
        tx, cu = self.tx, self.cuuid
        for xid, live in self._watched.items():
            entry = tx.dtx_active(cu, xid)
            if entry is None:
                continue
            gone = [r for r in live if not ref_is_valid(tx, cu, r, entry.lid, entry.epoch)]
            if not gone:
                continue
            refs = tx.dtx_refs(cu, xid)
            self.dropped += len(gone)
            self.entries_removed += _keep_refs(tx, cu, xid, refs, [r for r in refs if r not in gone])


def clear_ilog(tx, cuuid, oid, dkey=None, akey=None, commit: bool = False) -> int:
    """ddb ilog_commit / ilog_clear: persist or abort every entry of one log."""
    entries = tx.get_ilog(cuuid, oid, dkey, akey).entries
    tx.set_ilog(cuuid, oid, dkey, akey, entries=ilog_persist(entries) if commit else [])
    return len(entries)
