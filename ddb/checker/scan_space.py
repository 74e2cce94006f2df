"""P4: space. Every shard page and NVMe block is used once, or free, never both or neither.

The ledger (``vosfmt.usage.SpaceUsage``) was filled by the earlier passes;
this pass turns what it says into findings. A free-page list or VEA map
that could not be read is rebuilt whole by its own repair, so its leaks are
not reported. Pages a repair will stop using (``ShardScan.add_dropping``)
are settled here: owned by nobody else, they are named in the finding's
``drop`` and freed with its repair.
"""
from __future__ import annotations

from vosfmt.constants import FIRST_DATA_PAGE
from vosfmt.space import coalesce

from .finding import label_text
from .problems import Action, Code


def space_pass(scan) -> None:
    f, space = scan.facts, scan.facts.space
    dropped = _settle_drops(scan)
    unknown = {p for p, _o, first, _d in space.page_conflicts if first is None}
    if unknown:
        owners = scan.first_owners(unknown)
        space.page_conflicts = [(p, o, owners.get(p) if first is None else first, d)
                                for p, o, first, d in space.page_conflicts]
    seen = set()
    conflicts = [("shard page", c) for c in space.page_conflicts] + \
        [("NVMe block", c) for c in space.block_conflicts]
    for what, (p, first, second, value) in conflicts:
        if what == "shard page" and p in dropped:      # a rebuild ends the sharing
            continue
        if label_text(first) in seen:                   # one finding per value that shares space
            continue
        seen.add(label_text(first))
        ctx = dict(what=what, page=p, first=label_text(first), second=label_text(second))
        if value is not None:
            ctx.update(value)
            ctx["default"] = int(Action.TRUST_TARGET)
        else:
            ctx["default"] = int(Action.IGNORE)
        scan.add(Code.PAGE_DOUBLE_OWNED, **ctx)
    if f.freelist_ok:
        _add_ranges(scan, Code.PAGES_FREE_AND_USED, space.free_and_used_pages)
        _add_ranges(scan, Code.PAGES_LEAKED, space.leaked_pages)
    if scan.sb.nvme_size and f.vea_ok:
        _add_ranges(scan, Code.BLOCKS_FREE_AND_USED, space.free_and_used_blocks)
        _add_ranges(scan, Code.BLOCKS_LEAKED, space.leaked_blocks)


def _add_ranges(scan, code, units: set) -> None:
    if units:
        ext, text = ranges(units)
        scan.add(code, count=len(units), ranges=text, extents=ext)


def ranges(units) -> tuple[list, str]:
    """(extents as [start, count] lists, the first few as text) of a set of pages or blocks."""
    ext = coalesce((p, 1) for p in sorted(units))
    text = ", ".join(f"{s}" if n == 1 else f"{s}-{s + n - 1}" for s, n in ext[:6])
    return [list(e) for e in ext], text + (", ..." if len(ext) > 6 else "")


def _settle_drops(scan) -> set:
    """Fill in ``drop`` of findings whose repair leaves pages unused; returns all their pages.

    Only pages inside the shard and owned by nobody else are dropped: a page a
    damaged pointer shares with a live structure must stay in use.
    """
    shared = {p for p, *_ in scan.facts.space.page_conflicts}
    total = scan.sb.total_pages
    every = set()
    for ctx, pages in scan.drops:
        mine = {p for p in pages if FIRST_DATA_PAGE <= p < total}
        every |= mine
        ctx["drop"] = ranges(mine - shared)[0]
    return every
