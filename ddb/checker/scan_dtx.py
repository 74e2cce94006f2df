"""P3, per container: its active transactions against the records that carry their local ids.

An active entry lists the records it wrote (``dec_refs``); each must still
carry its local id at its epoch (``facts.lid_records``, collected by the
record pass). Also: the entry's leader oid and group counts
(``fields``), and a transaction both active and committed.
"""
from __future__ import annotations

import struct

from vosfmt import CorruptionError, VosError
from vosfmt.constants import PAGE_SIZE, Media
from vosfmt.dtx_records import dec_refs
from vosfmt.keys import xid_key

from . import fields
from .problems import Code


def check_active_dtx(scan, cu: str, active: dict, committed: dict) -> None:
    """``active``: local id -> active entry; ``committed``: xid key -> committed entry."""
    for e in active.values():
        refs = _refs(scan, e, cu)
        bad = [r for r in refs if (r.type, r.oid, r.dkey, r.akey, r.vkey, e.lid, e.epoch)
               not in scan.facts.lid_records]
        if bad:
            scan.add(Code.DTX_DANGLING_REF, xid=str(e.xid), count=len(bad), cont=cu)
        fields.dtx_oid_finding(scan, e, [r for r in refs if r not in bad], cu)
        fields.dtx_groups_finding(scan, e, cu)
        if xid_key(e.xid) in committed:
            scan.add(Code.DTX_ACTIVE_AND_COMMITTED, xid=str(e.xid), cont=cu)


def _refs(scan, e, cu: str) -> list:
    """An active entry's record references; an unreadable list is a finding (and [])."""
    x = e.records
    inside = scan.inside(x)
    try:
        if not inside:
            raise CorruptionError(f"it lies outside the shard's {scan.sb.total_pages} pages")
        return dec_refs(scan.shard.ext_bytes(x, None, "dtx record list"), e.rec_cnt)
    except (VosError, ValueError, IndexError, struct.error) as err:
        reason = getattr(err, "reason", str(err))
    mine = [[t, str(oid), dk.hex(), ak.hex(), vk.hex()]
            for t, oid, dk, ak, vk, lid, epoch in scan.facts.lid_records
            if lid == e.lid and epoch == e.epoch]
    pages = range(x.off // PAGE_SIZE, -(-(x.off + x.len) // PAGE_SIZE)) \
        if inside and x.media == Media.SCM else ()
    scan.add_dropping(Code.DTX_RECORDS_UNREADABLE, pages, xid=str(e.xid), cont=cu, reason=reason,
                      refs=sorted(mine))
    return []
