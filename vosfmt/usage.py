"""Who owns each page of a shard and each block of its NVMe blob.

A full walk from the superblock: tree node pages, SCM runs of values,
checksum arrays and DTX record lists, and the free-page list; blob blocks
of NVMe values and the VEA free map. The result lets a caller prove that
every page and block is reachable, free, or leaked (and nothing is both),
which is what the crash tests and the checker's space pass rely on.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .constants import Media


@dataclass
class SpaceUsage:
    total_pages: int
    pages: dict = field(default_factory=dict)         # page -> first owner
    page_conflicts: list = field(default_factory=list)  # (page, owner, other owner)
    free_pages: set = field(default_factory=set)
    blk_range: tuple = (0, 0)                         # usable blocks [lo, hi)
    blocks: dict = field(default_factory=dict)
    block_conflicts: list = field(default_factory=list)
    free_blocks: set = field(default_factory=set)

    def own_page(self, page: int, owner: str) -> None:
        if page in self.pages:
            self.page_conflicts.append((page, owner, self.pages[page]))
        else:
            self.pages[page] = owner

    def own_block(self, blk: int, owner: str) -> None:
        if blk in self.blocks:
            self.block_conflicts.append((blk, owner, self.blocks[blk]))
        else:
            self.blocks[blk] = owner

    @property
    def leaked_pages(self) -> set:
        return set(range(2, self.total_pages)) - set(self.pages) - self.free_pages

    @property
    def leaked_blocks(self) -> set:
        lo, hi = self.blk_range
        return set(range(lo, hi)) - set(self.blocks) - self.free_blocks

    @property
    def free_and_used_pages(self) -> set:
        return self.free_pages & set(self.pages)

    @property
    def free_and_used_blocks(self) -> set:
        return self.free_blocks & set(self.blocks)


def space_usage(shard) -> SpaceUsage:
    sb = shard.sb
    ps = sb.page_size
    u = SpaceUsage(sb.total_pages)
    u.blk_range = (sb.hdr_blks, sb.hdr_blks + sb.tot_blks)

    def run(media: int, off: int, size: int, owner: str) -> None:
        if not size:
            return
        if media == Media.SCM:
            for p in range(off // ps, -(-(off + size) // ps)):
                u.own_page(p, owner)
        elif media == Media.NVME:
            for b in range(off // sb.blk_size, -(-(off + size) // sb.blk_size)):
                u.own_block(b, owner)

    def tree(root, owner: str) -> None:
        for p in shard.reader.pages(root, owner):
            u.own_page(p, f"{owner} tree node")

    tree(sb.cont_root, "container table")
    tree(sb.vea_root, "vea")
    for c in shard.containers():
        tree(c.rec.obj_root, c.path)
        tree(c.rec.dtx_act_root, c.path + " active dtx")
        tree(c.rec.dtx_cmt_root, c.path + " committed dtx")
        for e in c.dtx_active():
            run(e.records.media, e.records.off, e.records.len, f"{c.path} dtx {e.xid} records")
            run(e.mbs.media, e.mbs.off, e.mbs.len, f"{c.path} dtx {e.xid} membership")
        for o in c.objects():
            tree(o.rec.dkey_root, o.path)
            for d in o.dkeys():
                tree(d.rec.child_root, d.path)
                for a in d.akeys():
                    tree(a.rec.child_root, a.path)
                    for v in a.single_values():
                        if not v.is_punch:
                            run(v.media, v.off, v.size, f"{a.path}@{v.epoch}")
                    for e in a.extents():
                        if not e.is_punch:
                            run(e.media, e.off, e.nbytes, f"{a.path}{{{e.lo}-{e.hi}}}@{e.epoch}")
                        run(e.csums.media, e.csums.off, e.csums.len, f"{a.path} csums")
    for page, extents in shard.freelist_pages():
        u.own_page(page, "free-page list")
        for start, count in extents:
            u.free_pages.update(range(start, start + count))
    for e in shard.vea_free_extents():
        u.free_blocks.update(range(e.off, e.off + e.cnt))
    return u
