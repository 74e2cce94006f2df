"""Extent allocators for shard pages and NVMe blob blocks, with the COW rule.

Both allocators start a transaction from the free extents of the durable
state G and hand out space only from those: space freed by the transaction
was live in G, so it is *deferred* and becomes allocatable only in the next
transaction, after this commit is durable. Space allocated and released
within the same transaction goes straight back.

Extents are ``[start, count]`` pairs kept sorted and coalesced.
"""
from __future__ import annotations

from bisect import bisect_left

from . import layout as L
from .codec import fast
from .constants import FREELIST_MAGIC
from .errors import ChecksumError, CorruptionError, SpaceError
from .pagecrc import page_crc, seal_page


def coalesce(extents) -> list[tuple[int, int]]:
    """Sort and merge overlapping or adjacent (start, count) extents."""
    out: list[list[int]] = []
    for start, count in sorted(extents):
        if count <= 0:
            continue
        if out and start <= out[-1][0] + out[-1][1]:
            out[-1][1] = max(out[-1][1], start + count - out[-1][0])
        else:
            out.append([start, count])
    return [(s, c) for s, c in out]


def subtract_extents(a, b) -> list[tuple[int, int]]:
    """Parts of extents ``a`` not covered by extents ``b``."""
    out = []
    b = coalesce(b)
    for start, count in coalesce(a):
        end = start + count
        pos = start
        for bs, bc in b:
            be = bs + bc
            if be <= pos or bs >= end:
                continue
            if bs > pos:
                out.append((pos, bs - pos))
            pos = max(pos, be)
        if pos < end:
            out.append((pos, end - pos))
    return out


class ExtentAllocator:
    """First-fit allocation over sorted free extents, optionally growing at the end.

    ``avail`` is the space free in G, ``fresh`` what this transaction allocated
    (freeing it gives it straight back), ``deferred`` what it freed that was live
    in G (free in the result, allocatable only after the commit is durable).
    """

    def __init__(self, free, *, end: int, limit: int | None, what: str):
        self.avail = [list(e) for e in coalesce(free)]
        self.end = end              # first unit past the space in use (file growth point)
        self.limit = limit          # growth limit (None: unbounded)
        self.what = what
        self.fresh: dict[int, int] = {}   # start -> count allocated in this transaction
        self.deferred: list[tuple[int, int]] = []

    def alloc(self, count: int) -> int:
        start = self.alloc_untracked(count)
        self.fresh[start] = count
        return start

    def alloc_untracked(self, count: int) -> int:
        """Allocate without recording the space as this transaction's: the free-page list's
        own pages, taken while the list is being written, which nothing frees again."""
        start = self._take_from_avail(count)
        if start is not None:
            return start
        return self.grow(count)

    def grow(self, count: int) -> int:
        """Extend the space in use by ``count`` units nobody holds (the caller frees or uses
        them); the first of them. Subject to the growth limit like an allocation."""
        if self.limit is not None and self.end + count > self.limit:
            raise SpaceError(f"{self.what} is full: no room for {count} more")
        start = self.end
        self.end += count
        return start

    def free(self, start: int, count: int) -> None:
        if self.fresh.get(start) == count:
            del self.fresh[start]
            self._give_back(start, count)
        else:
            self.deferred.append((start, count))

    def defer(self, extents) -> None:
        """Free extents in the result without making them allocatable in this transaction
        (leaked space given back, space a batch must not reuse yet)."""
        self.deferred.extend(extents)

    def withdraw(self, extents) -> None:
        """Take extents out of the free space altogether: they are in use (a repair)."""
        self.avail = [list(e) for e in subtract_extents([tuple(e) for e in self.avail], extents)]
        self.deferred = subtract_extents(self.deferred, extents)

    def _give_back(self, start: int, count: int) -> None:
        i = bisect_left(self.avail, [start, 0])
        self.avail.insert(i, [start, count])
        merged = coalesce(self.avail)
        self.avail = [list(e) for e in merged]

    def _take_from_avail(self, count: int) -> int | None:
        """Allocate only from space free in G (never by growing); None if none."""
        for i, ext in enumerate(self.avail):
            if ext[1] >= count:
                start = ext[0]
                ext[0] += count
                ext[1] -= count
                if not ext[1]:
                    del self.avail[i]
                return start
        return None

    def allocated(self) -> list[tuple[int, int]]:
        """The extents this transaction allocated and still holds."""
        return list(self.fresh.items())

    def released(self) -> list[tuple[int, int]]:
        """The extents this transaction freed that were live before it."""
        return list(self.deferred)

    def final_free(self) -> list[tuple[int, int]]:
        """The free extents of the state being committed."""
        return coalesce([tuple(e) for e in self.avail] + self.deferred)


# --- the persistent free-page list ---------------------------------------------

_FL_HDR = fast(L.freelist_header)
_FL_EXT = fast(L.free_extent)


def freelist_capacity(page_size: int) -> int:
    return (page_size - _FL_HDR.size) // _FL_EXT.size


def build_freelist_page(page_size: int, page: int, generation: int, nxt: int, extents) -> bytes:
    buf = bytearray(page_size)
    _FL_HDR.pack_into(buf, 0, FREELIST_MAGIC, 0, len(extents), 0, generation, page, nxt)
    pos = _FL_HDR.size
    for start, count in extents:
        _FL_EXT.pack_into(buf, pos, start, count)
        pos += _FL_EXT.size
    seal_page(buf)
    return bytes(buf)


def freelist_generation(buf, page: int) -> int | None:
    """The generation that wrote a sound free-page list page read from ``page``, else None."""
    if len(buf) < _FL_HDR.size:
        return None
    magic, crc, _nr, _pad, gen, selfpage, _nxt = _FL_HDR.unpack_from(buf, 0)
    if magic == FREELIST_MAGIC and crc == page_crc(buf) and selfpage == page:
        return gen
    return None


def read_freelist_page(shard, page: int):
    """Return (next page, [(start, count)]) of one free-list page, verified."""
    ps = shard.sb.page_size
    off = page * ps

    def bad(msg, cls=CorruptionError):
        return cls(msg, offset=off, structure="freelist_page", file=shard.path)

    if page < 2 or page >= shard.sb.total_pages:
        raise bad(f"free-page list points at page {page}, outside the shard")
    buf = shard.df.read(off, ps)
    if len(buf) != ps:
        raise bad("free-page list page is past the end of the file")
    magic, crc, nr, _pad, gen, selfpage, nxt = _FL_HDR.unpack_from(buf, 0)
    if magic != FREELIST_MAGIC:
        raise bad(f"bad free-page list magic {magic:#010x}")
    if crc != page_crc(buf):
        raise bad("free-page list checksum mismatch", ChecksumError)
    if selfpage != page or nr > freelist_capacity(ps) or gen > shard.sb.generation:
        raise bad("free-page list header is inconsistent")
    extents = [_FL_EXT.unpack_from(buf, _FL_HDR.size + i * _FL_EXT.size) for i in range(nr)]
    total = shard.sb.total_pages
    if any(start < 2 or count <= 0 or start + count > total for start, count in extents):
        raise bad(f"free-page list holds an extent outside the shard's {total} pages")
    return nxt, extents
