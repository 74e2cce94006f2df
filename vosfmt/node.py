"""B+tree node pages: the parsed ``Node`` and the codec of its page.

Layout: ``vosfmt.layout.node_header`` then ``leaf_entry`` or ``branch_entry``
records. A branch entry's key is a lower bound of its child subtree; the
first entry's key is ignored by searches. The struct fast paths below are
derived from those declarations (``codec.fast``), so an entry's width is
written once, in layout.py.
"""
from __future__ import annotations

import struct

from . import layout as L
from .codec import fast
from .constants import NODE_MAGIC
from .pagecrc import seal_page

HEADER = fast(L.node_header)
HDR_SIZE = HEADER.size
LEAF_ENTRY = fast(L.leaf_entry)             # (klen, vlen) before the key and value bytes
BRANCH_ENTRY = fast(L.branch_entry)         # (klen, child, count) before the key bytes
LEAF_OVERHEAD = LEAF_ENTRY.size
BRANCH_OVERHEAD = BRANCH_ENTRY.size


class Node:
    """A parsed (or in-memory) node. Leaf: keys/vals. Branch: keys/kids/counts."""
    __slots__ = ("leaf", "level", "keys", "vals", "kids", "counts", "page", "dirty")

    def __init__(self, leaf: bool, level: int, keys, vals=None, kids=None, counts=None,
                 page: int | None = None, dirty: bool = False):
        self.leaf, self.level, self.keys = leaf, level, keys
        self.vals, self.kids, self.counts = vals, kids, counts
        self.page, self.dirty = page, dirty


def parse_leaf_body(buf, pos: int, end: int, nkeys: int):
    if type(buf) is not bytes:
        buf = bytes(buf)            # slices of bytes are the keys and values themselves
    keys, vals = [], []
    unpack = LEAF_ENTRY.unpack_from
    for _ in range(nkeys):
        klen, vlen = unpack(buf, pos)
        pos += LEAF_OVERHEAD
        kend = pos + klen
        vend = kend + vlen
        keys.append(buf[pos:kend])
        vals.append(buf[kend:vend])
        pos = vend
    if pos > end:                   # entries run one after another: checking the last suffices
        raise struct.error("leaf entry runs past the used area")
    return keys, vals, pos


def leaf_body(keys, vals) -> bytes:
    pack = LEAF_ENTRY.pack
    return b"".join(pack(len(k), len(v)) + k + v for k, v in zip(keys, vals))


def parse_branch_body(buf, pos: int, end: int, nkeys: int):
    keys, kids, counts = [], [], []
    unpack = BRANCH_ENTRY.unpack_from
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


def branch_body(keys, kids, counts) -> bytes:
    pack = BRANCH_ENTRY.pack
    return b"".join(pack(len(k), kid, c) + k for k, kid, c in zip(keys, kids, counts))


def build_page(page_size: int, page: int, tclass: int, level: int, flags: int,
               generation: int, nkeys: int, body: bytes) -> bytes:
    buf = bytearray(page_size)
    HEADER.pack_into(buf, 0, NODE_MAGIC, 0, tclass, flags, level, 0, nkeys, len(body),
                     generation, page)
    buf[HDR_SIZE:HDR_SIZE + len(body)] = body
    seal_page(buf)
    return bytes(buf)
