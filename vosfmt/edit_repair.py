"""The checker's repair primitives: edits no ordinary command makes.

They set what a consistent shard would hold where the checker found it
otherwise: space accounting (pages and blocks back in or out of the free
maps, a VEA rebuilt from scratch), a tree rebuilt from its readable records,
a value given its own copy of shared bytes, record fields restored to what
the rest of the shard says. Each works inside an ordinary transaction, so a
repair is as crash-safe as any edit.

The part of ``Transaction`` built on ``edit_records`` (opening records by
path), ``edit_space`` (placing bytes) and the allocators ``pages`` and
``blocks``.
"""
from __future__ import annotations

from .errors import NotFoundError, TransactionError
from .keys import Oid, epoch_key, extent_key
from .records import TreeRoot
from .space import ExtentAllocator
from .value_records import dec_extent, dec_sv, enc_extent, enc_sv


class RepairEdits:
    """Space accounting, tree rebuilds and record fields, set as the checker found them."""

    # --- space accounting ----------------------------------------------------------
    def free_pages(self, extents) -> None:
        """Return pages to the free list (leaked pages)."""
        self._check_open()
        self.pages.defer(extents)

    def append_free_pages(self, count: int) -> int:
        """Grow the shard by ``count`` pages that go straight to the free list (a file grown
        ahead of use); the first of them."""
        self._check_open()
        start = self.pages.grow(count)
        self.pages.defer([(start, count)])
        return start

    def unfree_pages(self, extents) -> None:
        """Take pages out of the free list (they are in use)."""
        self._check_open()
        self.pages.withdraw(extents)

    def vea_unfree(self, blk_off: int, blk_cnt: int) -> None:
        """Take blocks out of the VEA free map (they are in use)."""
        self._check_open()
        self._blocks().withdraw([(blk_off, blk_cnt)])

    def reset_vea(self, free_extents) -> None:
        """Rebuild the VEA free map from scratch (the old tree may be unreadable)."""
        self._check_open()
        end = self.sb.hdr_blks + self.sb.tot_blks
        self.blocks = ExtentAllocator(free_extents, end=end, limit=end, what="NVMe blob")
        self._vea_fresh = True

    # --- trees and records -----------------------------------------------------------
    def replace_tree(self, owner: tuple, field: str, items) -> None:
        """Replace one tree by a fresh one holding ``items`` [(key, value bytes)].

        ``owner`` names the record holding the tree: () for the superblock's
        container table, (cont,), (cont, oid), (cont, oid, dkey) or
        (cont, oid, dkey, akey). Used to rebuild a damaged tree from the
        records that could still be read; the old tree's pages are left for
        the leak repair to reclaim.
        """
        self._check_open()
        if not owner:
            old = self.sb.cont_root
            self.cont = self._tree(TreeRoot(old.tclass, old.key_kind), "/")
            tree = self.cont
        else:
            o = self._owner(owner)
            old = getattr(o.rec, field)
            tree = o.subtrees[field] = self._tree(TreeRoot(old.tclass, old.key_kind), "")
            o.dirty = True
        for k, v in items:
            tree.put(k, v)

    def patch_record(self, owner: tuple, **fields) -> None:
        """Set fields of the container, object, dkey or akey record ``owner`` names (as for
        ``replace_tree``) as they are, unchecked: an id restored to the key the record is
        filed under, a key's flags to what its child tree says. Trees have their own calls."""
        self._check_open()
        o = self._owner(owner)
        for k, v in fields.items():
            if k in getattr(o.rec, "SUBTREES", ()) or not hasattr(o.rec, k):
                raise TransactionError(f"cannot patch record field {k!r}")
            setattr(o.rec, k, v)
        o.dirty = True

    def set_key_kind(self, owner: tuple, field: str, kind: int) -> None:
        """Give the key tree ``field`` of the record ``owner`` names another key kind (a
        descriptor whose kind disagrees with its object's type)."""
        self._check_open()
        o = self._owner(owner)
        getattr(o.rec, field).key_kind = kind
        sub = o.subtrees.get(field)
        if sub is not None:
            sub.set_key_kind(kind)
        o.dirty = True

    def relocate_value(self, cuuid, oid: Oid, dkey: bytes, akey: bytes, vkey, data: bytes) -> None:
        """Give a stored value its own copy of ``data`` without releasing its old address.

        The repair for space two records share: the old address stays with the
        other owner.
        """
        self._check_open()
        tree = self.value_tree(cuuid, oid, dkey, akey)
        if isinstance(vkey, int):
            key = epoch_key(vkey)
            raw = tree.get(key)
            rec = None if raw is None else dec_sv(raw, vkey)
            enc = enc_sv
        else:
            key = extent_key(*vkey)
            raw = tree.get(key)
            rec = None if raw is None else dec_extent(raw, *vkey)
            enc = enc_extent
        if rec is None:
            raise NotFoundError("no such value")
        rec.media, rec.off, rec.data = self._place(len(data), data, None, None)
        tree.put(key, enc(rec))
