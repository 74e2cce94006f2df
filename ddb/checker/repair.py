"""Repairs: apply the chosen action of each finding of one shard, in one transaction.

Every repair goes through vosfmt's crash-safe writer, so a shard is either
fully repaired or untouched. The pages a repair stops using (a rebuilt
tree's old nodes, a rewritten DTX record list) are named by the scan in the
finding's ``drop`` and freed in the same transaction. Other consequences (a
key a lossy repair leaves empty) are found by the engine's next scan round,
which also verifies that each repair took effect.
"""
from __future__ import annotations

import struct

from vosfmt import CorruptionError, NotFoundError, Oid, Xid, open_shard
from vosfmt.constants import DTX_LID_ABORTED, DTX_LID_COMMITTED, AddrFlags
from vosfmt.dtx import commit_active, discard_invalid
from vosfmt.keys import uuid_bytes
from vosfmt.records import DtxRecRef, ExtBytes, IlogEntry

from . import fields
from .problems import Action, Code
from .scan import ShardScan, read_tree


def _owner(path: list):
    """JSON owner path -> (cont uuid bytes, Oid, dkey bytes, akey bytes) prefix."""
    out = []
    if path:
        out.append(uuid_bytes(path[0]))
    if len(path) > 1:
        out.append(Oid.parse(path[1]))
    out += [bytes.fromhex(k) for k in path[2:]]
    return tuple(out)


def repair_shard(path: str, db_root: str, chosen: list, hooks=None) -> None:
    """Apply [(Finding, Action)] to one shard. Raises VosError if it cannot.

    Records that no longer decode raise VosError too (never struct.error), so
    a repair that meets more damage than its finding described fails cleanly.
    """
    try:
        _repair_shard(path, db_root, chosen, hooks)
    except (struct.error, ValueError, IndexError) as e:
        raise CorruptionError(f"the repair met a malformed record ({e})", file=path) from None


def _repair_shard(path: str, db_root: str, chosen: list, hooks) -> None:
    codes = {f.code for f, _ in chosen}
    # a truncated file is written only when its extension is chosen: it comes first
    with open_shard(path, write=True, db_root=db_root, hooks=hooks,
                    truncated_ok=Code.SHARD_TRUNCATED in codes) as shard:
        if Code.SHARD_TRUNCATED in codes:
            shard.extend_to_superblock()
        if 0x000001 in codes:
            shard.rewrite_superblock_copy()
        rest = [(f, a) for f, a in chosen if f.code not in _OUTSIDE_TX]
        if not rest:
            return
        scan = ShardScan(shard)
        free = None
        if 0x010002 in codes or any(f.code == 0x010001 and f.ctx.get("field") == "vea_root"
                                    for f, _ in rest):
            scan.run()
        if 0x010002 in codes:
            used = set(scan.facts.pages)
            free = [(p, 1) for p in range(2, shard.sb.total_pages) if p not in used]
        with shard.begin(free_pages=free) as tx:
            dropped = []
            for f, action in sorted(rest, key=_order):
                if _apply(shard, tx, scan, f, action) is not False:
                    dropped += f.ctx.get("drop", ())
            if dropped:
                tx.free_pages([tuple(e) for e in dropped])


def _order(fa) -> tuple:
    """Repair order: trees before their records (parents before children), space last."""
    f = fa[0]
    return _ORDER.get(f.code, 50), len(f.ctx.get("path", ()))


def _apply(shard, tx, scan, f, action: Action) -> None:
    c = f.ctx
    code = f.code
    if code in (0x010001, 0x010003):
        return _rebuild_tree(shard, tx, scan, c)
    elif code == 0x010002:
        pass                                  # done by opening the transaction with a rebuilt list
    elif code == 0x020001:
        cu, oid, dkey, akey = _owner(c["path"])
        vkey = c["vkey"][0] if len(c["vkey"]) == 1 else tuple(c["vkey"])
        if action == Action.DISCARD:
            tx.delete_value(cu, oid, dkey, akey, vkey)
        else:
            v = tx.get_value(cu, oid, dkey, akey, vkey)
            tx.update_value(cu, oid, dkey, akey, vkey, aflags=v.aflags | AddrFlags.CORRUPTED)
    elif code == 0x020002:
        cu, oid, dkey, akey = _owner(c["path"])
        vkey = c["vkey"][0] if len(c["vkey"]) == 1 else tuple(c["vkey"])
        tx.delete_value(cu, oid, dkey, akey, vkey, release=False)
    elif code == 0x020003:
        cu, oid = _owner(c["path"])
        tx.put_object(cu, oid, max_write=c["actual"])
    elif code == 0x020004:
        _restore_id(tx, c)
    elif code == Code.FIELD_DISAGREES:
        return fields.repair(tx, c, _owner)
    elif code == Code.KEY_FLAGS_WRONG:
        _restore_key_flags(tx, c)
    elif code == 0x020005:
        cu, oid, dkey, *akey = _owner(c["path"])
        tx.delete_key(cu, oid, dkey, akey[0] if akey else None)
    elif code == 0x030001:
        cu, oid, *keys = _owner(c["path"])
        dkey = keys[0] if keys else None
        akey = keys[1] if len(keys) > 1 else None
        entries = tx.get_ilog(cu, oid, dkey, akey).entries
        out = []
        for e in entries:
            if e.epoch == c["epoch"] and e.tx_id == c["lid"]:
                if action == Action.DISCARD:
                    continue
                e = IlogEntry(e.epoch, DTX_LID_COMMITTED, e.punch_minor, e.update_minor)
            out.append(e)
        tx.set_ilog(cu, oid, dkey, akey, entries=out)
    elif code == 0x030002:
        cu, oid, dkey, akey = _owner(c["path"])
        vkey = c["vkey"][0] if len(c["vkey"]) == 1 else tuple(c["vkey"])
        tx.update_value(cu, oid, dkey, akey, vkey,
                        dtx_lid=DTX_LID_ABORTED if action == Action.DISCARD else DTX_LID_COMMITTED)
    elif code == 0x030003:
        discard_invalid(tx, uuid_bytes(c["cont"]), Xid.parse(c["xid"]))
    elif code == 0x030004:
        cu = uuid_bytes(c["cont"])
        xid = Xid.parse(c["xid"])
        old = [e for e in tx.dtx_committed_entries(cu) if e.xid == xid]
        commit_active(tx, cu, xid, old[0].cmt_time if old else 0)
    elif code == 0x030005:
        cu, xid = uuid_bytes(c["cont"]), Xid.parse(c["xid"])
        tx.dtx_active(cu, xid).records = ExtBytes()     # its old pages: freed by ``drop`` only
        tx.set_dtx_refs(cu, xid, [DtxRecRef(t, Oid.parse(oid), bytes.fromhex(d), bytes.fromhex(a),
                                            bytes.fromhex(v)) for t, oid, d, a, v in c["refs"]])
    elif code == 0x040003:
        cu, oid, dkey, akey = _owner(c["path"])
        vkey = c["vkey"][0] if len(c["vkey"]) == 1 else tuple(c["vkey"])
        v = tx.get_value(cu, oid, dkey, akey, vkey)
        tx.relocate_value(cu, oid, dkey, akey, vkey, shard.read_value(v))
    elif code == 0x040001:
        tx.free_pages([tuple(e) for e in c["extents"]])
    elif code == 0x040002:
        tx.unfree_pages([tuple(e) for e in c["extents"]])
    elif code == 0x040004:
        for off, cnt in c["extents"]:
            tx.vea_free(off, cnt)
    elif code == 0x040005:
        for off, cnt in c["extents"]:
            tx.vea_unfree(off, cnt)


def _restore_id(tx, c: dict) -> None:
    """Give a container or object record the id of the key it is filed under."""
    if c["what"] == "container":
        o = tx._cont(c["key"])
        o.rec.uuid = uuid_bytes(c["key"])
    else:
        cu, oid = _owner(c["path"])
        o = tx._obj(cu, oid)
        o.rec.oid = oid
    o.dirty = True


def _restore_key_flags(tx, c: dict) -> None:
    """Give a dkey or akey the flags the class of its child tree calls for."""
    cu, oid, dkey, *akey = _owner(c["path"])
    o = tx._akey(cu, oid, dkey, akey[0]) if akey else tx._dkey(cu, oid, dkey)
    o.rec.flags = c["expected"]
    o.dirty = True


def _rebuild_tree(shard, tx, scan, c: dict):
    """Rebuild one tree from its readable records; False if its owner is gone (nothing done)."""
    owner = _owner(c["path"])
    if c["field"] == "vea_root":
        lo, hi = shard.sb.hdr_blks, shard.sb.hdr_blks + shard.sb.tot_blks
        used = set(scan.facts.blocks)
        tx.reset_vea([(b, 1) for b in range(lo, hi) if b not in used])
        return True
    try:
        root = _root_of(shard, owner, c["field"])
    except NotFoundError:           # a parent rebuilt in this round dropped it
        return False
    items, _bad = read_tree(shard.reader, root)
    tx.replace_tree(owner, c["field"], [(k, v) for k, v, _rec in items])
    return True


#: repairs done before the transaction: the file's size, the other superblock copy
_OUTSIDE_TX = frozenset((0x000001, Code.SHARD_TRUNCATED))

#: trees are rebuilt before anything else touches their records; space last
_ORDER = {0x010001: 0, 0x010003: 1, Code.FIELD_DISAGREES: 2,    # a key kind before the keys' users
          0x040001: 90, 0x040002: 91, 0x040004: 92, 0x040005: 93}


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


