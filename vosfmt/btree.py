"""Reading copy-on-write B+trees of fixed-size pages, keyed by collation bytes.

``TreeReader`` parses node pages (``vosfmt.node``) on demand through a
bounded cache, verifying magic, checksum, self page number and shape, and
serves lookups, listings and positions in O(depth). A tree small enough is
stored embedded in its parent's record instead of in a page of its own
(DAOS's EMBED_FIRST idea), which keeps the millions of one-value trees
cheap. Writing is ``vosfmt.mutable_tree``; a walk that reports damage
instead of raising is ``vosfmt.treewalk``.
"""
from __future__ import annotations

import struct
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from itertools import chain

from .constants import NODE_MAGIC, NodeFlags, RootFlags
from .errors import ChecksumError, CorruptionError, StaleReadError
from .leafrows import key_value_rows
from .node import HDR_SIZE, HEADER, LEAF_ENTRY, LEAF_OVERHEAD, Node, parse_branch_body, parse_leaf_body
from .pagecrc import page_crc
from .record_decoding import record_name
from .records import TreeRoot
from .treewalk import TreeWalk


def _never() -> bool:
    return False


class TreeReader:
    """Reads node pages of one shard file with a bounded cache of parsed nodes."""

    def __init__(self, datafile, page_size: int, generation: int, total_pages: int,
                 cache_nodes: int = 512, is_stale=_never):
        """``is_stale()``: has a newer state been committed since this one? A page that
        fails its checks is then reported as a stale read, not as damage."""
        self.df = datafile
        self.page_size = page_size
        self.generation = generation
        self.total_pages = total_pages
        self._cache: OrderedDict[int, Node] = OrderedDict()
        self._cache_max = cache_nodes
        self.is_stale = is_stale

    def invalidate(self, page: int) -> None:
        self._cache.pop(page, None)

    def clear(self) -> None:
        self._cache.clear()

    def use_file(self, datafile) -> None:
        """Read through another file object (a batch's overlay, or back): forget the cache."""
        self.df = datafile
        self._cache.clear()

    def follow(self, generation: int, total_pages: int) -> None:
        """Read the state a commit made current."""
        self.generation = generation
        self.total_pages = total_pages

    def node(self, page: int, tclass: int, path: str | None = None) -> Node:
        cache = self._cache
        n = cache.get(page)
        if n is not None:
            cache.move_to_end(page)
            return n
        n = self._read_node(page, tclass, path)
        cache[page] = n
        if len(cache) > self._cache_max:
            cache.popitem(last=False)
        return n

    def _read_node(self, page: int, tclass: int, path: str | None) -> Node:
        buf, leaf, level, nkeys, used, bad = self._checked_page(page, tclass, path)
        try:
            if leaf:
                keys, vals, pos = parse_leaf_body(buf, HDR_SIZE, HDR_SIZE + used, nkeys)
                node = Node(True, 0, keys, vals, page=page)
            else:
                keys, kids, counts, pos = parse_branch_body(buf, HDR_SIZE, HDR_SIZE + used, nkeys)
                node = Node(False, level, keys, kids=kids, counts=counts, page=page)
        except struct.error as e:
            raise bad(f"malformed node ({e})") from None
        if pos != HDR_SIZE + used:
            raise bad("node entries do not fill its used area")
        return node

    def leaf_page(self, page: int, tclass: int, path: str | None = None):
        """(page bytes, nkeys, end of the used area) of the leaf at ``page``, its header
        checked as ``node`` checks it but its entries left to the caller (leaf-at-a-time
        decoders, ``vosfmt.leafrows``); None if the page is a branch. Not cached: the
        callers read each leaf once."""
        buf, leaf, _level, nkeys, used, _bad = self._checked_page(page, tclass, path)
        return (buf, nkeys, HDR_SIZE + used) if leaf else None

    def _checked_page(self, page: int, tclass: int, path: str | None):
        """Read a node page and check its header: (buf, leaf, level, nkeys, used, bad), where
        ``bad(msg)`` makes the error for what the caller finds wrong in the entries."""
        ps = self.page_size
        off = page * ps
        name = "leaf_node"

        def bad(msg, cls=CorruptionError):
            if self.is_stale():
                cls, msg = StaleReadError, ("the shard was changed by a writer while being read "
                                            f"({msg}); read it again")
            return cls(msg, offset=off, structure=f"{name} of {record_name(tclass)} tree",
                       path=path, file=self.df.path)

        if page < 2 or page >= self.total_pages:
            raise bad(f"tree points at page {page}, outside the shard's {self.total_pages} pages")
        buf = self.df.read(off, ps)
        if len(buf) != ps:
            raise bad("node page is past the end of the file (truncated shard)")
        magic, crc, tc, flags, level, _pad, nkeys, used, gen, selfpage = HEADER.unpack_from(buf, 0)
        if magic != NODE_MAGIC:
            raise bad(f"bad node magic {magic:#010x}")
        if crc != page_crc(buf):
            raise bad("node checksum mismatch", ChecksumError)
        leaf = bool(flags & NodeFlags.LEAF)
        name = "leaf_node" if leaf else "branch_node"
        if selfpage != page:
            raise bad(f"node claims to be page {selfpage}")
        if tc != tclass:
            raise bad(f"node belongs to tree class {tc}, expected {tclass}")
        if gen > self.generation:
            raise bad(f"node written by generation {gen}, newer than the shard's "
                      f"{self.generation} (the shard changed while open?)")
        if HDR_SIZE + used > ps or leaf != (level == 0):
            raise bad("node header is inconsistent")
        if nkeys == 0:
            raise bad("empty node")
        return buf, leaf, level, nkeys, used, bad

    # --- whole-tree reads -----------------------------------------------------

    def embedded(self, root: TreeRoot, path: str | None = None) -> Node:
        return Node(True, 0, *self.embedded_entries(root, path))

    @staticmethod
    def embedded_entries(root: TreeRoot, path=None) -> tuple[list, list]:
        """(keys, values) of an embedded tree, checked against its descriptor."""
        embed = root.embed
        try:
            if root.count == 1:         # the common one-record tree: no entry loop
                klen, vlen = LEAF_ENTRY.unpack_from(embed, 0)
                kstart = LEAF_OVERHEAD
                if kstart + klen + vlen == len(embed):
                    return [embed[kstart:kstart + klen]], [embed[kstart + klen:]]
            keys, vals, pos = parse_leaf_body(embed, 0, len(embed), root.count)
        except struct.error as e:
            raise CorruptionError(f"malformed embedded tree ({e})",
                                  structure=f"embedded {record_name(root.tclass)} tree",
                                  path=path) from None
        if pos != len(embed):
            raise CorruptionError("embedded tree has trailing bytes",
                                  structure=f"embedded {record_name(root.tclass)} tree", path=path)
        return keys, vals

    def key_value_rows(self, root: TreeRoot, path: str | None = None) -> list | None:
        """The records of a one-leaf tree of key records each holding one inline value, as
        ``vosfmt.leafrows`` rows (a leaf at a time); None for any other tree or leaf (a
        damaged leaf page raises, as ``node`` does)."""
        if root.flags & RootFlags.EMBEDDED:
            return key_value_rows(root.embed, 0, len(root.embed), root.count)
        if not root.page or root.depth:
            return None
        leaf = self.leaf_page(root.page, root.tclass, path)
        if leaf is None or leaf[1] != root.count:
            return None
        buf, nkeys, end = leaf
        return key_value_rows(buf, HDR_SIZE, end, nkeys)

    def _root_node(self, root: TreeRoot, path):
        if root.flags & RootFlags.EMBEDDED:
            return self.embedded(root, path)
        if root.page == 0:
            return None
        n = self.node(root.page, root.tclass, path)
        if n.level != root.depth:
            raise CorruptionError(f"root node is at level {n.level}, descriptor says depth {root.depth}",
                                  offset=root.page * self.page_size,
                                  structure=f"{record_name(root.tclass)} tree", path=path)
        return n

    def _child(self, node: Node, i: int, tclass: int, path):
        child = self.node(node.kids[i], tclass, path)
        if child.level != node.level - 1:
            raise CorruptionError(f"child at level {child.level} under a level-{node.level} node",
                                  offset=node.kids[i] * self.page_size,
                                  structure=f"{record_name(tclass)} tree", path=path)
        return child

    def items(self, root: TreeRoot, start: bytes | None = None, path: str | None = None):
        """An iterator of (key, value) in key order, from the first key >= ``start``.

        Not a generator: a one-leaf tree (most trees) is a plain ``zip``, so
        listings pay no generator frame per record. A damaged root raises
        here; damage deeper raises when the iteration reaches it.
        """
        if root.flags & RootFlags.EMBEDDED:
            keys, vals = self.embedded_entries(root, path)
        else:
            node = self._root_node(root, path)
            if node is None:
                return iter(())
            if not node.leaf:
                return self._items(node, root.tclass, start, path)
            keys, vals = node.keys, node.vals
        if start is None:
            return zip(keys, vals)
        i = bisect_left(keys, start)
        return zip(keys[i:], vals[i:])

    def _items(self, node: Node, tclass: int, start, path):
        return chain.from_iterable(self._leaf_runs(node, tclass, start, path))

    def subtree_items(self, page: int, tclass: int, start: bytes | None = None,
                      path: str | None = None):
        """(key, value) in key order below the node at ``page``, from the first >= ``start``."""
        return self._items(self.node(page, tclass, path), tclass, start, path)

    def _leaf_runs(self, node: Node, tclass: int, start, path):
        """A ``zip`` of (key, value) per leaf, in key order; leaves are read as reached."""
        if node.leaf:
            if start is None:
                yield zip(node.keys, node.vals)
            else:
                i = bisect_left(node.keys, start)
                yield zip(node.keys[i:], node.vals[i:])
            return
        i = 0 if start is None else max(bisect_right(node.keys, start, 1) - 1, 0)
        for j in range(i, len(node.kids)):
            yield from self._leaf_runs(self._child(node, j, tclass, path), tclass,
                                       start if j == i else None, path)

    def get(self, root: TreeRoot, key: bytes, path: str | None = None):
        node = self._root_node(root, path)
        while node is not None and not node.leaf:
            node = self._child(node, max(bisect_right(node.keys, key, 1) - 1, 0), root.tclass, path)
        if node is None:
            return None
        i = bisect_left(node.keys, key)
        if i < len(node.keys) and node.keys[i] == key:
            return node.vals[i]
        return None

    def nth(self, root: TreeRoot, index: int, path: str | None = None):
        """The (key, value) at position ``index`` in key order, or None; O(depth)."""
        if index < 0 or index >= root.count:
            return None
        node = self._root_node(root, path)
        while node is not None and not node.leaf:
            for j, c in enumerate(node.counts):
                if index < c:
                    node = self._child(node, j, root.tclass, path)
                    break
                index -= c
            else:
                return None
        if node is None or index >= len(node.keys):
            return None
        return node.keys[index], node.vals[index]

    def index_of(self, root: TreeRoot, key: bytes, path: str | None = None):
        """Position of ``key`` in key order, or None if absent; O(depth)."""
        node = self._root_node(root, path)
        pos = 0
        while node is not None and not node.leaf:
            j = max(bisect_right(node.keys, key, 1) - 1, 0)
            pos += sum(node.counts[:j])
            node = self._child(node, j, root.tclass, path)
        if node is None:
            return None
        i = bisect_left(node.keys, key)
        if i < len(node.keys) and node.keys[i] == key:
            return pos + i
        return None

    def pages(self, root: TreeRoot, path: str | None = None) -> list[int]:
        """Every node page of the tree (for freeing and reachability); leaves are not read.
        Raises on damage: a page reached twice would be freed twice."""
        walk = TreeWalk(self, root, path, leaves=False)
        for damage in walk:
            raise damage.error
        return walk.pages
