"""Where a transaction puts bytes, and how it gives them back.

Values up to ``INLINE_MAX`` live in their record; larger ones go to free
shard pages, or (at or above the pool's threshold, when it has NVMe) to
free blocks of the blob found through the VEA free map. Bytes are streamed
in while editing, never over live space (``space.ExtentAllocator``'s COW
rule). Releasing a record gives back everything its addresses name.

The part of ``Transaction`` that owns ``blocks`` (the VEA allocator, built on
first use) and writes value bytes; it relies on the transaction's ``sb``,
``shard``, ``pages`` and ``batch``.
"""
from __future__ import annotations

from .constants import INLINE_MAX, Media, TreeClass
from .errors import TransactionError
from .pagefile import DataFile
from .records import ExtBytes
from .space import ExtentAllocator

STREAM_CHUNK = 1 << 20


class SpaceEdits:
    """Placing value bytes in pages or NVMe blocks, and releasing them."""

    def _blocks(self) -> ExtentAllocator:
        if self.blocks is None:
            sb = self.sb
            end = sb.hdr_blks + sb.tot_blks
            free = [(e.off, e.cnt) for e in self.shard.vea_free_extents()]
            if self.batch is not None:
                free = self.batch.usable(free, "blocks")
            self.blocks = ExtentAllocator(free, end=end, limit=end, what="NVMe blob")
            if self.batch is not None:
                self.blocks.defer(self.batch.reserved_blocks)
        return self.blocks

    def _place(self, size: int, data, stream, summer) -> tuple[int, int, bytes | None]:
        """Store ``size`` bytes; return (media, offset, inline bytes)."""
        sb = self.sb
        if size <= INLINE_MAX:
            raw = bytes(data) if data is not None else _read_exact(stream, size)
            if summer is not None:
                summer.update(raw)
            return Media.INLINE, 0, raw
        if sb.nvme_size and size >= sb.nvme_threshold:
            n = -(-size // sb.blk_size)
            blk = self._blocks().alloc(n)
            off, f, media = blk * sb.blk_size, self.shard.blob_file(), Media.NVME
            release = (self._blocks(), blk, n)
            self._blob_written = True
        else:
            n = -(-size // sb.page_size)
            page = self.pages.alloc(n)
            off, f, media = page * sb.page_size, self.shard.df, Media.SCM
            release = (self.pages, page, n)
        try:
            _copy_in(f, off, size, data, stream, summer)
        except BaseException:
            alloc, start, count = release
            alloc.free(start, count)
            raise
        return media, off, None

    def _release(self, media: int, off: int, size: int) -> None:
        sb = self.sb
        if media == Media.SCM and size:
            self.pages.free(off // sb.page_size, -(-size // sb.page_size))
        elif media == Media.NVME and size:
            self._blocks().free(off // sb.blk_size, -(-size // sb.blk_size))

    def _release_record(self, tclass: int, rec) -> None:
        if tclass == TreeClass.SINGV:
            if not rec.is_punch:
                self._release(rec.media, rec.off, rec.size)
        elif tclass == TreeClass.EVT:
            if not rec.is_punch:
                self._release(rec.media, rec.off, rec.nbytes)
            self._release(rec.csums.media, rec.csums.off, rec.csums.len)
        elif tclass == TreeClass.DTX_ACT:
            self._release(rec.records.media, rec.records.off, rec.records.len)
            self._release(rec.mbs.media, rec.mbs.off, rec.mbs.len)

    def _ext_bytes(self, raw: bytes, inline_max: int) -> ExtBytes:
        if len(raw) <= inline_max:
            return ExtBytes(Media.INLINE, len(raw), 0, raw)
        ps = self.sb.page_size
        page = self.pages.alloc(-(-len(raw) // ps))
        self.shard.df.write(page * ps, raw)
        return ExtBytes(Media.SCM, len(raw), page * ps, None)


    def vea_free(self, blk_off: int, blk_cnt: int) -> None:
        """Return blocks to the VEA free map (as DAOS vea_free / ddb vea_update)."""
        self._check_open()
        sb = self.sb
        if blk_cnt <= 0 or blk_off < sb.hdr_blks or blk_off + blk_cnt > sb.hdr_blks + sb.tot_blks:
            raise TransactionError(f"region {{{blk_off}, {blk_cnt}}} is outside the device")
        self._blocks().defer([(blk_off, blk_cnt)])


    def vea_reserve(self, blk_cnt: int) -> int:
        """Take blocks from the VEA (for tests and repair tools); returns the offset."""
        self._check_open()
        return self._blocks().alloc(blk_cnt)



def _read_exact(stream, size: int) -> bytes:
    raw = stream.read(size)
    if len(raw) != size:
        raise TransactionError(f"source ended after {len(raw)} of {size} bytes")
    return raw


def _copy_in(f: DataFile, off: int, size: int, data, stream, summer) -> None:
    if data is not None:
        if summer is not None:
            summer.update(data)
        f.write(off, data)
        return
    done = 0
    while done < size:
        chunk = stream.read(min(STREAM_CHUNK, size - done))
        if not chunk:
            raise TransactionError(f"source ended after {done} of {size} bytes")
        if summer is not None:
            summer.update(chunk)
        f.write(off + done, chunk)
        done += len(chunk)
