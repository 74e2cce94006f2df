"""Copy-on-write B+trees of fixed-size pages, keyed by collation bytes.

Reading (``TreeReader``) parses node pages on demand through a bounded
cache, verifying magic, checksum, self page number and shape. Writing
(``MutableTree``) loads only the nodes an edit touches into memory; at
commit ``flush`` writes every touched node to a fresh page (never over a
live one), splitting any node that outgrew a page and dropping emptied
ones, and returns the new root descriptor. A tree small enough is stored
embedded in its parent's record instead of in a page of its own (DAOS's
EMBED_FIRST idea), which keeps the millions of one-value trees cheap.

Node layout: ``vosfmt.layout.node_header`` then ``leaf_entry`` or
``branch_entry`` records. A branch entry's key is a lower bound of its child
subtree; the first entry's key is ignored by searches.
"""
from __future__ import annotations

import struct
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from itertools import chain

from . import layout as L
from .checksum import crc32c
from .codec import fast
from .constants import NODE_MAGIC, NodeFlags, RootFlags
from .errors import CorruptionError, StaleReadError
from .records import TreeRoot, record_name

_HDR = fast(L.node_header)
HDR_SIZE = _HDR.size
_LEAF_ENT = struct.Struct("<HH")
_BRANCH_ENT = struct.Struct("<HQQ")
LEAF_OVERHEAD = _LEAF_ENT.size
BRANCH_OVERHEAD = _BRANCH_ENT.size


class Node:
    """A parsed (or in-memory) node. Leaf: keys/vals. Branch: keys/kids/counts."""
    __slots__ = ("leaf", "level", "keys", "vals", "kids", "counts", "page", "dirty")

    def __init__(self, leaf: bool, level: int, keys, vals=None, kids=None, counts=None,
                 page: int | None = None, dirty: bool = False):
        self.leaf, self.level, self.keys = leaf, level, keys
        self.vals, self.kids, self.counts = vals, kids, counts
        self.page, self.dirty = page, dirty

    def size(self) -> int:
        return len(self.keys)


# --- page codec -------------------------------------------------------------------

def page_crc(buf) -> int:
    """crc32c of a page with its crc field (bytes 4..8) taken as absent."""
    mv = memoryview(buf)
    return crc32c(mv[8:], crc32c(mv[:4]))


def parse_leaf_body(buf, pos: int, end: int, nkeys: int):
    if type(buf) is not bytes:
        buf = bytes(buf)            # slices of bytes are the keys and values themselves
    keys, vals = [], []
    unpack = _LEAF_ENT.unpack_from
    for _ in range(nkeys):
        klen, vlen = unpack(buf, pos)
        pos += 4
        kend = pos + klen
        vend = kend + vlen
        keys.append(buf[pos:kend])
        vals.append(buf[kend:vend])
        pos = vend
    if pos > end:                   # entries run one after another: checking the last suffices
        raise struct.error("leaf entry runs past the used area")
    return keys, vals, pos


def leaf_body(keys, vals) -> bytes:
    pack = _LEAF_ENT.pack
    return b"".join(pack(len(k), len(v)) + k + v for k, v in zip(keys, vals))


def parse_branch_body(buf, pos: int, end: int, nkeys: int):
    keys, kids, counts = [], [], []
    unpack = _BRANCH_ENT.unpack_from
    for _ in range(nkeys):
        klen, child, count = unpack(buf, pos)
        pos += BRANCH_OVERHEAD
        kend = pos + klen
        if kend > end:
            raise struct.error("branch entry runs past the used area")
        keys.append(bytes(buf[pos:kend]))
        kids.append(child)
        counts.append(count)
        pos = kend
    return keys, kids, counts, pos


def build_page(page_size: int, page: int, tclass: int, level: int, flags: int,
               generation: int, nkeys: int, body: bytes) -> bytes:
    buf = bytearray(page_size)
    _HDR.pack_into(buf, 0, NODE_MAGIC, 0, tclass, flags, level, 0, nkeys, len(body),
                   generation, page)
    buf[HDR_SIZE:HDR_SIZE + len(body)] = body
    struct.pack_into("<I", buf, 4, page_crc(buf))
    return bytes(buf)


class TreeReader:
    """Reads node pages of one shard file with a bounded cache of parsed nodes."""

    def __init__(self, datafile, page_size: int, generation: int, total_pages: int,
                 cache_nodes: int = 512):
        self.df = datafile
        self.page_size = page_size
        self.generation = generation
        self.total_pages = total_pages
        self._cache: OrderedDict[int, Node] = OrderedDict()
        self._cache_max = cache_nodes
        self.is_stale = lambda: False    # set by the shard: has a newer state been committed?

    def invalidate(self, page: int) -> None:
        self._cache.pop(page, None)

    def clear(self) -> None:
        self._cache.clear()

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
        magic, crc, tc, flags, level, _pad, nkeys, used, gen, selfpage = _HDR.unpack_from(buf, 0)
        if magic != NODE_MAGIC:
            raise bad(f"bad node magic {magic:#010x}")
        if crc != page_crc(buf):
            from .errors import ChecksumError
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
        try:
            if leaf:
                keys, vals, pos = parse_leaf_body(buf, HDR_SIZE, HDR_SIZE + used, nkeys)
                node = Node(True, 0, keys, vals, page=page)
            else:
                keys, kids, counts, pos = parse_branch_body(buf, HDR_SIZE, HDR_SIZE + used, nkeys)
                node = Node(False, level, keys, kids=kids, counts=counts, page=page)
        except struct.error as e:
            raise bad(f"malformed node ({e})") from None
        if pos != HDR_SIZE + used or (nkeys == 0):
            raise bad("node entries do not fill its used area" if nkeys else "empty node")
        return node

    # --- whole-tree reads -----------------------------------------------------

    def embedded(self, root: TreeRoot, path: str | None = None) -> Node:
        return Node(True, 0, *self.embedded_entries(root, path))

    @staticmethod
    def embedded_entries(root: TreeRoot, path=None) -> tuple[list, list]:
        """(keys, values) of an embedded tree, checked against its descriptor."""
        embed = root.embed
        try:
            if root.count == 1:         # the common one-record tree: no entry loop
                klen, vlen = _LEAF_ENT.unpack_from(embed, 0)
                if 4 + klen + vlen == len(embed):
                    return [embed[4:4 + klen]], [embed[4 + klen:]]
            keys, vals, pos = parse_leaf_body(embed, 0, len(embed), root.count)
        except struct.error as e:
            raise CorruptionError(f"malformed embedded tree ({e})",
                                  structure=f"embedded {record_name(root.tclass)} tree",
                                  path=path) from None
        if pos != len(embed):
            raise CorruptionError("embedded tree has trailing bytes",
                                  structure=f"embedded {record_name(root.tclass)} tree", path=path)
        return keys, vals

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

    def pages(self, root: TreeRoot, path: str | None = None):
        """Yield every node page of the tree (for freeing and reachability)."""
        if root.flags & RootFlags.EMBEDDED or root.page == 0:
            return
        stack = [(root.page, root.depth)]
        while stack:
            page, level = stack.pop()
            yield page
            if level:
                node = self.node(page, root.tclass, path)
                stack.extend((k, level - 1) for k in node.kids)


class PageWriter:
    """What MutableTree.flush needs from the transaction: pages and a generation."""

    def alloc_page(self) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    def free_page(self, page: int) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def write_page(self, page: int, data: bytes) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class MutableTree:
    """An editable view of one tree inside a transaction (copy-on-write)."""

    EMBED_MAX = 1024

    def __init__(self, reader: TreeReader, root: TreeRoot, path: str | None = None):
        self.reader = reader
        self.desc = root
        self.tclass = root.tclass
        self.key_kind = root.key_kind
        self.path = path
        self.count = root.count
        self._root: Node | None = None
        self.changed = False

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
        self.changed = True
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
        self.changed = True
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
                yield from self.reader._items(self.reader.node(k, self.tclass, self.path),
                                              self.tclass, start if j == i else None, self.path)

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
            if len(body) <= min(budget, self.EMBED_MAX):
                if root.page:
                    w.free_page(root.page)
                d.count, d.flags, d.embed = len(root.keys), RootFlags.EMBEDDED, body
                return d
        pieces = self._flush_node(root, w, b"")
        level = root.level
        while len(pieces) > 1:
            level += 1
            pieces = self._write_branches(pieces, level, w)
        _key, d.page, d.count = pieces[0]
        d.depth = level
        return d

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
            return self._pack(entries, 0, w, leaf=True, first_key=sep)
        entries = []
        for k, kid, cnt in zip(node.keys, node.kids, node.counts):
            if isinstance(kid, Node):
                for j, (pk, pg, pc) in enumerate(self._flush_node(kid, w, k)):
                    entries.append((k if j == 0 else pk, pg, pc))
            else:
                entries.append((k, kid, cnt))
        return self._pack(entries, node.level, w, leaf=False, first_key=sep)

    def _count_of(self, node: Node) -> int:
        return len(node.keys) if node.leaf else sum(node.counts)

    def _write_branches(self, pieces, level: int, w: PageWriter):
        return self._pack(pieces, level, w, leaf=False, first_key=pieces[0][0])

    def _pack(self, entries, level: int, w: PageWriter, *, leaf: bool, first_key: bytes):
        """Cut entries into page-sized nodes, write them; return their pieces."""
        ps = self.reader.page_size
        cap = ps - HDR_SIZE
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
                pack = _BRANCH_ENT.pack
                body = b"".join(pack(len(k), pg, c) + k for k, pg, c in g)
                count = sum(c for _, _, c in g)
            w.write_page(page, build_page(ps, page, self.tclass, level, flags, w.generation,
                                          len(g), body))
            pieces.append((first_key if gi == 0 else g[0][0], page, count))
        return pieces
