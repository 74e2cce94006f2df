"""The crash-safe writer: one Transaction gathers edits, commit makes them durable.

Commit protocol (copy-on-write + superblock flip):
  1. every touched tree node is written to a page that is free in the
     durable state G (never over a live page); value bytes were already
     streamed into free pages / free NVMe blocks while editing;
  2. the free-page list and the VEA free-extent tree of G+1 are written
     the same way;
  3. the blob and the shard are fsync'ed;
  4. the superblock of G+1 goes to the slot G does not use, then fsync.
A crash before step 4 completes leaves G (its slot and pages untouched);
after it, G+1. Space that G+1 frees is reusable only by G+2, so the state
we might fall back to is never overwritten.

A transaction starts as ``Transaction(shard)`` on a shard opened with
``write=True`` (or inside a ``batch.Batch``); it is also a context manager
that commits on success and aborts on an exception.
"""
from __future__ import annotations

from .constants import MAX_VALUE, PAGE_SIZE, TreeClass
from .edit_dtx import DtxEdits
from .edit_keys import KeyEdits
from .edit_records import ENCODE, OpenTree, RecordEditing
from .edit_repair import RepairEdits
from .edit_space import SpaceEdits
from .edit_values import ValueEdits
from .errors import ReadOnlyError, TransactionError, VosError
from .keys import blk_key
from .mutable_tree import MutableTree
from .records import TreeRoot, enc_vea
from .shard import Shard
from .space import ExtentAllocator, build_freelist_page, freelist_capacity
from .superblock import Superblock, encode_superblock


class Transaction(KeyEdits, ValueEdits, DtxEdits, RepairEdits, SpaceEdits, RecordEditing):
    """All edits between ``Transaction(shard)`` and ``commit()`` become durable together or
    not at all.

    The edits are mixins, one concept each: ``edit_keys`` (containers, objects, keys,
    incarnation logs), ``edit_values``, ``edit_dtx`` (DTX tables), ``edit_repair`` (the
    checker's repairs), ``edit_space`` (where bytes go) and ``edit_records`` (opening
    records by path). This class owns the state they share and the commit protocol.
    """

    def __init__(self, shard: Shard, *, free_pages=None):
        """``free_pages`` replaces the on-disk free-page list (the checker's rebuild)."""
        state = shard.writer
        batch = state.batch
        if not shard.writable and batch is None:
            raise ReadOnlyError(f"{shard.path} is opened read-only")
        if state.tx is not None:
            raise TransactionError("a transaction is already open on this shard")
        if state.in_doubt:
            raise VosError(f"{shard.path}: the last commit failed after writing its superblock; "
                           "close and reopen the shard to see which state is durable")
        self.shard = shard
        self.reader = shard.reader
        self.sb: Superblock = shard.sb.replace()
        self.batch = batch
        self.generation = batch.generation if batch else self.sb.generation + 1
        ps = self.sb.page_size
        self._old_freelist = []
        free = []
        if free_pages is None:
            for page, extents in shard.freelist_pages():
                self._old_freelist.append(page)
                free.extend(extents)
        else:
            free = list(free_pages)
        if batch is not None:
            free = batch.usable(free, "pages")
        self.pages = ExtentAllocator(free, end=self.sb.total_pages,
                                     limit=max(self.sb.scm_size // ps, self.sb.total_pages),
                                     what=f"shard {shard.path}")
        if batch is not None:     # free in the result, but not reusable before the batch is durable
            self.pages.defer(batch.reserved_pages)
        self.blocks: ExtentAllocator | None = None      # the VEA's, built on first use
        self._vea_fresh = False                         # reset_vea replaced the free map
        self.cont = self._tree(self.sb.cont_root, "/")
        self._blob_written = False
        self._orig_size = shard.df.size()
        self._superblock_issued = False
        self.closed = False
        state.tx = self

    # --- PageWriter for MutableTree.flush ---------------------------------------
    def alloc_page(self) -> int:
        return self.pages.alloc(1)

    def free_page(self, page: int) -> None:
        self.pages.free(page, 1)

    def write_page(self, page: int, data: bytes) -> None:
        self.shard.df.write(page * self.sb.page_size, data)
        self.reader.invalidate(page)

    def _check_open(self):
        if self.closed:
            raise TransactionError("transaction is already finished")

    # --- superblock -------------------------------------------------------------------
    def set_features(self, *, compat: int | None = None, ro_compat: int | None = None,
                     incompat: int | None = None) -> None:
        self._check_open()
        for name, value in (("compat", compat), ("ro_compat", ro_compat), ("incompat", incompat)):
            if value is not None:
                setattr(self.sb, name, value)

    # --- commit ---------------------------------------------------------------------------
    def _flush(self, tree: OpenTree, budget: int) -> TreeRoot:
        """Encode the tree's dirty records (their subtrees flushed first, embedded where the
        record has room) and write its touched nodes; returns its new root."""
        enc = ENCODE.get(tree.tclass)
        for key, o in list(tree.opened.items()):
            rec, changed = o.rec, o.dirty
            if o.refs is not None and o.dirty:
                self._store_refs(o)
            if o.subtrees:
                names = rec.SUBTREES
                base = len(enc(rec)) - sum(len(getattr(rec, f).embed) for f in names)
                room = MAX_VALUE - base - sum(len(getattr(rec, f).embed) for f in names
                                              if f not in o.subtrees)
                for f in names:
                    sub = o.subtrees.get(f)
                    if sub is None:
                        continue
                    d = self._flush(sub, max(room, 0))
                    if d is not getattr(rec, f):
                        setattr(rec, f, d)
                        changed = True
                    room -= len(d.embed)
            if changed:
                raw = enc(rec)
                if len(raw) > MAX_VALUE:
                    raise TransactionError(f"record of {len(raw)} bytes exceeds {MAX_VALUE}")
                tree.put(key, raw)
        tree.opened.clear()
        return tree.flush(self, budget)

    def commit(self) -> None:
        """Make every edit durable atomically (see the module docstring)."""
        self._check_open()
        try:
            self._commit()
        except BaseException:
            if self._superblock_issued:
                self.shard.writer.in_doubt = True
            self.abort()
            if self.batch is not None:       # the staged view may be damaged: drop it all
                self.batch.abort()
            raise
        self._finish()

    def _commit(self) -> None:
        sb, shard = self.sb, self.shard
        ps = sb.page_size
        sb.cont_root = self._flush(self.cont, 0)
        if self.blocks is not None:
            vt = MutableTree(self.reader, TreeRoot(TreeClass.VEA) if self._vea_fresh
                             else sb.vea_root, "vea")
            old = {k: v for k, v in vt.items()}
            new = {blk_key(off): enc_vea(cnt) for off, cnt in self.blocks.final_free()}
            for k in old.keys() - new.keys():
                vt.delete(k)
            for k, v in new.items():
                if old.get(k) != v:
                    vt.put(k, v)
            sb.vea_root = vt.flush(self, 0)
        # Free-page list of the new state; its own pages come from space free in G.
        for page in self._old_freelist:
            self.pages.free(page, 1)
        cap = freelist_capacity(ps)
        chain: list[int] = []
        while True:
            free = self.pages.final_free()
            if len(chain) >= -(-len(free) // cap):
                break
            chain.append(self.pages.alloc_untracked(1))
        for i, page in enumerate(chain):
            part = free[i * cap:(i + 1) * cap]
            nxt = chain[i + 1] if i + 1 < len(chain) else 0
            self.write_page(page, build_freelist_page(ps, page, self.generation, nxt, part))
        sb.freelist_head = chain[0] if chain else 0
        sb.free_pages = sum(c for _, c in free)
        sb.total_pages = self.pages.end
        sb.generation = self.generation
        sb.slot = self.generation % 2
        if shard.df.size() < sb.total_pages * ps:
            shard.df.truncate(sb.total_pages * ps)
        if self._blob_written:
            self.shard.blob_file().sync()
        shard.df.sync()
        if self.batch is not None:           # staged: the batch writes the real superblock
            shard.df.write(sb.slot * PAGE_SIZE, encode_superblock(sb))
            self.batch.note_commit(self.pages, self.blocks)
            shard.adopt_superblock(sb)
            return
        self._superblock_issued = True       # from here on the new state may be durable
        shard.df.write(sb.slot * PAGE_SIZE, encode_superblock(sb))
        shard.df.sync()
        shard.adopt_superblock(sb)

    def abort(self) -> None:
        """Discard every edit; the shard is left as it was.

        Value bytes streamed into pages that are free stay there as garbage
        nobody references; pages appended past the end are cut off again.
        """
        if not self.closed:
            self._finish()
            if not self._superblock_issued and self.shard.df.size() > self._orig_size:
                self.shard.df.truncate(self._orig_size)

    def _finish(self) -> None:
        self.closed = True
        self.shard.writer.tx = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if self.closed:
            return
        if exc_type is None:
            self.commit()
        else:
            self.abort()
