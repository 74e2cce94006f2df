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
from .shard import Shard
from .space import coalesce, subtract_extents
from .superblock import encode_superblock


class Batch:
    """Transactions on ``shard`` stage into overlays until ``commit`` (or vanish on abort)."""

    def __init__(self, shard: Shard, *, dry_run: bool = False):
        state = shard.writer
        if state.batch is not None or state.tx is not None:
            raise TransactionError("a transaction or batch is already open on this shard")
        if not dry_run and not shard.writable:
            raise ReadOnlyError(f"{shard.path} is opened read-only")
        self.shard = shard
        self.dry_run = dry_run
        self.base_sb = shard.sb.replace()
        self.generation = shard.sb.generation + 1
        self.base_df = shard.df
        blob = shard.opened_blob
        shard.use_files(OverlayFile(shard.df), None if blob is None else OverlayFile(blob))
        self.fresh_pages: list = []        # allocated during the batch
        self.reserved_pages: list = []     # live in G, freed during the batch
        self.fresh_blocks: list = []
        self.reserved_blocks: list = []
        self.commits = 0
        self.closed = False
        self._issued = False               # the real superblock write was started
        state.batch = self

    # --- hooks for Transaction --------------------------------------------------------
    def wrap_blob(self, df):
        return OverlayFile(df)

    def note_commit(self, pages, blocks) -> None:
        """Record what a staged transaction allocated and freed."""
        self.commits += 1
        self.fresh_pages = coalesce(self.fresh_pages + pages.allocated())
        freed = coalesce(pages.released())
        self.reserved_pages = coalesce(self.reserved_pages +
                                       subtract_extents(freed, self.fresh_pages))
        if blocks is not None:
            self.fresh_blocks = coalesce(self.fresh_blocks + blocks.allocated())
            bfreed = coalesce(blocks.released())
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
        blob = self.shard.opened_blob
        if isinstance(blob, OverlayFile):
            n += sum(e - s for s, e in blob.staged_ranges())
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
        sb = shard.sb
        try:
            blob = shard.opened_blob
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
            if self._issued:
                shard.writer.in_doubt = True
            self.abort()
            raise
        self._restore()

    def abort(self) -> None:
        """Forget everything staged; the real files were never touched."""
        if self.closed:
            return
        shard = self.shard
        shard.writer.tx = None
        self._restore()
        shard.adopt_superblock(self.base_sb)

    def _restore(self) -> None:
        """Back to the real files, the overlays dropped."""
        shard = self.shard
        self.closed = True
        overlay, blob = shard.df, shard.opened_blob
        staged_blob = isinstance(blob, OverlayFile)
        shard.use_files(self.base_df, blob.base if staged_blob else blob)
        overlay.discard()
        if staged_blob:
            blob.discard()
        shard.writer.batch = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if self.closed:
            return
        if exc_type is None and not self.dry_run:
            self.commit()
        else:
            self.abort()


