"""Editing a copy-on-write B+tree inside a transaction.

``MutableTree`` loads only the nodes an edit touches into memory; at commit
``flush`` writes every touched node to a fresh page (never over a live one),
splitting any node that outgrew a page and dropping emptied ones, and
returns the new root descriptor. A single-leaf tree that fits the room its
parent record can spare is embedded in that record instead. How nodes are cut
(``pack_nodes``, ``stack_levels``) and when a tree is embedded (``embeddable``)
are functions the bulk loader (``vosfmt.bulkload``) shares.
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right

from .btree import TreeReader
from .constants import NodeFlags, RootFlags
from .node import BRANCH_OVERHEAD, HDR_SIZE, LEAF_OVERHEAD, Node, branch_body, build_page, leaf_body
from .records import TreeRoot


class PageWriter:
    """What MutableTree.flush needs from the transaction: pages and a generation."""

    generation: int             # written into every node page

    def alloc_page(self) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    def free_page(self, page: int) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def write_page(self, page: int, data: bytes) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class MutableTree:
    """An editable view of one tree inside a transaction (copy-on-write)."""

    def __init__(self, reader: TreeReader, root: TreeRoot, path: str | None = None):
        self.reader = reader
        self.desc = root
        self.tclass = root.tclass
        self.key_kind = root.key_kind
        self.path = path
        self.count = root.count
        self._root: Node | None = None

    def set_key_kind(self, kind: int) -> None:
        """Collate this tree's keys as ``kind`` from now on (a repaired descriptor)."""
        self.key_kind = self.desc.key_kind = kind

    # --- loading ------------------------------------------------------------------
    def _load_page(self, page: int) -> Node:
        n = self.reader.node(page, self.tclass, self.path)
        if n.leaf:
            return Node(True, 0, list(n.keys), list(n.vals), page=page)
        return Node(False, n.level, list(n.keys), kids=list(n.kids), counts=list(n.counts),
                    page=page)

    def _root_node(self) -> Node:
        if self._root is None:
            d = self.desc
            if d.flags & RootFlags.EMBEDDED:
                e = self.reader.embedded(d, self.path)
                self._root = Node(True, 0, e.keys, e.vals)
            elif d.page:
                self._root = self._load_page(d.page)
            else:
                self._root = Node(True, 0, [], [])
        return self._root

    def _kid(self, node: Node, i: int) -> Node:
        k = node.kids[i]
        if isinstance(k, Node):
            return k
        child = self._load_page(k)
        node.kids[i] = child
        return child

    def _leaf_path(self, key: bytes):
        node = self._root_node()
        path = [node]
        while not node.leaf:
            node = self._kid(node, max(bisect_right(node.keys, key, 1) - 1, 0))
            path.append(node)
        return path

    # --- edits -------------------------------------------------------------------
    def get(self, key: bytes):
        leaf = self._leaf_path(key)[-1]
        i = bisect_left(leaf.keys, key)
        if i < len(leaf.keys) and leaf.keys[i] == key:
            return leaf.vals[i]
        return None

    def put(self, key: bytes, value: bytes) -> bool:
        """Insert or replace; returns True when the key is new."""
        path = self._leaf_path(key)
        leaf = path[-1]
        i = bisect_left(leaf.keys, key)
        for n in path:
            n.dirty = True
        if i < len(leaf.keys) and leaf.keys[i] == key:
            leaf.vals[i] = value
            return False
        leaf.keys.insert(i, key)
        leaf.vals.insert(i, value)
        self.count += 1
        return True

    def delete(self, key: bytes):
        """Remove ``key``; returns its old value or None."""
        path = self._leaf_path(key)
        leaf = path[-1]
        i = bisect_left(leaf.keys, key)
        if i >= len(leaf.keys) or leaf.keys[i] != key:
            return None
        for n in path:
            n.dirty = True
        old = leaf.vals[i]
        del leaf.keys[i]
        del leaf.vals[i]
        self.count -= 1
        return old

    def items(self, start: bytes | None = None):
        """(key, value) in order, seeing this transaction's edits."""
        yield from self._items(self._root_node(), start)

    def _items(self, node: Node, start):
        if node.leaf:
            i = 0 if start is None else bisect_left(node.keys, start)
            yield from zip(node.keys[i:], node.vals[i:])
            return
        i = 0 if start is None else max(bisect_right(node.keys, start, 1) - 1, 0)
        for j in range(i, len(node.kids)):
            k = node.kids[j]
            if isinstance(k, Node):
                yield from self._items(k, start if j == i else None)
            else:
                yield from self.reader.subtree_items(k, self.tclass, start if j == i else None,
                                                     self.path)

    def original_pages(self):
        """Node pages of the tree as it is on disk (before this transaction)."""
        return self.reader.pages(self.desc, self.path)

    # --- commit ------------------------------------------------------------------
    def flush(self, w: PageWriter, budget: int = 0) -> TreeRoot:
        """Write touched nodes to fresh pages; return the new root descriptor.

        ``budget`` is how many bytes the parent record can spare for an
        embedded copy of a single-leaf tree (0: never embed).
        """
        root = self._root
        if root is None or not root.dirty:
            return self.desc
        d = self._flush_root(root, w, budget)
        self._root, self.desc, self.count = None, d, d.count
        return d

    def _flush_root(self, root: Node, w: PageWriter, budget: int) -> TreeRoot:
        d = TreeRoot(self.tclass, self.key_kind)
        self._prune(root, w)
        # Collapse branch roots left with a single child by deletions.
        while not root.leaf and len(root.kids) == 1:
            child = self._kid(root, 0)
            if root.page:
                w.free_page(root.page)
            root = child
            root.dirty = True
        if root.leaf:
            if not root.keys:
                if root.page:
                    w.free_page(root.page)
                return d
            body = leaf_body(root.keys, root.vals)
            if embeddable(len(body), budget):
                if root.page:
                    w.free_page(root.page)
                d.count, d.flags, d.embed = len(root.keys), RootFlags.EMBEDDED, body
                return d
        return stack_levels(w, self.reader.page_size, d, self._flush_node(root, w, b""),
                            root.level)

    def _prune(self, node: Node, w: PageWriter) -> None:
        """Drop in-memory children emptied by deletions (freeing their pages)."""
        if node.leaf or not node.dirty:
            return
        keep = []
        for k, kid, cnt in zip(node.keys, node.kids, node.counts):
            if isinstance(kid, Node):
                self._prune(kid, w)
                if not kid.keys:
                    if kid.page:
                        w.free_page(kid.page)
                    continue
            keep.append((k, kid, cnt))
        node.keys = [k for k, _, _ in keep]
        node.kids = [kid for _, kid, _ in keep]
        node.counts = [c for _, _, c in keep]

    def _flush_node(self, node: Node, w: PageWriter, sep: bytes):
        """Write a dirty node; return its pieces [(lower-bound key, page, count)]."""
        if not node.dirty:
            return [(sep, node.page, self._count_of(node))]
        if node.page:
            w.free_page(node.page)
        if node.leaf:
            entries = [(k, v, 1) for k, v in zip(node.keys, node.vals)]
            return pack_nodes(w, self.reader.page_size, self.tclass, entries, 0, leaf=True,
                              first_key=sep)
        entries = []
        for k, kid, cnt in zip(node.keys, node.kids, node.counts):
            if isinstance(kid, Node):
                for j, (pk, pg, pc) in enumerate(self._flush_node(kid, w, k)):
                    entries.append((k if j == 0 else pk, pg, pc))
            else:
                entries.append((k, kid, cnt))
        return pack_nodes(w, self.reader.page_size, self.tclass, entries, node.level,
                          leaf=False, first_key=sep)

    def _count_of(self, node: Node) -> int:
        return len(node.keys) if node.leaf else sum(node.counts)


# --- node packing, shared with the bulk loader (vosfmt.bulkload) -------------------------

EMBED_MAX = 1024            # an embedded single-leaf tree never takes more than this


def embeddable(body_size: int, budget: int) -> bool:
    """Whether a single-leaf tree whose leaf body is ``body_size`` bytes is embedded in its
    parent record, which can spare ``budget`` bytes for it."""
    return body_size <= min(budget, EMBED_MAX)


def pack_nodes(w: PageWriter, page_size: int, tclass: int, entries, level: int, *, leaf: bool,
               first_key: bytes):
    """Cut entries into nodes filled evenly (as few pages as fit), write them; return their
    pieces [(lower-bound key, page, count)].

    Entries are (key, value, 1) for a leaf level, (key, child page, count) for a branch level.
    """
    cap = page_size - HDR_SIZE
    if leaf:
        sizes = [LEAF_OVERHEAD + len(k) + len(v) for k, v, _ in entries]
    else:
        sizes = [BRANCH_OVERHEAD + len(k) for k, _, _ in entries]
    total = sum(sizes)
    npages = max(1, -(-total // cap))
    target = -(-total // npages)
    groups, cur, cur_size = [], [], 0
    for e, s in zip(entries, sizes):
        if cur and (cur_size + s > cap or cur_size >= target):
            groups.append(cur)
            cur, cur_size = [], 0
        cur.append(e)
        cur_size += s
    if cur:
        groups.append(cur)
    pieces = []
    flags = NodeFlags.LEAF if leaf else 0
    for gi, g in enumerate(groups):
        page = w.alloc_page()
        if leaf:
            body = leaf_body([k for k, _, _ in g], [v for _, v, _ in g])
            count = len(g)
        else:
            body = branch_body([k for k, _, _ in g], [pg for _, pg, _ in g],
                               [c for _, _, c in g])
            count = sum(c for _, _, c in g)
        w.write_page(page, build_page(page_size, page, tclass, level, flags, w.generation,
                                      len(g), body))
        pieces.append((first_key if gi == 0 else g[0][0], page, count))
    return pieces


def stack_levels(w: PageWriter, page_size: int, d: TreeRoot, pieces, level: int) -> TreeRoot:
    """Write branch levels over the nodes ``pieces`` of ``level`` until one node is left, and
    fill the descriptor ``d`` with that root."""
    while len(pieces) > 1:
        level += 1
        pieces = pack_nodes(w, page_size, d.tclass, pieces, level, leaf=False,
                            first_key=pieces[0][0])
    _key, d.page, d.count = pieces[0]
    d.depth = level
    return d
