"""The repairs of one shard's problems, one function per problem (see ``registry``).

Each rewrites what its finding's context names, through vosfmt's
crash-safe writer (``job.tx``, the shard's one transaction of this round);
FIELD_DISAGREES's repair is with its detector in ``fields``. Trees are
rebuilt from the records that can still be read, so a lossy repair loses
exactly what was below the damage.
"""
from __future__ import annotations

from vosfmt import NotFoundError, Xid
from vosfmt.constants import DTX_LID_ABORTED, DTX_LID_COMMITTED, AddrFlags
from vosfmt.dtx import commit_active, discard_invalid
from vosfmt.dtx_records import DtxRecRef
from vosfmt.keys import Oid, uuid_bytes
from vosfmt.records import ExtBytes, IlogEntry

from .finding import owner_keys
from .problems import Action, Code
from .registry import Phase, repairs
from .scan import read_tree


def _always(_finding) -> bool:
    return True


def _rebuilds_vea(f) -> bool:
    return f.ctx.get("field") == "vea_root"


def _value_key(c: dict):
    """A value's key in its tree: its epoch (single value) or (lo, epoch, minor) (extent)."""
    return c["vkey"][0] if len(c["vkey"]) == 1 else tuple(c["vkey"])


# --- before the transaction ----------------------------------------------------------------------

@repairs(Code.SHARD_TRUNCATED, phase=Phase.FILE, order=0)
def extend_file(job, f, action) -> None:
    job.shard.extend_to_superblock()


@repairs(Code.SB_COPY_DAMAGED, phase=Phase.FILE, order=1)
def rewrite_superblock_copy(job, f, action) -> None:
    job.shard.rewrite_superblock_copy()


@repairs(Code.FREE_LIST_DAMAGED, phase=Phase.BEGIN, needs_facts=_always)
def free_list_from_unused_pages(job, f, action) -> list:
    """The transaction starts from a free-page list of the pages nothing uses."""
    return [(p, 1) for p in job.facts.space.unused_pages(job.shard.sb.total_pages)]


# --- trees and records ---------------------------------------------------------------------------

@repairs(Code.TREE_NODE_UNREADABLE, order=0, needs_facts=_rebuilds_vea)
@repairs(Code.TREE_COUNT_WRONG, order=1)
def rebuild_tree(job, f, action) -> bool:
    """Rebuild one tree from its readable records; False if its owner is gone (nothing done)."""
    shard, c = job.shard, f.ctx
    owner = owner_keys(c["path"])
    if c["field"] == "vea_root":
        lo, hi = job.facts.space.blk_range
        used = job.facts.space.blocks
        job.tx.reset_vea([(b, 1) for b in range(lo, hi) if b not in used])
        return True
    try:
        root = _root_of(shard, owner, c["field"])
    except NotFoundError:           # a parent rebuilt in this round dropped it
        return False
    items, _bad = read_tree(shard.reader, root)
    job.tx.replace_tree(owner, c["field"], [(k, v) for k, v, _rec in items])
    return True


def _root_of(shard, owner: tuple, field: str):
    if not owner:
        return shard.sb.cont_root
    c = shard.container(owner[0])
    if len(owner) == 1:
        return getattr(c.rec, field)
    o = c.object(owner[1])
    if len(owner) == 2:
        return o.rec.dkey_root
    d = o.dkey(owner[2])
    if len(owner) == 3:
        return d.rec.child_root
    return d.akey(owner[3]).rec.child_root


@repairs(Code.VALUE_CSUM_MISMATCH)
def mark_or_remove_value(job, f, action) -> None:
    cu, oid, dkey, akey = owner_keys(f.ctx["path"])
    vkey = _value_key(f.ctx)
    if action == Action.DISCARD:
        job.tx.delete_value(cu, oid, dkey, akey, vkey)
    else:
        v = job.tx.get_value(cu, oid, dkey, akey, vkey)
        job.tx.update_value(cu, oid, dkey, akey, vkey, aflags=v.aflags | AddrFlags.CORRUPTED)


@repairs(Code.VALUE_OUT_OF_BOUNDS)
def remove_value_record(job, f, action) -> None:
    cu, oid, dkey, akey = owner_keys(f.ctx["path"])
    job.tx.delete_value(cu, oid, dkey, akey, _value_key(f.ctx), release=False)


@repairs(Code.OBJ_MAX_WRITE_STALE)
def raise_max_write(job, f, action) -> None:
    cu, oid = owner_keys(f.ctx["path"])
    job.tx.put_object(cu, oid, max_write=f.ctx["actual"])


@repairs(Code.RECORD_ID_MISMATCH)
def restore_id(job, f, action) -> None:
    """Give a container or object record the id of the key it is filed under."""
    tx, c = job.tx, f.ctx
    if c["what"] == "container":
        tx.patch_record((c["key"],), uuid=uuid_bytes(c["key"]))
    else:
        cu, oid = owner_keys(c["path"])
        tx.patch_record((cu, oid), oid=oid)


@repairs(Code.KEY_FLAGS_WRONG)
def restore_key_flags(job, f, action) -> None:
    """Give a dkey or akey the flags the class of its child tree calls for."""
    tx, c = job.tx, f.ctx
    cu, oid, dkey, *akey = owner_keys(c["path"])
    tx.patch_record((cu, oid, dkey, *akey), flags=c["expected"])


@repairs(Code.KEY_EMPTY)
def remove_empty_key(job, f, action) -> None:
    cu, oid, dkey, *akey = owner_keys(f.ctx["path"])
    job.tx.delete_key(cu, oid, dkey, akey[0] if akey else None)


# --- incarnation logs and transactions -----------------------------------------------------------

@repairs(Code.ILOG_ORPHAN_LID)
def settle_ilog_entry(job, f, action) -> None:
    """Abort (remove) or commit the log entry of a local id no active transaction has."""
    c = f.ctx
    cu, oid, *keys = owner_keys(c["path"])
    dkey = keys[0] if keys else None
    akey = keys[1] if len(keys) > 1 else None
    out = []
    for e in job.tx.get_ilog(cu, oid, dkey, akey).entries:
        if e.epoch == c["epoch"] and e.tx_id == c["lid"]:
            if action == Action.DISCARD:
                continue
            e = IlogEntry(e.epoch, DTX_LID_COMMITTED, e.punch_minor, e.update_minor)
        out.append(e)
    job.tx.set_ilog(cu, oid, dkey, akey, entries=out)


@repairs(Code.VALUE_ORPHAN_LID)
def settle_value(job, f, action) -> None:
    cu, oid, dkey, akey = owner_keys(f.ctx["path"])
    job.tx.update_value(cu, oid, dkey, akey, _value_key(f.ctx),
                        dtx_lid=DTX_LID_ABORTED if action == Action.DISCARD else DTX_LID_COMMITTED)


@repairs(Code.DTX_DANGLING_REF)
def drop_dangling_refs(job, f, action) -> None:
    discard_invalid(job.tx, uuid_bytes(f.ctx["cont"]), Xid.parse(f.ctx["xid"]))


@repairs(Code.DTX_ACTIVE_AND_COMMITTED)
def finish_commit(job, f, action) -> None:
    cu, xid = uuid_bytes(f.ctx["cont"]), Xid.parse(f.ctx["xid"])
    old = [e for e in job.tx.dtx_committed_entries(cu) if e.xid == xid]
    commit_active(job.tx, cu, xid, old[0].cmt_time if old else 0)


@repairs(Code.DTX_RECORDS_UNREADABLE)
def rebuild_dtx_records(job, f, action) -> None:
    """The list of records from those carrying the entry's local id (its old pages are freed
    by the finding's ``drop``)."""
    cu, xid = uuid_bytes(f.ctx["cont"]), Xid.parse(f.ctx["xid"])
    job.tx.dtx_active(cu, xid).records = ExtBytes()
    job.tx.set_dtx_refs(cu, xid, [DtxRecRef(t, Oid.parse(oid), bytes.fromhex(d), bytes.fromhex(a),
                                            bytes.fromhex(v)) for t, oid, d, a, v in f.ctx["refs"]])


# --- space (last: what the repairs above free or take is settled first) --------------------------

@repairs(Code.PAGE_DOUBLE_OWNED)
def give_value_its_own_copy(job, f, action) -> None:
    cu, oid, dkey, akey = owner_keys(f.ctx["path"])
    vkey = _value_key(f.ctx)
    v = job.tx.get_value(cu, oid, dkey, akey, vkey)
    job.tx.relocate_value(cu, oid, dkey, akey, vkey, job.shard.read_value(v))


@repairs(Code.PAGES_LEAKED, order=90)
def free_leaked_pages(job, f, action) -> None:
    job.tx.free_pages([tuple(e) for e in f.ctx["extents"]])


@repairs(Code.PAGES_FREE_AND_USED, order=91)
def unfree_used_pages(job, f, action) -> None:
    job.tx.unfree_pages([tuple(e) for e in f.ctx["extents"]])


@repairs(Code.BLOCKS_LEAKED, order=92)
def free_leaked_blocks(job, f, action) -> None:
    for off, cnt in f.ctx["extents"]:
        job.tx.vea_free(off, cnt)


@repairs(Code.BLOCKS_FREE_AND_USED, order=93)
def unfree_used_blocks(job, f, action) -> None:
    for off, cnt in f.ctx["extents"]:
        job.tx.vea_unfree(off, cnt)
