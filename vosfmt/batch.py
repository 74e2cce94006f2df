"""Many transactions, one durable commit: atomic command batches and dry runs.

While a Batch is open, the shard's files are wrapped in overlays
(``vosfmt.overlay``): every transaction commits normally, but into the
overlay, so later commands see earlier ones' results. All of them carry the
same target generation G+1, and space that was live in the durable state G
is never reused inside the batch (it is *reserved*), so the real files only
ever receive writes to space free in G.

``commit`` copies the staged bytes into the real files, syncs, then writes
one superblock for G+1 into the slot G does not use, and syncs: a crash
leaves G or G+1. ``abort`` (and every dry run) drops the overlays: the real
files are byte-identical to before.
"""
from __future__ import annotations


from .constants import PAGE_SIZE
from .errors import ReadOnlyError, TransactionError
from .overlay import OverlayFile
from .space import coalesce, subtract_extents


class Batch:
    def __init__(self, shard, *, dry_run: bool = False):
        if shard._batch is not None or shard._tx is not None:
            raise TransactionError("a transaction or batch is already open on this shard")
        if not dry_run and not shard.writable:
            raise ReadOnlyError(f"{shard.path} is opened read-only")
        self.shard = shard
        self.dry_run = dry_run
        self.base_sb = shard.sb.replace()
        self.generation = shard.sb.generation + 1
        self.base_df = shard.df
        self.base_blob = shard._blob
        shard.df = OverlayFile(shard.df)
        shard.reader.df = shard.df
        if shard._blob is not None:
            shard._blob = OverlayFile(shard._blob)
        self.fresh_pages: list = []        # allocated during the batch
        self.reserved_pages: list = []     # live in G, freed during the batch
        self.fresh_blocks: list = []
        self.reserved_blocks: list = []
        self.commits = 0
        self.closed = False
        shard._batch = self

    # --- hooks for Transaction --------------------------------------------------------
    def wrap_blob(self, df):
        return OverlayFile(df)

    def note_commit(self, pages, blocks) -> None:
        """Record what a staged transaction allocated and freed."""
        self.commits += 1
        self.fresh_pages = coalesce(self.fresh_pages + [(s, n) for s, n in pages.fresh.items()])
        freed = coalesce(pages.deferred)
        self.reserved_pages = coalesce(self.reserved_pages +
                                       subtract_extents(freed, self.fresh_pages))
        if blocks is not None:
            self.fresh_blocks = coalesce(self.fresh_blocks + [(s, n) for s, n in blocks.fresh.items()])
            bfreed = coalesce(blocks.deferred)
            self.reserved_blocks = coalesce(self.reserved_blocks +
                                            subtract_extents(bfreed, self.fresh_blocks))

    def usable(self, free, kind: str) -> list:
        """Free extents a staged transaction may allocate from."""
        reserved = self.reserved_pages if kind == "pages" else self.reserved_blocks
        return subtract_extents(free, reserved)

    # --- ending -----------------------------------------------------------------
    @property
    def staged_bytes(self) -> int:
        n = sum(e - s for s, e in self.shard.df.staged_ranges())
        if isinstance(self.shard._blob, OverlayFile):
            n += sum(e - s for s, e in self.shard._blob.staged_ranges())
        return n

    def commit(self) -> None:
        """Make the batch's final state durable (G -> G+1), or nothing if nothing was staged."""
        if self.closed:
            raise TransactionError("batch is already finished")
        if self.dry_run:
            raise TransactionError("a dry run cannot be committed")
        shard = self.shard
        if self.commits == 0:
            self.abort()
            return
        from .shard import encode_superblock
        sb = shard.sb
        try:
            blob = shard._blob
            if isinstance(blob, OverlayFile):
                blob.apply()
                blob.base.sync()
            df = shard.df
            df.apply(exclude=2 * PAGE_SIZE)
            df.base.sync()
            self._issued = True
            df.base.write(sb.slot * PAGE_SIZE, encode_superblock(sb))
            df.base.sync()
        except BaseException:
            if getattr(self, "_issued", False):
                shard._in_doubt = True
            self.abort()
            raise
        self._restore(keep_state=True)

    def abort(self) -> None:
        """Forget everything staged; the real files were never touched."""
        if self.closed:
            return
        shard = self.shard
        shard._tx = None
        self._restore(keep_state=False)
        shard._after_commit(self.base_sb)

    def _restore(self, keep_state: bool) -> None:
        shard = self.shard
        self.closed = True
        overlay = shard.df
        shard.df = self.base_df
        shard.reader.df = self.base_df
        shard.reader.clear()
        overlay.discard()
        blob = shard._blob
        if isinstance(blob, OverlayFile):
            shard._blob = blob.base
            blob.discard()
        shard._batch = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if self.closed:
            return
        if exc_type is None and not self.dry_run:
            self.commit()
        else:
            self.abort()


