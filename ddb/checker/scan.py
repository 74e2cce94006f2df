"""One shard's scan: the passes in order, and what they share.

A scan reads everything through vosfmt but never trusts it: every node,
record and value is verified on its own, so one damaged page is one finding
and the walk goes on. It collects the facts later passes need (who owns
each page and block, which records carry which local id) and returns
Findings; it never prints and never raises on corruption.

The passes: P0 the superblock and the file's size (here), P1 the free-page
list and the VEA (here), P1-P3 containers and below (``scan_records``, with
``scan_dtx`` for the active transactions), P4 space (``scan_space``). P6,
across files, is ``scan_smd``. Every tree is read through ``walk``, which
reports what cannot be read and returns what can.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field

from vosfmt import CorruptionError, VosError
from vosfmt.constants import PAGE_SIZE, Media, RootFlags, TreeClass
from vosfmt.errors import NoSuperblockError
from vosfmt.keys import epoch_from_key
from vosfmt.treewalk import Damage, Leaf, TreeWalk
from vosfmt.usage import SpaceUsage

from . import fields
from .finding import Finding, label_text, owner_label
from .problems import Code
from .scan_records import RecordPass
from .scan_space import space_pass

TREE_NAMES = {TreeClass.CONT_TABLE: "container", TreeClass.OBJ_TABLE: "object",
              TreeClass.DKEY: "dkey", TreeClass.AKEY: "akey", TreeClass.SINGV: "single-value",
              TreeClass.EVT: "extent", TreeClass.DTX_ACT: "active DTX",
              TreeClass.DTX_CMT: "committed DTX", TreeClass.VEA: "VEA free-extent"}


@dataclass
class ShardFacts:
    space: SpaceUsage                               # who owns each page and block, what is free
    lid_records: set = field(default_factory=set)   # (type, oid, dkey, akey, vkey, lid, epoch)
    freelist_ok: bool = True
    vea_ok: bool = True
    records: int = 0
    value_bytes: int = 0


def _no_tick() -> None:
    pass


class ShardScan:
    def __init__(self, shard, progress=None, tick=None, labelled: set = frozenset()):
        """``tick``: called once per tree walked; it may raise to cancel the scan (check stop).
        ``labelled``: the pages whose owners the ledger keeps (see ``first_owners``)."""
        self.tick = tick or _no_tick
        self.shard = shard
        self.sb = shard.sb
        self.reader = shard.reader
        self.findings: list[Finding] = []
        self.facts = ShardFacts(SpaceUsage.of(shard.sb, labelled))
        self.progress = progress
        self.drops: list = []           # (finding ctx, pages its repair stops using)

    def add(self, code: Code, **ctx) -> None:
        self.findings.append(Finding(code, {k: label_text(v) if isinstance(v, tuple) else v
                                            for k, v in ctx.items()}, self.shard.path))

    def add_dropping(self, code: Code, pages, **ctx) -> None:
        """A finding whose repair stops using ``pages`` (a rebuilt tree's old nodes, a
        rewritten list): P4 names those only this structure owns in ``ctx["drop"]``, so the
        repair frees them in the same transaction instead of leaving them leaked."""
        self.add(code, **ctx)
        self.drops.append((self.findings[-1].ctx, pages))

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
        cut = getattr(self.shard, "truncated", None)
        if cut is not None:
            size, want = cut
            self.add(Code.SHARD_TRUNCATED, size=size, pages=self.sb.total_pages,
                     lost=-(-(want - size) // PAGE_SIZE))
        other = self.shard.superblock_slots()[1 - self.sb.slot]
        reason = other.fault
        if reason is None and (other.sb.pool_uuid != self.sb.pool_uuid
                               or other.sb.generation > self.sb.generation):
            reason = "it belongs to another state"
        if reason is not None:
            self.add(Code.SB_COPY_DAMAGED, slot=other.slot, reason=reason, gen=self.sb.generation)

    def p1_p2_p3_trees(self) -> None:
        f = self.facts
        sb = self.sb
        try:
            f.space.own_free_list(self.shard)
        except CorruptionError as e:
            f.freelist_ok = False
            self.add(Code.FREE_LIST_DAMAGED, page=(e.offset or 0) // PAGE_SIZE, reason=e.reason)
        if sb.nvme_size:
            items = self.walk(sb.vea_root, [], "vea_root")
            if items is None:
                f.vea_ok = False
            else:
                self._vea_free(items)
        RecordPass(self).run()

    def _vea_free(self, items) -> None:
        """Collect the VEA free extents; one outside the device damages the map (rebuilt whole)."""
        f, sb = self.facts, self.sb
        lo, hi = f.space.blk_range
        for k, _v, (cnt, _age) in items:
            off = epoch_from_key(k)
            if off < lo or cnt <= 0 or off + cnt > hi:
                f.vea_ok = False
                try:
                    pages = list(self.reader.pages(sb.vea_root))
                except CorruptionError:
                    pages = []
                self.add_dropping(Code.TREE_NODE_UNREADABLE, pages, tree=TREE_NAMES[TreeClass.VEA],
                                  owner="the pool", page=0,
                                  reason=f"free extent {off}+{cnt} lies outside the device's "
                                  f"blocks {lo}..{hi - 1}", lost=0, path=[], field="vea_root",
                                  tclass=int(TreeClass.VEA))
                return
            f.space.free_blocks.update(range(off, off + cnt))

    def p4_space(self) -> None:
        space_pass(self)

    def first_owners(self, pages: set) -> dict:
        """page -> its first owner, for pages claimed twice. The ledger keeps whether a page is
        used, not by whom (its memory would grow with the shard), so the trees are walked
        again recording only these pages' owners; only a damaged shard pays for it."""
        again = ShardScan(self.shard, tick=self.tick, labelled=pages)
        again.p1_p2_p3_trees()
        return again.facts.space.pages

    # --- helpers ---------------------------------------------------------------------
    def own(self, page: int, label, value=None) -> None:
        self.facts.space.own_page(page, label, value)

    def inside(self, x) -> bool:
        """Do the shard pages of an ExtBytes lie inside the shard (inline bytes always do)?"""
        return x.media != Media.SCM or not x.len or \
            (x.off >= 2 * PAGE_SIZE and x.off + x.len <= self.sb.total_pages * PAGE_SIZE)

    def run_of(self, x, label) -> bool:
        """Own the pages of an ExtBytes; False (owning nothing) if they lie outside the shard."""
        if not self.inside(x):
            return False
        if x.media == Media.SCM:
            self.facts.space.own_run(Media.SCM, x.off, x.len, label)
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
            self.add_dropping(Code.TREE_NODE_UNREADABLE, pages, page=page, reason=reason,
                              lost=max(root.count - len(items), 0), **ctx)
            return items if items else (None if root.count else [])
        if len(items) != root.count:
            self.add_dropping(Code.TREE_COUNT_WRONG, pages, stored=root.count, actual=len(items),
                              where="", **ctx)
        else:
            page, stored, actual = wrong[0]
            self.add_dropping(Code.TREE_COUNT_WRONG, pages, stored=stored, actual=actual,
                              where=f" (branch entry for page {page})", **ctx)
        return items


def unreadable_finding(db_root: str, path: str, e: VosError) -> Finding | None:
    """SHARD_UNREADABLE for a shard whose damage keeps it from being opened: no superblock
    copy holds, or none carries the magic (an empty, cut or overwritten file). None for what
    is not damage, which stays an operational error (exit 8): unknown incompatible features or
    a format version from a newer writer (refused, as e2fsck does), permissions, I/O, locks."""
    if not isinstance(e, (CorruptionError, NoSuperblockError)):
        return None
    reason = e.reason if isinstance(e, CorruptionError) else str(e)
    if reason.startswith(f"{path}: "):
        reason = reason[len(path) + 2:]
    return Finding(Code.SHARD_UNREADABLE, dict(file=os.path.relpath(path, db_root), reason=reason),
                   path)


def read_tree(reader, root, own=None, label: str = "", pages=None, miscounts=None):
    """(items, bad): (key, value bytes, decoded) records of a tree in key order, and unreadable parts.

    The tree is walked by ``vosfmt.treewalk.TreeWalk``. ``pages`` (a list)
    receives the tree's node pages, each once: what a rebuild of the tree
    leaves behind. ``miscounts`` receives (page, stored, actual) for every
    branch entry whose subtree count is wrong: lookups by index (``[i]``) go
    astray there although every record is readable. A branch key that does
    not bound its subtree, or a node reached twice (a cycle, a copied
    pointer), is damage: lookups by key would miss records.
    """
    items, bad = [], []
    try:
        decode = fields.scan_decoder(root.tclass)
    except ValueError as e:             # a damaged descriptor: no record decodes
        def decode(k, v, e=e):
            raise e
    walk = TreeWalk(reader, root)
    for event in walk:
        kind = type(event)
        if kind is Leaf:
            _take(items, bad, decode, event)
        elif kind is Damage:
            bad.append((event.page, event.reason))
        elif miscounts is not None:
            miscounts.append((event.page, event.stored, event.actual))
    if own is not None and walk.pages:
        node_label = (label[0], f" {TREE_NAMES.get(root.tclass, '')} tree node") \
            if isinstance(label, tuple) else f"{label} {TREE_NAMES.get(root.tclass, '')} tree node"
        for page in walk.pages:
            own(page, node_label)
    if pages is not None:
        pages.extend(walk.pages)
    return items, bad


def _take(items: list, bad: list, decode, leaf: Leaf) -> None:
    """Decode one leaf's records into ``items``, reporting those out of key order."""
    page, unordered = leaf.page, leaf.unordered
    for i, (k, v) in enumerate(zip(leaf.keys, leaf.vals)):
        if unordered and i in unordered:
            bad.append((page, "keys out of order"))       # lookups would miss records
        try:
            items.append((k, v, decode(k, v)))
        except (CorruptionError, ValueError, IndexError, KeyError, struct.error) as e:
            bad.append((page, f"malformed record ({e})"))

