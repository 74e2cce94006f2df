"""The passes over one shard, and over the image's SMD: they find, they never fix.

A scan reads everything through vosfmt but never trusts it: every node,
record and value is verified on its own, so one damaged page is one finding
and the walk goes on. It collects the facts later passes need (who owns
each page and block, which records carry which local id) and returns
Findings; it never prints and never raises on corruption.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field

from vosfmt import CorruptionError, VosError
from vosfmt.checksum import csum_name, csum_of
from vosfmt.constants import (DTX_LID_ABORTED, DTX_LID_COMMITTED, DTX_LID_FIRST, DTX_LID_SOLO_FLAG,
                              PAGE_SIZE, AddrFlags, KeyKind, Media, RecType, RootFlags,
                              TreeClass, akey_kind, dkey_kind)
from vosfmt.keys import (Oid, dkey_uncollate, epoch_from_key, epoch_key, extent_key, oid_from_key,
                         oid_key, uuid_str)
from vosfmt.keytext import format_key
from vosfmt.records import dec_refs, key_flags_for
from vosfmt.space import coalesce

from . import fields
from .problems import Action, Code, problem

TREE_NAMES = {TreeClass.CONT_TABLE: "container", TreeClass.OBJ_TABLE: "object",
              TreeClass.DKEY: "dkey", TreeClass.AKEY: "akey", TreeClass.SINGV: "single-value",
              TreeClass.EVT: "extent", TreeClass.DTX_ACT: "active DTX",
              TreeClass.DTX_CMT: "committed DTX", TreeClass.VEA: "VEA free-extent"}


_ARTICLE_TREE = {TreeClass.AKEY: "an akey", TreeClass.SINGV: "a single-value",
                 TreeClass.EVT: "an extent"}


@dataclass
class Finding:
    """One inconsistency: its problem code and a JSON-able context (message fields + repair data)."""
    code: int
    ctx: dict
    shard: str = ""

    @property
    def problem(self):
        return problem(self.code)

    @property
    def message(self) -> str:
        try:
            return self.problem.message.format(**self.ctx)
        except (KeyError, IndexError, ValueError):
            return self.problem.message

    def identity(self) -> tuple:
        keys = sorted(k for k in self.ctx if k not in _NOT_IDENTITY)
        return (self.code, self.shard, tuple((k, str(self.ctx[k])) for k in keys))


#: context that describes how much, not what: the same inconsistency found again may differ there
_NOT_IDENTITY = frozenset(("lost", "count", "ranges", "extents", "drop", "refs"))


def _otype(oid_text: str) -> int:
    try:
        return Oid.parse(oid_text).otype
    except ValueError:
        return 0


def owner_label(owner: list) -> str:
    if not owner:
        return "the pool"
    parts = [owner[0]] + owner[1:2]
    otype = _otype(owner[1]) if len(owner) > 1 else 0
    parts += [format_key(bytes.fromhex(k), otype) for k in owner[2:]]
    return "/" + "/".join(parts)


def label_text(label) -> str:
    """Page/block owner labels are stored lazily as (owner path, suffix)."""
    if isinstance(label, tuple):
        return owner_label(label[0]) + label[1]
    return label


def _media_name(media: int) -> str:
    try:
        return Media(media).name
    except ValueError:
        return f"unknown media {media}"


def _ranges(pages) -> tuple[list, str]:
    ext = coalesce((p, 1) for p in sorted(pages))
    text = ", ".join(f"{s}" if n == 1 else f"{s}-{s + n - 1}" for s, n in ext[:6])
    return [list(e) for e in ext], text + (", ..." if len(ext) > 6 else "")


@dataclass
class ShardFacts:
    pages: dict = field(default_factory=dict)       # page -> owner label
    doubles: list = field(default_factory=list)
    blocks: dict = field(default_factory=dict)
    lid_records: set = field(default_factory=set)   # (type, oid, dkey, akey, vkey, lid, epoch)
    free_pages: set = field(default_factory=set)
    freelist_ok: bool = True
    vea_ok: bool = True
    vea_free: set = field(default_factory=set)
    records: int = 0
    value_bytes: int = 0


def _no_tick() -> None:
    pass


class ShardScan:
    def __init__(self, shard, progress=None, tick=None):
        """``tick``: called once per tree walked; it may raise to cancel the scan (check stop)."""
        self.tick = tick or _no_tick
        self.shard = shard
        self.sb = shard.sb
        self.reader = shard.reader
        self.findings: list[Finding] = []
        self.facts = ShardFacts()
        self.progress = progress
        self._drops: list = []          # (finding ctx, pages its repair stops using)
        self._blob_ok = None            # the NVMe blob opened and is ours (None: not yet tried)

    def add(self, code: int, **ctx) -> None:
        self.findings.append(Finding(code, {k: label_text(v) if isinstance(v, tuple) else v
                                            for k, v in ctx.items()}, self.shard.path))

    def add_dropping(self, code: int, pages, **ctx) -> None:
        """A finding whose repair stops using ``pages`` (a rebuilt tree's old nodes, a
        rewritten list): P4 names those only this structure owns in ``ctx["drop"]``, so the
        repair frees them in the same transaction instead of leaving them leaked."""
        self.add(code, **ctx)
        self._drops.append((self.findings[-1].ctx, pages))

    # --- the passes --------------------------------------------------------------
    def run(self) -> list[Finding]:
        for n, step in enumerate((self.p0_superblock, self.p1_p2_p3_trees, self.p4_space), 1):
            step()
            if self.progress:
                self.progress(n, 3)
        return self.findings

    def p0_superblock(self) -> None:
        """The file against the size its superblock describes (the missing pages are read as
        unreadable by the other passes), and the copy not in use: damaged (as opening judged
        it) or of another pool or state."""
        from vosfmt.shard import decode_superblock
        cut = getattr(self.shard, "truncated", None)
        if cut is not None:
            size, want = cut
            self.add(Code.SHARD_TRUNCATED, size=size, pages=self.sb.total_pages,
                     lost=-(-(want - size) // PAGE_SIZE))
        other = 1 - self.sb.slot
        reason = getattr(self.shard, "slot_faults", {}).get(other)
        if reason is None:
            raw = self.shard.df.read(other * PAGE_SIZE, 244)
            try:
                sb = decode_superblock(raw, other, self.shard.path)
                if sb.pool_uuid != self.sb.pool_uuid or sb.generation > self.sb.generation:
                    reason = "it belongs to another state"
            except (VosError, ValueError) as e:
                reason = getattr(e, "reason", str(e))
        if reason is not None:
            self.add(0x000001, slot=other, reason=reason, gen=self.sb.generation)

    def p1_p2_p3_trees(self) -> None:
        f = self.facts
        sb = self.sb
        # free-page list (P1)
        try:
            for page, extents in self.shard.freelist_pages():
                self.own(page, "free-page list")
                for start, count in extents:
                    f.free_pages.update(range(start, start + count))
        except CorruptionError as e:
            f.freelist_ok = False
            self.add(0x010002, page=(e.offset or 0) // PAGE_SIZE, reason=e.reason)
        # VEA (P1)
        if sb.nvme_size:
            items = self.walk(sb.vea_root, [], "vea_root")
            if items is None:
                f.vea_ok = False
            else:
                self._vea_free(items)
        # containers and below (P1-P3)
        for ck, _cv, c in self.walk(sb.cont_root, [], "cont_root") or []:
            cu = uuid_str(ck)
            if c.uuid != ck:
                self.add(0x020004, what="container", key=cu, stored=uuid_str(c.uuid), path=[cu])
            self.container(c, cu)

    def _vea_free(self, items) -> None:
        """Collect the VEA free extents; one outside the device damages the map (rebuilt whole)."""
        f, sb = self.facts, self.sb
        lo, hi = sb.hdr_blks, sb.hdr_blks + sb.tot_blks
        for k, _v, (cnt, _age) in items:
            off = epoch_from_key(k)
            if off < lo or cnt <= 0 or off + cnt > hi:
                f.vea_ok = False
                try:
                    pages = list(self.reader.pages(sb.vea_root))
                except CorruptionError:
                    pages = []
                self.add_dropping(0x010001, pages, tree=TREE_NAMES[TreeClass.VEA], owner="the pool",
                                  page=0, reason=f"free extent {off}+{cnt} lies outside the device's "
                                  f"blocks {lo}..{hi - 1}", lost=0, path=[], field="vea_root",
                                  tclass=int(TreeClass.VEA))
                return
            f.vea_free.update(range(off, off + cnt))

    def _orphan_default(self, epoch: int) -> Action:
        """DAOS's rule for an orphan local id: commit below the stable epoch, else abort."""
        return Action.READD if epoch < self._stable else Action.DISCARD

    def container(self, c, cu: str) -> None:
        self._stable = c.global_stable_epoch
        owner = [cu]
        active = {}
        for _k, _v, e in self.walk(c.dtx_act_root, owner, "dtx_act_root") or []:
            active[e.lid] = e
            self.run_of(e.records, f"/{cu} dtx {e.xid} records")
            self.run_of(e.mbs, f"/{cu} dtx {e.xid} membership")
        committed = {}
        for k, _v, e in self.walk(c.dtx_cmt_root, owner, "dtx_cmt_root") or []:
            committed[bytes(k)] = e
            if not e.epoch:
                fields.dtx_cmt_epoch_finding(self, e, cu)
        self.facts.lid_records = set()          # local ids are per container
        for k, _ov, o in self.walk(c.obj_root, owner, "obj_root") or []:
            oid = o.oid
            if oid_key(oid) != k:             # lookups go by the key: it is the object's id
                oid = oid_from_key(k)
                self.add(0x020004, what="object", key=str(oid), stored=str(o.oid),
                         path=[cu, str(oid)])
            self.object(o, oid, cu, active)
        self.p3_dtx(cu, active, committed)

    def object(self, o, oid, cu: str, active: dict) -> None:
        """P1-P3 below one object: the hot loop of the check (one pass per value)."""
        owner = [cu, str(oid)]
        walk, check_ilog, value = self.walk, self.check_ilog, self.value
        newest = check_ilog([(e.epoch, e.tx_id, e.punch_minor, e.update_minor)
                             for e in o.ilog.entries], owner, active,
                            (RecType.ILOG, oid, b"", b"", b""))
        want_d, want_a = dkey_kind(oid.otype), akey_kind(oid.otype)
        dkeys = walk(o.dkey_root, owner, "dkey_root")
        dkind = o.dkey_root.key_kind
        if dkind != want_d and o.dkey_root.tclass == TreeClass.DKEY:   # the type decides it
            dkind = fields.key_kind_finding(self, o.dkey_root, dkeys, owner, want_d, "dkey",
                                            oid.otype_name)
        for dk, _dv, d in dkeys or ():
            dkey = dkey_uncollate(dkind, dk) if dkind == KeyKind.UINT64 else dk
            downer = owner + [dkey.hex()]
            n = check_ilog(d.ilog_tuples(), downer, active, (RecType.ILOG, oid, dkey, b"", b""))
            if n > newest:
                newest = n
            akind = d.child_root.key_kind
            found = len(self.findings)
            akeys = walk(d.child_root, downer, "child_root")
            self.key_flags(d, downer, len(self.findings) == found)
            if akind != want_a and d.child_root.tclass == TreeClass.AKEY:
                akind = fields.key_kind_finding(self, d.child_root, akeys, downer, want_a, "akey",
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
                self.add(0x020005, level="dkey" if len(where) == 3 else "akey",
                         owner=owner_label(where), path=where)
        if newest > o.max_write:
            self.add(0x020003, owner=owner_label(owner), stored=o.max_write, actual=newest,
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
                fields.ilog_minors_finding(self, owner, epoch, e[2])
            if lid in (DTX_LID_COMMITTED, DTX_LID_ABORTED) or lid & DTX_LID_SOLO_FLAG:
                continue
            self.facts.lid_records.add(ref + (lid, epoch))
            a = active.get(lid)
            if a is None or a.epoch != epoch:
                self.add(0x030001, owner=owner_label(owner), path=owner, epoch=epoch, lid=lid,
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
            fields.value_finding(self, v, owner, sv, self._where(v, owner, sv))
        if not sv and not self.run_of(v.csums, (owner, f"/{{{v.lo}-{v.hi}}}@{v.epoch} checksums")):
            x = v.csums
            self.add(0x020002, media="shard", start=x.off, end=x.off + x.len - 1,
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
                        self.shard.verify_value(None, v, None)
                except CorruptionError as e:
                    where = self._where(v, owner, sv)
                    if "checksum" in e.reason:
                        self.add(0x020001, csum=csum_name(v.csum_type), **where)
                    else:
                        self.add(0x020002, media=_media_name(v.media), start=v.off,
                                 end=v.off + size - 1, where="file", **where)
                except VosError:            # e.g. the blob cannot be located: P6 reports that
                    pass
        lid = v.dtx_lid
        if lid >= DTX_LID_FIRST and not lid & DTX_LID_SOLO_FLAG:
            vt = epoch_key(v.epoch) if sv else extent_key(v.lo, v.epoch, v.minor)
            f.lid_records.add(((RecType.SVT if sv else RecType.EVT), oid, dkey, akey, vt, lid, v.epoch))
            a = active.get(lid)
            if a is None or a.epoch != v.epoch:
                self.add(0x030002, lid=lid, default=int(self._orphan_default(v.epoch)),
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
        f = self.facts
        where = self._where(v, owner, sv)
        label = where["value"]
        if v.media == Media.SCM:
            end = v.off + size
            if v.off < 2 * PAGE_SIZE or end > self.sb.total_pages * PAGE_SIZE:
                self.add(0x020002, media="shard", start=v.off, end=end - 1,
                         where=f"shard's {self.sb.total_pages} pages", **where)
                return False
            for p in range(v.off // PAGE_SIZE, -(-end // PAGE_SIZE)):
                self.own(p, label, where)
        elif v.media == Media.NVME:
            bs = self.sb.blk_size or 1
            lo, hi = self.sb.hdr_blks, self.sb.hdr_blks + self.sb.tot_blks
            first, last = v.off // bs, -(-(v.off + size) // bs)
            if not self.sb.nvme_size or v.off % bs or first < lo or last > hi:
                self.add(0x020002, media="NVMe", start=v.off, end=v.off + size - 1,
                         where="device", **where)
                return False
            for b in range(first, last):
                if b in f.blocks:
                    f.doubles.append(("block", b, label, f.blocks[b], where))
                else:
                    f.blocks[b] = label
        return True

    def p3_dtx(self, cu: str, active: dict, committed: dict) -> None:
        from vosfmt.keys import xid_key
        for e in active.values():
            refs = self._refs(e, cu)
            bad = [r for r in refs
                   if (r.type, r.oid, r.dkey, r.akey, r.vkey, e.lid, e.epoch) not in self.facts.lid_records]
            if bad:
                self.add(0x030003, xid=str(e.xid), count=len(bad), cont=cu)
            fields.dtx_oid_finding(self, e, [r for r in refs if r not in bad], cu)
            fields.dtx_groups_finding(self, e, cu)
            if xid_key(e.xid) in committed:
                self.add(0x030004, xid=str(e.xid), cont=cu)

    def _refs(self, e, cu: str) -> list:
        """An active entry's record references; an unreadable list is a finding (and [])."""
        x = e.records
        inside = self._inside(x)
        try:
            if not inside:
                raise CorruptionError(f"it lies outside the shard's {self.sb.total_pages} pages")
            return dec_refs(self.shard.ext_bytes(x, None, "dtx record list"), e.rec_cnt)
        except (VosError, ValueError, IndexError, struct.error) as err:
            reason = getattr(err, "reason", str(err))
        mine = [[t, str(oid), dk.hex(), ak.hex(), vk.hex()]
                for t, oid, dk, ak, vk, lid, epoch in self.facts.lid_records
                if lid == e.lid and epoch == e.epoch]
        pages = range(x.off // PAGE_SIZE, -(-(x.off + x.len) // PAGE_SIZE)) \
            if inside and x.media == Media.SCM else ()
        self.add_dropping(0x030005, pages, xid=str(e.xid), cont=cu, reason=reason,
                          refs=sorted(mine))
        return []

    # --- P4 -------------------------------------------------------------------------
    def p4_space(self) -> None:
        f = self.facts
        dropped = self._settle_drops()
        seen = set()
        for kind, p, first, second, value in f.doubles:
            if kind == "page" and p in dropped:    # a rebuild ends the sharing
                continue
            if label_text(first) in seen:          # one finding per value that shares space
                continue
            seen.add(label_text(first))
            ctx = dict(what="shard page" if kind == "page" else "NVMe block", page=p,
                       first=label_text(first), second=label_text(second))
            if value is not None:
                ctx.update(value)
                ctx["default"] = int(Action.TRUST_TARGET)
            else:
                ctx["default"] = int(Action.IGNORE)
            self.add(0x040003, **ctx)
        used = set(f.pages)
        if f.freelist_ok:
            both = used & f.free_pages
            if both:
                ext, text = _ranges(both)
                self.add(0x040002, count=len(both), ranges=text, extents=ext)
            leaked = set(range(2, self.sb.total_pages)) - used - f.free_pages
            if leaked:
                ext, text = _ranges(leaked)
                self.add(0x040001, count=len(leaked), ranges=text, extents=ext)
        if self.sb.nvme_size and f.vea_ok:
            lo, hi = self.sb.hdr_blks, self.sb.hdr_blks + self.sb.tot_blks
            both = set(f.blocks) & f.vea_free
            if both:
                ext, text = _ranges(both)
                self.add(0x040005, count=len(both), ranges=text, extents=ext)
            leaked = set(range(lo, hi)) - set(f.blocks) - f.vea_free
            if leaked:
                ext, text = _ranges(leaked)
                self.add(0x040004, count=len(leaked), ranges=text, extents=ext)

    def _settle_drops(self) -> set:
        """Fill in ``drop`` of findings whose repair leaves pages unused; returns all their pages.

        Only pages inside the shard and owned by nobody else are dropped: a page a
        damaged pointer shares with a live structure must stay in use.
        """
        shared = {p for kind, p, *_ in self.facts.doubles if kind == "page"}
        total = self.sb.total_pages
        every = set()
        for ctx, pages in self._drops:
            mine = {p for p in pages if 2 <= p < total}
            every |= mine
            ctx["drop"] = _ranges(mine - shared)[0]
        return every

    # --- helpers ---------------------------------------------------------------------
    def own(self, page: int, label: str, value=None) -> None:
        f = self.facts
        if page in f.pages:
            f.doubles.append(("page", page, label, f.pages[page], value))
        else:
            f.pages[page] = label

    def _inside(self, x) -> bool:
        """Do the shard pages of an ExtBytes lie inside the shard (inline bytes always do)?"""
        return x.media != Media.SCM or not x.len or \
            (x.off >= 2 * PAGE_SIZE and x.off + x.len <= self.sb.total_pages * PAGE_SIZE)

    def run_of(self, x, label) -> bool:
        """Own the pages of an ExtBytes; False (owning nothing) if they lie outside the shard."""
        if not self._inside(x):
            return False
        if x.media == Media.SCM and x.len:
            for p in range(x.off // PAGE_SIZE, -(-(x.off + x.len) // PAGE_SIZE)):
                self.own(p, label)
        return True

    def walk(self, root, owner: list, fieldname: str):
        """Readable, decodable (key, value) pairs of a tree, in order; reports the rest.

        Returns None when nothing of the tree could be read.
        """
        self.tick()
        if root.flags & RootFlags.EMBEDDED and root.count == 1:
            # most value trees hold one record in their parent: no pages, no order to check
            try:
                (k,), (v,) = self.reader.embedded_entries(root)
                return [(k, v, fields.SCAN_DECODERS[root.tclass](k, v))]
            except (CorruptionError, ValueError, IndexError, KeyError, struct.error):
                pass                            # let the general path name what is wrong
        pages, wrong = [], []
        items, bad = read_tree(self.reader, root, self.own, (owner, ""), pages, wrong)
        if not bad and len(items) == root.count and not wrong:
            return items
        ctx = dict(tree=TREE_NAMES.get(root.tclass, "tree"), owner=owner_label(owner), path=owner,
                   field=fieldname, tclass=int(root.tclass))
        if bad:
            page, reason = bad[0]
            self.add_dropping(0x010001, pages, page=page, reason=reason,
                              lost=max(root.count - len(items), 0), **ctx)
            return items if items else (None if root.count else [])
        if len(items) != root.count:
            self.add_dropping(0x010003, pages, stored=root.count, actual=len(items), where="", **ctx)
        else:
            page, stored, actual = wrong[0]
            self.add_dropping(0x010003, pages, stored=stored, actual=actual,
                              where=f" (branch entry for page {page})", **ctx)
        return items


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


def read_tree(reader, root, own=None, label: str = "", pages=None, miscounts=None):
    """(items, bad): (key, value bytes, decoded) records of a tree in key order, and unreadable parts.

    ``pages`` (a list) receives the tree's node pages, each once: what a rebuild
    of the tree leaves behind. ``miscounts`` receives (page, stored, actual) for
    every branch entry whose subtree count is wrong: lookups by index (``[i]``)
    go astray there although every record is readable. A branch key that does
    not bound its subtree, or a node reached twice (a cycle, a copied pointer),
    is damage: lookups by key would miss records.
    """
    items, bad = [], []
    try:
        decode = fields.scan_decoder(root.tclass)
    except ValueError as e:             # a damaged descriptor: no record decodes
        def decode(k, v, e=e):
            raise e
    if root.flags & RootFlags.EMBEDDED:
        try:
            keys, vals = reader.embedded_entries(root)
        except CorruptionError as e:
            bad.append((0, e.reason))
        else:
            _take(items, bad, decode, keys, vals, 0, None)
        return items, bad
    if not root.page:
        return items, bad
    node_label = (label[0], f" {TREE_NAMES.get(root.tclass, '')} tree node") \
        if isinstance(label, tuple) else f"{label} {TREE_NAMES.get(root.tclass, '')} tree node"
    w = _TreeWalk(reader, root.tclass, decode, items, bad, own, node_label, miscounts)
    w.run(root.page, root.depth)
    if pages is not None:
        pages.extend(w.seen)
    return items, bad


class _TreeWalk:
    """One depth-first pass over a tree's pages, checking what lookups rely on."""

    def __init__(self, reader, tclass, decode, items, bad, own, node_label, miscounts):
        self.reader, self.tclass, self.decode = reader, tclass, decode
        self.items, self.bad, self.own, self.node_label = items, bad, own, node_label
        self.miscounts = miscounts
        self.seen: dict = {}            # page -> None, in visiting order
        self.entries = 0                # leaf entries met so far (decodable or not)
        self.last = None                # the last key met
        self.lower = None               # the branch key bounding the next leaf from below

    def run(self, page: int, depth: int) -> None:
        # ("node", page, level, branch key, stored count), or ("end", page, stored count,
        # entries and findings before the subtree) once the subtree is done
        stack = [("node", page, depth, None, None)]
        while stack:
            item = stack.pop()
            if item[0] == "end":
                _tag, parent, stored, start, nbad = item
                actual = self.entries - start
                if stored is not None and actual != stored and len(self.bad) == nbad \
                        and self.miscounts is not None:       # (a damaged subtree has no count)
                    self.miscounts.append((parent, stored, actual))
                continue
            _tag, page, level, key, stored = item
            stack.append(("end", page, stored, self.entries, len(self.bad)))
            node = self.visit(page, level, key)
            if node is None:
                continue
            if node.leaf:
                self.leaf(page, node)
            else:
                stack.extend(("node", k, level - 1, node.keys[j] if j else None, node.counts[j])
                             for j, k in reversed(list(enumerate(node.kids))))

    def visit(self, page: int, level: int, key):
        """The node at ``page`` if it is sound where it was reached, else None (reported)."""
        if page in self.seen:
            self.bad.append((page, "node reached twice (a cycle or a duplicated pointer)"))
            return None
        self.seen[page] = None
        if self.own is not None:
            self.own(page, self.node_label)
        try:
            node = self.reader.node(page, self.tclass, None)
        except CorruptionError as e:
            self.bad.append((page, e.reason))
            return None
        if node.level != level:
            self.bad.append((page, f"node at level {node.level}, expected {level}"))
            return None
        if key is not None:
            if self.last is not None and self.last >= key:
                self.bad.append((page, "branch key does not bound its subtree"))
            self.lower = key
        return node

    def leaf(self, page: int, node) -> None:
        if self.lower is not None and node.keys[0] < self.lower:
            self.bad.append((page, "branch key does not bound its subtree"))
        self.lower = None
        self.entries += len(node.keys)
        self.last = _take(self.items, self.bad, self.decode, node.keys, node.vals, page, self.last)


def _take(items: list, bad: list, decode, keys, vals, page: int, last):
    """Decode one leaf's records into ``items``; returns the last key seen."""
    for k, v in zip(keys, vals):
        if last is not None and k <= last:
            bad.append((page, "keys out of order"))       # lookups would miss records
        last = k
        try:
            items.append((k, v, decode(k, v)))
        except (CorruptionError, ValueError, IndexError, KeyError, struct.error) as e:
            bad.append((page, f"malformed record ({e})"))
    return last


# --- across files (P6) --------------------------------------------------------------

def scan_image_smd(db_root: str, shards: list) -> list[Finding]:
    """SMD rows against the shards and blobs that exist; a sys db that cannot be read is one
    finding (every row is decoded, so ``ddb smd`` reads what the check passed)."""
    from vosfmt.image import shard_path
    from vosfmt.smd import SysDb
    try:
        with SysDb(db_root) as db:
            pools, targets = db.pools(), db.targets()
            db.devices()
    except (VosError, ValueError) as e:
        return [Finding(0x060003, dict(reason=getattr(e, "reason", str(e))), "")]
    out = []
    rebuildable = _BlobHeaders(db_root)
    for sh in shards:
        reason = _blob_problem(db_root, sh, pools, targets) if sh.sb.nvme_size else None
        if reason is None:
            continue
        if isinstance(reason, Finding):
            out.append(reason)
            continue
        ctx = dict(pool=sh.pool_uuid, target=sh.sb.target_idx, reason=reason)
        if (sh.sb.pool_uuid, sh.sb.target_idx) not in rebuildable:
            ctx["reason"] += ("; no blob under daos_nvme has a readable header naming this pool "
                              "and target (and agreeing with its file name), so SMD cannot be "
                              "rebuilt for it")
            ctx["default"] = int(Action.IGNORE)
        out.append(Finding(0x060001, ctx, sh.path))
    for puuid, row in pools.items():
        for t in row.tgts:
            if not os.path.exists(shard_path(db_root, puuid, t)):
                out.append(Finding(0x060002, dict(pool=uuid_str(puuid), target=t), ""))
    return out


def _blob_problem(db_root: str, sh, pools: dict, targets: dict):
    """Why SMD does not lead a shard to its own NVMe blob (None if it does); a
    Code.BLOB_HEADER_WRONG Finding when it does but the blob's header disagrees with the facts
    that repeat it."""
    from vosfmt.blob import blob_path, read_header
    pool = pools.get(sh.sb.pool_uuid)
    blob = pool.blob_of(sh.sb.target_idx) if pool else None
    dev = targets.get(sh.sb.target_idx)
    if pool is None or blob is None or dev is None:
        return "no SMD row"
    p = blob_path(db_root, dev, blob)
    try:
        h = read_header(p)
    except VosError as e:
        return str(e)
    if h.pool_uuid != sh.sb.pool_uuid or h.vos_id != sh.sb.target_idx:
        return f"the blob SMD names ({p}) belongs to another pool or target"
    return _blob_header_wrong(db_root, p, h, sh, blob, dev)


def _blob_header_wrong(db_root: str, path: str, h, sh, blob: int, dev: bytes):
    """BLOB_HEADER_WRONG for the header of a shard's own blob (its pool and target agree
    with the shard and the SMD row that names the file) whose blob id disagrees with its
    file name and SMD row, device with its directory and SMD's target row, or block
    geometry with the shard's superblock; None when every field agrees."""
    want = dict(blob_id=blob, dev_uuid=dev, blk_sz=sh.sb.blk_size, hdr_blks=sh.sb.hdr_blks)
    whence = dict(blob_id="its file name and SMD row", dev_uuid="its directory and SMD",
                  blk_sz="the shard's superblock", hdr_blks="the shard's superblock")
    wrong = [n for n in want if getattr(h, n) != want[n]]
    if not wrong:
        return None

    def show(n, v):
        return uuid_str(v) if n == "dev_uuid" else str(v)
    ctx = dict(blob=os.path.relpath(path, db_root), pool=sh.pool_uuid, target=sh.sb.target_idx,
               stored=", ".join(f"{n} {show(n, getattr(h, n))}" for n in wrong),
               expected=", ".join(f"{n} {show(n, want[n])} ({whence[n]})" for n in wrong),
               fix=dict(blob_id=blob, dev_uuid=dev.hex(), blk_sz=sh.sb.blk_size,
                        hdr_blks=sh.sb.hdr_blks))
    return Finding(Code.BLOB_HEADER_WRONG, ctx, sh.path)


class _BlobHeaders:
    """(pool uuid, target) of every blob smd_sync would find, read only when first asked
    (a header that disagrees with its file name or directory is not one: smd_sync skips it)."""

    def __init__(self, db_root: str):
        self.db_root = db_root
        self._found = None

    def __contains__(self, pool_target) -> bool:
        if self._found is None:
            from vosfmt.blob import name_disagreement, scan_blobs
            self._found = {(h.pool_uuid, h.vos_id) for p, h in scan_blobs(self.db_root)
                           if not isinstance(h, Exception) and name_disagreement(p, h) is None}
        return pool_target in self._found


class FindingSet:
    """Findings met so far, to tell one found again from a new one.

    The same inconsistency has the same identity; for space findings it must also
    share pages or blocks (a new leak elsewhere is another finding).
    """

    def __init__(self, findings=()):
        self._by: dict = {}
        for f in findings:
            self.add(f)

    def add(self, f: Finding) -> None:
        self._by.setdefault(f.identity(), []).append(f)

    def __contains__(self, f: Finding) -> bool:
        return any(_overlaps(f, g) for g in self._by.get(f.identity(), ()))


def _overlaps(f: Finding, g: Finding) -> bool:
    a, b = f.ctx.get("extents"), g.ctx.get("extents")
    if a is None or b is None:
        return True
    return any(s1 < s2 + n2 and s2 < s1 + n1 for s1, n1 in a for s2, n2 in b)
