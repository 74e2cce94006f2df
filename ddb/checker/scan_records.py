"""P1-P3 below the container table: containers, objects, keys, values, incarnation logs.

The hot loop of a check (one pass per value): each record is decoded and
checked on its own, local ids are collected for the DTX checks
(``scan_dtx``), and the pages and blocks values use are recorded for P4.
"""
from __future__ import annotations

from vosfmt import ChecksumError, CorruptionError, VosError
from vosfmt.checksum import csum_name, csum_of
from vosfmt.constants import (
    DTX_LID_ABORTED,
    DTX_LID_COMMITTED,
    DTX_LID_FIRST,
    DTX_LID_SOLO_FLAG,
    PAGE_SIZE,
    AddrFlags,
    KeyKind,
    Media,
    RecType,
    RootFlags,
    TreeClass,
    akey_kind,
    dkey_kind,
)
from vosfmt.keys import dkey_uncollate, epoch_key, extent_key, oid_from_key, oid_key, uuid_str
from vosfmt.records import key_flags_for

from . import fields
from .finding import owner_label
from .problems import Action, Code
from .scan_dtx import check_active_dtx
from .scan_leaf import LeafPass

_ARTICLE_TREE = {TreeClass.AKEY: "an akey", TreeClass.SINGV: "a single-value",
                 TreeClass.EVT: "an extent"}


def media_name(media: int) -> str:
    try:
        return Media(media).name
    except ValueError:
        return f"unknown media {media}"


class RecordPass:
    """The records of one shard's containers, checked for one ShardScan (whose findings and
    facts they add to)."""

    def __init__(self, scan):
        self.scan = scan
        self.shard, self.sb, self.facts = scan.shard, scan.sb, scan.facts
        self.space = scan.facts.space
        self.add = scan.add
        self.findings = scan.findings
        self._stable = 0                # the container's stable epoch (orphan local ids)
        self._blob_ok = None            # the NVMe blob opened and is ours (None: not yet tried)
        self.leaves = LeafPass(scan)

    def run(self) -> None:
        for ck, _cv, c in self.scan.walk(self.sb.cont_root, [], "cont_root") or []:
            cu = uuid_str(ck)
            if c.uuid != ck:
                self.add(Code.RECORD_ID_MISMATCH, what="container", key=cu,
                         stored=uuid_str(c.uuid), path=[cu])
            self.container(c, cu)

    def _orphan_default(self, epoch: int) -> Action:
        """DAOS's rule for an orphan local id: commit below the stable epoch, else abort."""
        return Action.READD if epoch < self._stable else Action.DISCARD

    def container(self, c, cu: str) -> None:
        self._stable = c.global_stable_epoch
        owner = [cu]
        active = {}
        for _k, _v, e in self.scan.walk(c.dtx_act_root, owner, "dtx_act_root") or []:
            active[e.lid] = e
            self.scan.run_of(e.records, f"/{cu} dtx {e.xid} records")
            self.scan.run_of(e.mbs, f"/{cu} dtx {e.xid} membership")
        committed = {}
        for k, _v, e in self.scan.walk(c.dtx_cmt_root, owner, "dtx_cmt_root") or []:
            committed[bytes(k)] = e
            if not e.epoch:
                fields.dtx_cmt_epoch_finding(self.scan, e, cu)
        self.facts.lid_records = set()          # local ids are per container
        for k, _ov, o in self.scan.walk(c.obj_root, owner, "obj_root") or []:
            oid = o.oid
            if oid_key(oid) != k:             # lookups go by the key: it is the object's id
                oid = oid_from_key(k)
                self.add(Code.RECORD_ID_MISMATCH, what="object", key=str(oid), stored=str(o.oid),
                         path=[cu, str(oid)])
            self.object(o, oid, cu, active)
        check_active_dtx(self.scan, cu, active, committed)

    def object(self, o, oid, cu: str, active: dict) -> None:
        """P1-P3 below one object: the hot loop of the check (one pass per value)."""
        owner = [cu, str(oid)]
        walk, check_ilog, value, leaves = self.scan.walk, self.check_ilog, self.value, self.leaves
        newest = check_ilog([(e.epoch, e.tx_id, e.punch_minor, e.update_minor)
                             for e in o.ilog.entries], owner, active,
                            (RecType.ILOG, oid, b"", b"", b""))
        want_d, want_a = dkey_kind(oid.otype), akey_kind(oid.otype)
        dkeys = walk(o.dkey_root, owner, "dkey_root")
        dkind = o.dkey_root.key_kind
        if dkind != want_d and o.dkey_root.tclass == TreeClass.DKEY:   # the type decides it
            dkind = fields.key_kind_finding(self.scan, o.dkey_root, dkeys, owner, want_d, "dkey",
                                            oid.otype_name)
        for dk, _dv, d in dkeys or ():
            dkey = dkey_uncollate(dkind, dk) if dkind == KeyKind.UINT64 else dk
            downer = owner + [dkey.hex()]
            n = check_ilog(d.ilog_tuples(), downer, active, (RecType.ILOG, oid, dkey, b"", b""))
            if n > newest:
                newest = n
            akind = d.child_root.key_kind
            if akind == want_a and d.child_root.tclass == TreeClass.AKEY:
                n = leaves.akeys(d.child_root, downer, akind)
                if n is not None:               # every akey clean, checked a leaf at a time
                    self.key_flags(d, downer, True)
                    if n > newest:
                        newest = n
                    continue
            found = len(self.findings)
            akeys = walk(d.child_root, downer, "child_root")
            self.key_flags(d, downer, len(self.findings) == found)
            if akind != want_a and d.child_root.tclass == TreeClass.AKEY:
                akind = fields.key_kind_finding(self.scan, d.child_root, akeys, downer, want_a, "akey",
                                                oid.otype_name)
            empty = []                          # akeys that hold nothing
            for ak, _av, a in akeys or ():
                akey = dkey_uncollate(akind, ak) if akind == KeyKind.UINT64 else ak
                aowner = downer + [akey.hex()]
                n = check_ilog(a.ilog_tuples(), aowner, active, (RecType.ILOG, oid, dkey, akey, b""))
                if n > newest:
                    newest = n
                sv = a.child_root.tclass == TreeClass.SINGV
                found = len(self.findings)
                values = walk(a.child_root, aowner, "child_root")
                self.key_flags(a, aowner, len(self.findings) == found)
                if not values:
                    if values is not None and _holds_nothing(a):
                        empty.append(aowner)
                    continue
                for _vk, _vv, v in values:
                    if v.epoch > newest:
                        newest = v.epoch
                    value(v, aowner, active, oid, dkey, akey, sv)
            if akeys is not None and len(empty) == len(akeys) == d.child_root.count:
                if _created_only(d):
                    empty = [downer]            # the dkey goes with its akeys
            for where in empty:
                self.add(Code.KEY_EMPTY, level="dkey" if len(where) == 3 else "akey",
                         owner=owner_label(where), path=where)
        if newest > o.max_write:
            self.add(Code.OBJ_MAX_WRITE_STALE, owner=owner_label(owner), stored=o.max_write, actual=newest,
                     path=owner)

    def key_flags(self, rec, owner: list, sound: bool) -> None:
        """A key's flags against the class of its child tree: readers go by the flags (an
        akey's say single value or array), so a wrong one hides or garbles what is below.
        The tree is trusted only when its records decoded as its class (``sound``)."""
        want = key_flags_for(rec.child_root.tclass)
        if rec.flags == want or want is None or not sound:
            return
        self.add(Code.KEY_FLAGS_WRONG, level="dkey" if len(owner) == 3 else "akey",
                 owner=owner_label(owner), stored=rec.flags, expected=want, path=owner,
                 tree=_ARTICLE_TREE[rec.child_root.tclass])

    def check_ilog(self, entries, owner: list, active: dict, ref) -> int:
        """Record and check the local ids and minors of (epoch, tx_id, punch_minor,
        update_minor) log entries; returns the newest epoch."""
        newest = 0
        for e in entries:
            epoch, lid = e[0], e[1]
            if epoch > newest:
                newest = epoch
            if e[2] == e[3]:                    # neither a punch nor an update
                fields.ilog_minors_finding(self.scan, owner, epoch, e[2])
            if lid in (DTX_LID_COMMITTED, DTX_LID_ABORTED) or lid & DTX_LID_SOLO_FLAG:
                continue
            self.facts.lid_records.add(ref + (lid, epoch))
            a = active.get(lid)
            if a is None or a.epoch != epoch:
                self.add(Code.ILOG_ORPHAN_LID, owner=owner_label(owner), path=owner, epoch=epoch, lid=lid,
                         default=int(self._orphan_default(epoch)))
        return newest

    @staticmethod
    def _where(v, owner, sv: bool) -> dict:
        """A value's place, as findings carry it (the label is formatted only if reported)."""
        label = (owner, f"@{v.epoch}" if sv else f"/{{{v.lo}-{v.hi}}}@{v.epoch}")
        return dict(value=label, path=owner, vkey=[v.epoch] if sv else [v.lo, v.epoch, v.minor])

    def value(self, v, owner, active, oid, dkey, akey, sv: bool) -> None:
        f = self.facts
        f.records += 1
        if v.aflags or v.data is None and not v.media:     # flags, or an extent without data
            fields.value_finding(self.scan, v, owner, sv, self._where(v, owner, sv))
        if not sv and not self.scan.run_of(v.csums, (owner, f"/{{{v.lo}-{v.hi}}}@{v.epoch} checksums")):
            x = v.csums
            self.add(Code.VALUE_OUT_OF_BOUNDS, media="shard", start=x.off, end=x.off + x.len - 1,
                     where=f"shard's {self.sb.total_pages} pages (its checksums)",
                     **self._where(v, owner, sv))
            return
        size = v.size if sv else v.nbytes
        if size and not v.aflags & AddrFlags.HOLE:
            if v.media != Media.INLINE and not self._place(v, size, owner, sv):
                return
            if v.csum_type and not v.aflags & AddrFlags.CORRUPTED and \
                    (v.media != Media.NVME or self._blob_readable()):
                try:
                    f.value_bytes += size
                    # an inline single value is checked here in one call; the rest, and
                    # any mismatch (to tell a stale read from damage), by the shard
                    inline_ok = sv and v.media == Media.INLINE and \
                        csum_of(v.csum_type, v.data) == v.csum
                    if not inline_ok:
                        self.shard.verify_value(v)
                except CorruptionError as e:
                    where = self._where(v, owner, sv)
                    if isinstance(e, ChecksumError):
                        self.add(Code.VALUE_CSUM_MISMATCH, csum=csum_name(v.csum_type), **where)
                    else:
                        self.add(Code.VALUE_OUT_OF_BOUNDS, media=media_name(v.media), start=v.off,
                                 end=v.off + size - 1, where="file", **where)
                except VosError:            # e.g. the blob cannot be located: P6 reports that
                    pass
        lid = v.dtx_lid
        if lid >= DTX_LID_FIRST and not lid & DTX_LID_SOLO_FLAG:
            vt = epoch_key(v.epoch) if sv else extent_key(v.lo, v.epoch, v.minor)
            f.lid_records.add(((RecType.SVT if sv else RecType.EVT), oid, dkey, akey, vt, lid, v.epoch))
            a = active.get(lid)
            if a is None or a.epoch != v.epoch:
                self.add(Code.VALUE_ORPHAN_LID, lid=lid, default=int(self._orphan_default(v.epoch)),
                         **self._where(v, owner, sv))

    def _blob_readable(self) -> bool:
        """Is this shard's own NVMe blob at hand? If SMD leads elsewhere (P6 reports it), its
        values are not checked: another blob's bytes would condemn intact values."""
        if self._blob_ok is None:
            try:
                self.shard.blob_file()
                self._blob_ok = True
            except VosError:
                self._blob_ok = False
        return self._blob_ok

    def _place(self, v, size: int, owner, sv: bool) -> bool:
        """Record the shard pages or NVMe blocks a value owns; False if it lies out of bounds."""
        where = self._where(v, owner, sv)
        sb = self.sb
        if v.media == Media.SCM:
            end = v.off + size
            if v.off < 2 * PAGE_SIZE or end > sb.total_pages * PAGE_SIZE:
                self.add(Code.VALUE_OUT_OF_BOUNDS, media="shard", start=v.off, end=end - 1,
                         where=f"shard's {sb.total_pages} pages", **where)
                return False
        elif v.media == Media.NVME:
            bs = self.space.blk_size
            lo, hi = self.space.blk_range
            first, last = v.off // bs, -(-(v.off + size) // bs)
            if not sb.nvme_size or v.off % bs or first < lo or last > hi:
                self.add(Code.VALUE_OUT_OF_BOUNDS, media="NVMe", start=v.off, end=v.off + size - 1,
                         where="device", **where)
                return False
        self.space.own_run(v.media, v.off, size, where["value"], where)
        return True


def _created_only(rec) -> bool:
    """Is a key's incarnation log nothing but committed creations (no punch, nothing pending)?"""
    for _epoch, lid, punch_minor, update_minor in rec.ilog_tuples():
        if punch_minor > update_minor or (lid != DTX_LID_COMMITTED and not lid & DTX_LID_SOLO_FLAG):
            return False
    return True


def _holds_nothing(akey) -> bool:
    """An akey with no value left and nothing in its log to explain it: what removing every
    value leaves (VOS drops such a key). A punched key, or one of a pending or aborted
    transaction, is a legitimate state, not this."""
    r = akey.child_root
    return not r.count and not r.page and not r.flags & RootFlags.EMBEDDED and _created_only(akey)

