"""Who owns each page of a shard and each block of its NVMe blob.

``SpaceUsage`` is the ledger: it records the first owner of every page and
block, every second claim on one, and what the free-page list and the VEA
free map hold, and from that says what is leaked (neither used nor free) or
both free and used. Two walks fill it: ``space_usage`` below, from the
superblock through the shard's own readers (tree node pages, SCM runs of
values, checksum arrays and DTX record lists, the free-page list; blob blocks
of NVMe values and the VEA free map), which the crash tests and ``ddb``
rely on; and the checker's scan, which reads the same structures without
trusting them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .constants import FIRST_DATA_PAGE, Media


@dataclass
class SpaceUsage:
    """The ledger of one shard. ``labelled`` None keeps the owner of every used page in
    ``pages`` (what ``ddb`` and the fixtures show); a set keeps only those pages' owners,
    so a checker's memory does not grow with the shard: whether a page is used is one byte
    of ``used`` per page, and the owners a finding needs are looked up afterwards (a second
    claim records its first owner as None then)."""
    total_pages: int
    page_size: int
    blk_size: int = 1
    blk_range: tuple = (0, 0)                         # usable blocks [lo, hi)
    pages: dict = field(default_factory=dict)         # page -> first owner (see labelled)
    page_conflicts: list = field(default_factory=list)  # (page, owner, first owner, detail)
    free_pages: set = field(default_factory=set)
    blocks: dict = field(default_factory=dict)
    block_conflicts: list = field(default_factory=list)
    free_blocks: set = field(default_factory=set)
    labelled: set | None = None
    used: bytearray = field(default_factory=bytearray)  # 1 per used page below total_pages

    @classmethod
    def of(cls, sb, labelled: set | None = None) -> SpaceUsage:
        """An empty ledger for the shard whose superblock is ``sb``."""
        return cls(sb.total_pages, sb.page_size, sb.blk_size or 1,
                   (sb.hdr_blks, sb.hdr_blks + sb.tot_blks), labelled=labelled,
                   used=bytearray(sb.total_pages))

    def own_page(self, page: int, owner, detail=None) -> None:
        """Record ``owner`` using ``page`` (``detail``: what a second claim should carry)."""
        used = self.used
        if 0 <= page < len(used):
            if used[page]:
                self.page_conflicts.append((page, owner, self.pages.get(page), detail))
                return
            used[page] = 1
            if self.labelled is None or page in self.labelled:
                self.pages[page] = owner
        elif page in self.pages:        # a damaged pointer past the end: always labelled
            self.page_conflicts.append((page, owner, self.pages[page], detail))
        else:
            self.pages[page] = owner

    def is_used(self, page: int) -> bool:
        used = self.used
        return bool(used[page]) if 0 <= page < len(used) else page in self.pages

    def own_block(self, blk: int, owner, detail=None) -> None:
        if blk in self.blocks:
            self.block_conflicts.append((blk, owner, self.blocks[blk], detail))
        else:
            self.blocks[blk] = owner

    def own_run(self, media: int, off: int, size: int, owner, detail=None) -> None:
        """Record the shard pages (SCM) or blob blocks (NVMe) of ``size`` bytes at ``off``."""
        if not size:
            return
        if media == Media.SCM:
            ps = self.page_size
            for p in range(off // ps, -(-(off + size) // ps)):
                self.own_page(p, owner, detail)
        elif media == Media.NVME:
            bs = self.blk_size
            for b in range(off // bs, -(-(off + size) // bs)):
                self.own_block(b, owner, detail)

    def own_free_list(self, shard) -> None:
        """Walk the free-page list: its own pages are used, the pages it lists free. Raises
        CorruptionError where the list cannot be read (what was read stays recorded)."""
        for page, extents in shard.freelist_pages():
            self.own_page(page, "free-page list")
            for start, count in extents:
                self.free_pages.update(range(start, start + count))

    def unused_pages(self, end: int | None = None) -> list[int]:
        """Data pages below ``end`` (default: the ledger's total) nothing uses, in order,
        whether free or not."""
        used, out, total = self.used, [], self.total_pages
        p = used.find(0, FIRST_DATA_PAGE, total)
        while p != -1:
            out.append(p)
            p = used.find(0, p + 1, total)
        return out + [p for p in range(total, end or total) if p not in self.pages]

    @property
    def leaked_pages(self) -> set:
        return set(self.unused_pages()) - self.free_pages

    @property
    def leaked_blocks(self) -> set:
        lo, hi = self.blk_range
        return set(range(lo, hi)) - set(self.blocks) - self.free_blocks

    @property
    def free_and_used_pages(self) -> set:
        return {p for p in self.free_pages if self.is_used(p)}

    @property
    def free_and_used_blocks(self) -> set:
        return self.free_blocks & set(self.blocks)


def space_usage(shard) -> SpaceUsage:
    """The ledger of a shard, filled through its readers (which raise on damage)."""
    u = SpaceUsage.of(shard.sb)

    def tree(root, owner: str) -> None:
        for p in shard.reader.pages(root, owner):
            u.own_page(p, f"{owner} tree node")

    tree(shard.sb.cont_root, "container table")
    tree(shard.sb.vea_root, "vea")
    for c in shard.containers():
        tree(c.rec.obj_root, c.path)
        tree(c.rec.dtx_act_root, c.path + " active dtx")
        tree(c.rec.dtx_cmt_root, c.path + " committed dtx")
        for e in c.dtx_active():
            u.own_run(e.records.media, e.records.off, e.records.len, f"{c.path} dtx {e.xid} records")
            u.own_run(e.mbs.media, e.mbs.off, e.mbs.len, f"{c.path} dtx {e.xid} membership")
        for o in c.objects():
            tree(o.rec.dkey_root, o.path)
            for d in o.dkeys():
                tree(d.rec.child_root, d.path)
                for a in d.akeys():
                    tree(a.rec.child_root, a.path)
                    for v in a.single_values():
                        if not v.is_punch:
                            u.own_run(v.media, v.off, v.size, f"{a.path}@{v.epoch}")
                    for e in a.extents():
                        if not e.is_punch:
                            u.own_run(e.media, e.off, e.nbytes, f"{a.path}{{{e.lo}-{e.hi}}}@{e.epoch}")
                        u.own_run(e.csums.media, e.csums.off, e.csums.len, f"{a.path} csums")
    u.own_free_list(shard)
    for e in shard.vea_free_extents():
        u.free_blocks.update(range(e.off, e.off + e.cnt))
    return u
